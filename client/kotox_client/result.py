"""Classification results shaped like a Hugging Face `pipeline` result, plus the ensemble's probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kotox_client import contract
from kotox_client.errors import KotoxError
from kotox_client.request import Deployment


@dataclass(frozen=True)
class Classification:
    """One comment's verdict: `label` with its probability `score` (as a HF `pipeline` gives them), the fused
    probability of label 1 (`prob`, served as `prob_name` and readable under that name: `toxic_prob` on the toxicity
    deployment, `positive_prob` on a sentiment one) and each member's probability of label 1."""

    label: str
    score: float
    prob: float
    member_probs: dict[str, float]
    prob_name: str = contract.OUTPUT_TOXIC_PROB

    def __getattr__(self, name: str) -> float:
        """The probability under its served name (`result.toxic_prob`, `result.positive_prob`)."""
        if name != "prob_name" and name == self.prob_name:
            return self.prob
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} (its probability is {self.prob_name})")

    def to_dict(self) -> dict:
        """Plain dict, ready for JSON: label, score, the probability under its served name, member probabilities."""
        return {"label": self.label, "score": self.score, self.prob_name: self.prob,
                "member_probs": dict(self.member_probs)}


def parse_outputs(labels: np.ndarray, probs: np.ndarray, member_probs: np.ndarray,
                  deployment: Deployment) -> list[Classification]:
    """Turn the ensemble's output tensors into one Classification per row."""
    results = []
    for label, prob, row in zip(labels.reshape(-1), probs.reshape(-1), member_probs):
        label = label.decode("utf-8") if isinstance(label, bytes) else str(label)
        prob = float(prob)
        results.append(Classification(
            label=label,
            score=prob if label == deployment.labels[1] else 1.0 - prob,
            prob=prob,
            member_probs={name: float(p) for name, p in zip(deployment.members, row)},
            prob_name=deployment.outputs[1],
        ))
    return results


def parse_answer(answer, deployment: Deployment) -> list[Classification]:
    """Classifications from a tritonclient InferResult of the ensemble; KotoxError when it lacks an output."""
    tensors = [answer.as_numpy(name) for name in deployment.outputs]
    missing = [name for name, tensor in zip(deployment.outputs, tensors) if tensor is None]
    if missing:
        raise KotoxError(f"the server's answer lacks {missing}: with the response cache on (--cache-bytes), an answer "
                         "cached for a client that asked for fewer outputs is served to everyone who sends the same "
                         "text (Triton keys its cache on the inputs only); every client must ask for all outputs")
    return parse_outputs(*tensors, deployment)
