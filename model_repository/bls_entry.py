"""Triton Python model, the served entry of BLS builds: tokenizer.py's encoding of the whole call, one request to the
members' ensemble for all its rows, fusion.py's answer per request; the two files are copied beside this one."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

import fusion
import tokenizer


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        self.members_model = params["members_model"]
        self.tokenizer, self.fusion = tokenizer.TritonPythonModel(), fusion.TritonPythonModel()
        self.tokenizer.initialize(args)
        self.fusion.initialize(args)
        self.logits = [f"{m}_logits" for m in self.fusion.members]

    def batch(self, encoded: list[dict], counts: list[int]) -> list:
        """The requests' arrays (`counts` rows each) as one batch, token arrays padded to the widest request's width
        (members read the first row's schedule, as for any request)."""
        width = max(arrays["input_ids"].shape[1] for arrays in encoded)
        tensors = []
        for name in encoded[0]:
            if name not in tokenizer.OUTPUTS:
                tensors.append(pb_utils.Tensor(name, np.concatenate([arrays[name] for arrays in encoded])))
                continue
            batch = np.full((sum(counts), width), self.tokenizer.pad_id if name == "input_ids" else 0, np.int64)
            row = 0
            for arrays, count in zip(encoded, counts):  # slice copies: np.pad took a third of the entry's CPU
                batch[row:row + count, :arrays[name].shape[1]] = arrays[name]
                row += count
            tensors.append(pb_utils.Tensor(name, batch))
        return tensors

    def execute(self, requests):
        encoded = self.tokenizer.encode(requests)
        ready = [arrays for arrays in encoded if isinstance(arrays, dict)]
        answers = iter(())
        if ready:  # one synchronous call: 2.51's async_exec and concurrent exec() crash the server under load
            counts = [arrays["input_ids"].shape[0] for arrays in ready]
            reply = pb_utils.InferenceRequest(model_name=self.members_model, requested_output_names=self.logits,
                                              inputs=self.batch(ready, counts)).exec()
            if reply.has_error():  # a new TritonError per response: 2.51 crashes on one shared by several
                error = reply.error()
                encoded = [pb_utils.TritonError(error.message(), error.code()) if isinstance(arrays, dict) else arrays
                           for arrays in encoded]
            else:
                logits = np.stack([pb_utils.get_output_tensor_by_name(reply, n).as_numpy() for n in self.logits], 1)
                answers = iter(self.fusion.answers(logits, counts))
        return [pb_utils.InferenceResponse(error=arrays) if isinstance(arrays, pb_utils.TritonError)
                else pb_utils.InferenceResponse(next(answers)) for arrays in encoded]
