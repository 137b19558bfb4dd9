"""Classification results shaped like a Hugging Face `pipeline` result, plus the ensemble's probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from kotox_client import contract


@dataclass(frozen=True)
class Classification:
    """One comment's verdict: `label` with its probability `score`, the fused and per-member toxic probabilities."""

    label: str
    score: float
    toxic_prob: float
    member_probs: dict[str, float]

    def to_dict(self) -> dict:
        """Plain dict, ready for JSON."""
        return asdict(self)


def parse_outputs(labels: np.ndarray, toxic_prob: np.ndarray, member_probs: np.ndarray,
                  members: Sequence[str], toxic_label: str) -> list[Classification]:
    """Turn the ensemble's output tensors into one Classification per row."""
    results = []
    for label, prob, probs in zip(labels.reshape(-1), toxic_prob.reshape(-1), member_probs):
        label = label.decode("utf-8") if isinstance(label, bytes) else str(label)
        prob = float(prob)
        results.append(Classification(
            label=label,
            score=prob if label == toxic_label else 1.0 - prob,
            toxic_prob=prob,
            member_probs={name: float(p) for name, p in zip(members, probs)},
        ))
    return results


def parse_answer(answer, members: Sequence[str], toxic_label: str) -> list[Classification]:
    """Classifications from a tritonclient InferResult of the ensemble."""
    return parse_outputs(*(answer.as_numpy(name) for name in contract.OUTPUTS), members, toxic_label)
