"""Fusion arithmetic of the served fusion model, imported with the server's real `triton_python_backend_utils`."""

import importlib.util
import sys

import numpy as np
import pytest

from kotox_build.repository import PYTHON_MODELS
from kotox_build.spec import load_spec
from kotox_server.binary import find_server


@pytest.fixture(scope="module")
def fuse():
    sys.path.insert(0, str(find_server().backends / "python"))
    spec = importlib.util.spec_from_file_location("kotox_fusion", PYTHON_MODELS / "fusion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fuse


@pytest.fixture(scope="module")
def design():
    spec = load_spec()
    return np.asarray(spec.weights), spec.threshold


def logits_for(probs: np.ndarray) -> np.ndarray:
    """Two-class logits whose softmax gives `probs` for class 1."""
    return np.stack([np.zeros_like(probs), np.log(probs) - np.log1p(-probs)], axis=-1)


def test_weighted_average_of_member_probabilities(fuse, design):
    weights, threshold = design
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.01, 0.99, size=(100, len(weights)))
    member_probs, toxic_prob, is_toxic = fuse(logits_for(probs), weights, threshold)
    np.testing.assert_allclose(member_probs, probs, atol=1e-12)
    np.testing.assert_allclose(toxic_prob, (probs * weights).sum(axis=1), atol=1e-12)
    np.testing.assert_array_equal(is_toxic, toxic_prob > threshold)


def test_exactly_threshold_is_clean(fuse, design):
    weights, threshold = design
    logits = np.zeros((1, len(weights), 2))  # every member at exactly 0.5, so the fused probability is 0.5
    _, toxic_prob, is_toxic = fuse(logits, weights, threshold)
    assert threshold == 0.5 and toxic_prob[0] == 0.5 and not is_toxic[0]


def test_just_above_threshold_is_toxic(fuse, design):
    weights, threshold = design
    probs = np.full((1, len(weights)), threshold + 1e-9)
    _, toxic_prob, is_toxic = fuse(logits_for(probs), weights, threshold)
    assert toxic_prob[0] > threshold and is_toxic[0]


def test_extreme_logits_stay_finite(fuse, design):
    weights, threshold = design
    logits = np.array([[[1e4, -1e4]] * len(weights), [[-1e4, 1e4]] * len(weights)])
    member_probs, toxic_prob, is_toxic = fuse(logits, weights, threshold)
    assert np.isfinite(member_probs).all()
    np.testing.assert_allclose(toxic_prob, [0.0, 1.0])
    assert list(is_toxic) == [False, True]
