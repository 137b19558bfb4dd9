"""Triton Python model: members' logits fused into the probability of label 1 (weighted average, or the build's
stacked logistic regression over the members' log-odds), thresholded into a label."""

import functools
import json

import numpy as np
import triton_python_backend_utils as pb_utils


def member_probabilities(logits: np.ndarray) -> np.ndarray:
    """Member probabilities of label 1 [B, N] from logits [B, N, 2]: softmax(logits)[..., 1], stable for any logits."""
    logits = logits.astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * (logits[..., 1] - logits[..., 0])))


def fuse(logits: np.ndarray, weights: np.ndarray, threshold: float):
    """Member probabilities [B, N], fused probability of label 1 [B] and label-1 flags [B] from logits [B, N, 2]."""
    member_probs = member_probabilities(logits)
    fused = member_probs @ weights
    return member_probs, fused, fused > threshold


def stacked(logits: np.ndarray, coefficients: np.ndarray, intercept: float, threshold: float):
    """As `fuse`, with fused probability = sigmoid(intercept + coefficients . member log-odds)."""
    logits = logits.astype(np.float64)
    score = intercept + (logits[..., 1] - logits[..., 0]) @ coefficients
    fused = 0.5 * (1.0 + np.tanh(0.5 * score))
    return member_probabilities(logits), fused, fused > threshold


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config["parameters"].items()}
        self.output_names = [o["name"] for o in config["output"]]  # label, label 1's probability, member probabilities
        self.members = json.loads(params["members"])
        self.labels = np.asarray([s.encode() for s in json.loads(params["labels"])], dtype=np.object_)
        threshold = float(params["threshold"])
        if params["fusion"] == "stacked":
            self.combine = functools.partial(stacked, coefficients=np.asarray(json.loads(params["coefficients"])),
                                             intercept=float(params["intercept"]), threshold=threshold)
        else:
            self.combine = functools.partial(fuse, weights=np.asarray(json.loads(params["weights"]), np.float64),
                                             threshold=threshold)

    def answers(self, logits: np.ndarray, counts: list[int]) -> list[list]:
        """Each request's output tensors from the logits [rows, members, 2] of all requests, `counts` rows each."""
        member_probs, fused, label_1 = self.combine(logits)
        labels = self.labels[label_1.astype(np.int64)]
        splits = np.cumsum(counts)[:-1]
        label_name, prob_name, members_name = self.output_names
        return [[pb_utils.Tensor(label_name, lab.reshape(-1, 1)),
                 pb_utils.Tensor(prob_name, prob.reshape(-1, 1).astype(np.float32)),
                 pb_utils.Tensor(members_name, mp.astype(np.float32))]
                for lab, prob, mp in zip(np.split(labels, splits), np.split(fused, splits),
                                       np.split(member_probs, splits))]

    def execute(self, requests):
        per_request = [[pb_utils.get_input_tensor_by_name(r, f"{m}_logits").as_numpy() for m in self.members]
                       for r in requests]
        logits = np.stack([np.concatenate(col) for col in zip(*per_request)], axis=1)  # [batch, members, 2]
        counts = [arrays[0].shape[0] for arrays in per_request]
        return [pb_utils.InferenceResponse(tensors) for tensors in self.answers(logits, counts)]
