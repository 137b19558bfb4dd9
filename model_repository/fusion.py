"""Triton Python model: weighted average of the members' toxic probabilities, thresholded into a label."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


def fuse(logits: np.ndarray, weights: np.ndarray, threshold: float):
    """Member toxic probabilities [B, N], fused probability [B] and toxic flags [B] from logits [B, N, 2]."""
    logits = logits.astype(np.float64)
    member_probs = 0.5 * (1.0 + np.tanh(0.5 * (logits[..., 1] - logits[..., 0])))  # softmax(logits)[..., 1]
    toxic_prob = member_probs @ weights
    return member_probs, toxic_prob, toxic_prob > threshold


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"])["parameters"].items()}
        self.members = json.loads(params["members"])
        self.weights = np.asarray(json.loads(params["weights"]), np.float64)
        self.labels = np.asarray([s.encode() for s in json.loads(params["labels"])], dtype=np.object_)
        self.threshold = float(params["threshold"])

    def execute(self, requests):
        per_request = [[pb_utils.get_input_tensor_by_name(r, f"{m}_logits").as_numpy() for m in self.members]
                       for r in requests]
        logits = np.stack([np.concatenate(col) for col in zip(*per_request)], axis=1)  # [batch, members, 2]
        member_probs, toxic_prob, is_toxic = fuse(logits, self.weights, self.threshold)
        labels = self.labels[is_toxic.astype(np.int64)]
        splits = np.cumsum([arrays[0].shape[0] for arrays in per_request])[:-1]
        return [
            pb_utils.InferenceResponse([
                pb_utils.Tensor("label", lab.reshape(-1, 1)),
                pb_utils.Tensor("toxic_prob", tp.reshape(-1, 1).astype(np.float32)),
                pb_utils.Tensor("member_probs", mp.astype(np.float32)),
            ])
            for lab, tp, mp in zip(np.split(labels, splits), np.split(toxic_prob, splits), np.split(member_probs, splits))
        ]
