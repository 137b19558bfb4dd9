"""Triton Python model that ignores its inputs and answers zeros of its configured outputs' shapes and types.

Swapped in for every step of a built repository, it gives the trivial ensemble that prices Triton's own plumbing.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input = config["input"][0]["name"]
        self.outputs = [(o["name"], pb_utils.triton_string_to_numpy(o["data_type"]), [max(d, 1) for d in o["dims"]])
                        for o in config["output"]]

    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, self.input).as_numpy().shape[0]
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor(name, np.full([batch, *dims], b"" if dtype == np.object_ else 0, dtype=dtype))
                for name, dtype, dims in self.outputs]))
        return responses
