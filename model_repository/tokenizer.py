"""Triton Python model: UTF-8 comments in, token ids out; every request of a call encoded in one Rust batch."""

import bisect
import json
import os
import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer, normalizers

from refusals import Refusals

OUTPUTS = ("input_ids", "attention_mask", "token_type_ids")
SHED_AT = 0.5  # while a member's requests wait longer than this share of the queue budget, new ones are refused
WINDOW_CHARS_PER_TOKEN = 16  # first look at 16 characters per kept token; grown 4x while that cannot decide


def padded_width(longest: int, widths: list[int]) -> int:
    """The smallest of `widths` (ascending) that holds `longest` tokens; `longest` itself when `widths` is empty."""
    return widths[bisect.bisect_left(widths, longest)] if widths else longest


def head(text: str, counter: Tokenizer, kept: int, window: int) -> str:
    """The shortest prefix of `text` (window grown 4x) whose first `kept` tokens are the whole text's: they end in a
    word before the prefix's last, possibly cut, word. `counter` must not truncate."""
    while len(text) > window:
        words = [w for w in counter.encode(text[:window], add_special_tokens=False).word_ids if w is not None]
        if len(words) > kept and words[kept - 1] < words[-1]:
            return text[:window]
        window *= 4
    return text


def member_delays(prefix: str) -> list[np.memmap]:
    """The members' delay files (paths starting `prefix`), mapped; one being created or removed meanwhile is skipped."""
    found = []
    for path in Path(prefix).parent.glob(Path(prefix).name + "*"):
        try:
            found.append(np.memmap(path, np.int64, "r", shape=(1,)))
        except (OSError, ValueError):
            continue
    return found


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config["parameters"].items()}
        self.budget_ns = int(params["queue_timeout_ms"]) * 1_000_000
        self.stamps = params["stamps_deadline"] == "true"
        self.schedule = params["schedule_tensor"]  # [tokenized at, deadline]: past the deadline a member drops the row
        self.delay_files = params["delay_files"].format(server=os.getppid())
        self.delays, self.delays_found_ns = [], 0
        self.refused = Refusals(params["refusals_metric"], args["model_name"])
        self.overloaded = (f"the ensemble is overloaded: its members' requests wait over {SHED_AT:.0%} of the queue "
                           "budget (queue_timeout_ms); retry later")
        folder = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.normalizer = normalizers.Sequence(  # NFD Hangul (jamo) reads as the NFC syllables it spells
            [normalizers.NFC()] + ([self.tokenizer.normalizer] if self.tokenizer.normalizer else []))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.counter = Tokenizer.from_str(self.tokenizer.to_str())  # untruncated: where a long comment may be cut
        max_tokens = int(params["max_tokens"])
        self.tokenizer.enable_truncation(max_tokens)
        self.kept = max_tokens - self.tokenizer.post_processor.num_special_tokens_to_add(False)
        self.window = WINDOW_CHARS_PER_TOKEN * max_tokens
        self.max_bytes = int(params["max_comment_bytes"])
        self.pad_id = int(params["pad_id"])
        self.widths = sorted(json.loads(params["pad_widths"]))

    def budget(self, request) -> int:
        """Nanoseconds the members may still start this request in: the queue budget or the caller's shorter timeout."""
        timeout_us = request.timeout()
        return min(self.budget_ns, timeout_us * 1000) if timeout_us else self.budget_ns

    def shedding(self, now: int) -> bool:
        """True while a member works on a call whose oldest request waited over SHED_AT of the queue budget."""
        if now - self.delays_found_ns > 1_000_000_000:  # members come, go and reload: look again every second
            self.delays = member_delays(self.delay_files)
            self.delays_found_ns = now
        return any(delay[0] > SHED_AT * self.budget_ns for delay in self.delays)

    def decode(self, rows: np.ndarray) -> list[str]:
        """A request's rows as text cut to what can change the answer; ValueError names a row that cannot be read."""
        texts = []
        for i, row in enumerate(rows):
            raw = row if isinstance(row, bytes) else str(row).encode()
            if len(raw) > self.max_bytes:
                raise ValueError(f"TEXT row {i} is {len(raw):,} bytes; the limit is {self.max_bytes:,} bytes "
                                 f"(max_comment_bytes): only the first {self.kept} tokens are read")
            try:
                texts.append(head(raw.decode("utf-8"), self.counter, self.kept, self.window))
            except UnicodeDecodeError as err:
                raise ValueError(f"TEXT row {i} must be UTF-8 text: {err}") from None
        return texts

    def encode(self, requests) -> list:
        """Each request's token arrays (name -> array), or the TritonError that refuses it."""
        if self.stamps and self.shedding(time.monotonic_ns()):  # refused at once, before any work
            self.refused.count("overload", len(requests))
            return [pb_utils.TritonError(self.overloaded, pb_utils.TritonError.UNAVAILABLE) for _ in requests]
        texts, counts, errors = [], [], []
        for request in requests:
            try:
                decoded = self.decode(pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1))
                errors.append(None)
            except ValueError as err:
                decoded = []
                errors.append(pb_utils.TritonError(str(err), pb_utils.TritonError.INVALID_ARG))
                self.refused.count("bad_input", 1)
            texts.extend(decoded)
            counts.append(len(decoded))
        encodings = iter(self.tokenizer.encode_batch(texts))
        now = time.monotonic_ns()
        encoded = []
        for request, count, error in zip(requests, counts, errors):
            if error is not None:
                encoded.append(error)
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
            if self.stamps:
                arrays[self.schedule] = np.tile(np.array([now, now + self.budget(request)], np.int64), (count, 1))
            encoded.append(arrays)
        return encoded

    def execute(self, requests):
        return [pb_utils.InferenceResponse(error=arrays) if isinstance(arrays, pb_utils.TritonError)
                else pb_utils.InferenceResponse([pb_utils.Tensor(k, v) for k, v in arrays.items()])
                for arrays in self.encode(requests)]
