"""Triton Python model: one ensemble member run by ONNX Runtime, for servers without the ONNX Runtime backend."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params["intra_op_thread_count"])
        options.inter_op_num_threads = 1
        model = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in INPUTS} for r in requests]
        width = max(f["input_ids"].shape[1] for f in feeds)
        batch = {n: np.concatenate([np.pad(f[n], ((0, 0), (0, width - f[n].shape[1]))) for f in feeds]) for n in INPUTS}
        logits = self.session.run(["logits"], batch)[0]
        splits = np.cumsum([f["input_ids"].shape[0] for f in feeds])[:-1]
        return [pb_utils.InferenceResponse([pb_utils.Tensor("logits", part)]) for part in np.split(logits, splits)]
