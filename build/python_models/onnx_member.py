"""Triton Python model: one ensemble member run by ONNX Runtime, for servers without the ONNX Runtime backend."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def length_groups(lengths: np.ndarray, max_waste: float) -> list[np.ndarray]:
    """Row indices grouped by similar length, so padding each group to its longest wastes at most `max_waste`."""
    order = np.argsort(lengths, kind="stable")
    groups, start, total = [], 0, 0
    for end, row in enumerate(order):
        total += lengths[row]
        if (end - start + 1) * lengths[row] > (1 + max_waste) * total:  # sorted, so this row is the longest
            groups.append(order[start:end])
            start, total = end, lengths[row]
    groups.append(order[start:])
    return groups


def merge(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The requests' [rows, tokens] inputs stacked into one batch, zero-padded on the right (np.pad is slow)."""
    if len(feeds) == 1:
        return feeds[0]
    width = max(f["input_ids"].shape[1] for f in feeds)
    batch = {n: np.zeros((sum(f["input_ids"].shape[0] for f in feeds), width), np.int64) for n in INPUTS}
    row = 0
    for f in feeds:
        rows, cols = f["input_ids"].shape
        for n in INPUTS:
            batch[n][row:row + rows, :cols] = f[n]
        row += rows
    return batch


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params["intra_op_thread_count"])
        options.inter_op_num_threads = 1
        self.max_waste = float(params["max_padding_waste"])
        model = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in INPUTS} for r in requests]
        batch = merge(feeds)
        lengths = batch["attention_mask"].sum(axis=1)
        logits = np.empty((len(lengths), 2), np.float32)
        for rows in length_groups(lengths, self.max_waste):
            cols = int(lengths[rows].max())
            logits[rows] = self.session.run(["logits"], {n: batch[n][rows, :cols] for n in INPUTS})[0]
        splits = np.cumsum([f["input_ids"].shape[0] for f in feeds])[:-1]
        return [pb_utils.InferenceResponse([pb_utils.Tensor("logits", part)]) for part in np.split(logits, splits)]
