"""Triton Python model: UTF-8 comments in, token ids out; every request of a call encoded in one Rust batch."""

import bisect
import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer, normalizers

OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")


def padded_width(longest: int, widths: list[int]) -> int:
    """The smallest of `widths` (ascending) that holds `longest` tokens; `longest` itself when `widths` is empty."""
    return widths[bisect.bisect_left(widths, longest)] if widths else longest


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        folder = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.normalizer = normalizers.Sequence(  # NFD Hangul (jamo) reads as the NFC syllables it spells
            [normalizers.NFC()] + ([self.tokenizer.normalizer] if self.tokenizer.normalizer else []))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(params["max_tokens"]))
        self.pad_id = int(params["pad_id"])
        self.widths = sorted(json.loads(params["pad_widths"]))

    def execute(self, requests):
        texts, counts, errors = [], [], []
        for request in requests:
            rows = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)
            try:
                decoded = [row.decode("utf-8") if isinstance(row, bytes) else str(row) for row in rows]
                errors.append(None)
            except UnicodeDecodeError as err:
                decoded = []
                errors.append(pb_utils.TritonError(f"TEXT must be UTF-8 text: {err}", pb_utils.TritonError.INVALID_ARG))
            texts.extend(decoded)
            counts.append(len(decoded))
        encodings = iter(self.tokenizer.encode_batch(texts))
        responses = []
        for count, error in zip(counts, errors):
            if error is not None:
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            encs = [next(encodings) for _ in range(count)]
            width = padded_width(max(len(e.ids) for e in encs), self.widths)
            arrays = {name: np.zeros((count, width), np.int64) for name in OUTPUTS}
            arrays["input_ids"].fill(self.pad_id)
            for row, enc in enumerate(encs):
                n = len(enc.ids)
                arrays["input_ids"][row, :n] = enc.ids
                arrays["attention_mask"][row, :n] = enc.attention_mask
                arrays["token_type_ids"][row, :n] = enc.type_ids
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor(k, v) for k, v in arrays.items()]))
        return responses
