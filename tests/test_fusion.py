"""Arithmetic of the served Python models, imported with the server's real `triton_python_backend_utils`."""

import numpy as np
import pytest

from conftest import python_model
from kotox_build.spec import load_spec


@pytest.fixture(scope="module")
def fuse():
    return python_model("fusion.py").fuse


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


@pytest.mark.parametrize("run_cost", [0.0, 25.0, 1e9])
def test_length_groups_cover_rows_and_pad_less_than_a_run_costs(run_cost):
    length_groups = python_model("onnx_member.py").length_groups
    lengths = np.random.default_rng(1).integers(3, 256, size=200)
    groups = length_groups(lengths, run_cost)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    for rows in groups:
        assert len(rows) * lengths[rows].max() - lengths[rows].sum() <= run_cost  # padding tokens in the group
    if run_cost == 0:
        assert len(groups) == len(set(lengths.tolist()))  # no padding at all: one group per distinct length
    if run_cost == 1e9:
        assert len(groups) == 1  # runs so dear that padding everything to the longest is cheaper
    assert len(length_groups(np.full(50, 13), run_cost)) == 1  # equal lengths never split


def test_member_merges_requests_of_different_widths_in_order():
    merge = python_model("onnx_member.py").merge
    short = {n: np.array([[7, 8]]) for n in ("input_ids", "attention_mask", "token_type_ids")}
    wide = {n: np.array([[1, 2, 3], [4, 5, 6]]) for n in ("input_ids", "attention_mask", "token_type_ids")}
    batch = merge([short, wide])
    for n in short:
        np.testing.assert_array_equal(batch[n], [[7, 8, 0], [1, 2, 3], [4, 5, 6]])
    assert merge([wide]) is wide  # one request passes through untouched


def test_tokenizer_pads_to_the_smallest_width_that_holds_the_longest_row():
    padded_width = python_model("tokenizer.py").padded_width
    widths = [16, 32, 64, 256]
    assert [padded_width(n, widths) for n in (1, 16, 17, 64, 65, 256)] == [16, 16, 32, 64, 256, 256]
    assert padded_width(17, []) == 17
