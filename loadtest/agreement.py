"""How closely a quantised ensemble answers like its fp32 original: labels (fused and per member) and probability drift."""

from __future__ import annotations

import numpy as np


def agreement(fp32_members: np.ndarray, members: np.ndarray, fp32_fused: np.ndarray, fused: np.ndarray,
              threshold: float) -> dict[str, float]:
    """Label agreement and largest drift of member probabilities [B, N] and fused probabilities [B] against fp32."""
    return {
        "label_agreement": float(np.mean((fused > threshold) == (fp32_fused > threshold))),
        "member_label_agreement": float(np.mean((members > threshold) == (fp32_members > threshold))),
        "max_drift_fused": float(np.abs(fused - fp32_fused).max()),
        "max_drift_member": float(np.abs(members - fp32_members).max()),
    }
