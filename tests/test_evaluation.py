"""The report's scores: binary_scores against scikit-learn's, and the paired bootstrap behind "beats baseline"."""

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from kotox_build.evaluation import binary_scores, bootstrap_wins


def test_binary_scores_match_scikit_learn():
    rng = np.random.default_rng(1)
    labels, predicted = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    scores = binary_scores(labels, predicted)
    assert scores["f1"] == f1_score(labels, predicted) and scores["accuracy"] == accuracy_score(labels, predicted)
    assert scores["precision"] == precision_score(labels, predicted)
    assert scores["recall"] == recall_score(labels, predicted)
    assert (scores["fp"], scores["fn"]) == (int(((predicted == 1) & (labels == 0)).sum()),
                                            int(((predicted == 0) & (labels == 1)).sum()))


def test_bootstrap_counts_no_win_for_a_tie_and_every_win_for_a_clear_one():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 300)
    noisy = np.where(rng.random(300) < 0.3, 1 - labels, labels)
    wins = bootstrap_wins(labels, {"same": noisy, "perfect": labels, "baseline": noisy}, "baseline", 500)
    assert set(wins) == {"same", "perfect"}
    assert wins["same"] == {"f1": 0.0, "accuracy": 0.0, "both": 0.0}
    assert wins["perfect"] == {"f1": 1.0, "accuracy": 1.0, "both": 1.0}


def test_bootstrap_keeps_f1_and_accuracy_apart():
    labels = np.array([0] * 700 + [1] * 300)  # all-clean beats all-toxic on accuracy and never on F1
    wins = bootstrap_wins(labels, {"clean": np.zeros(1000), "baseline": np.ones(1000)}, "baseline", 500)
    assert wins["clean"] == {"f1": 0.0, "accuracy": 1.0, "both": 0.0}


def test_bootstrap_is_paired_and_seeded_a_one_row_edge_wins_when_that_row_is_drawn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 800)
    baseline = np.where(rng.random(800) < 0.3, 1 - labels, labels)
    wrong = np.flatnonzero(baseline != labels)
    edge = baseline.copy()
    edge[wrong[:1]] = labels[wrong[:1]]  # one row better than the baseline, every other row the same
    wins = bootstrap_wins(labels, {"edge": edge, "baseline": baseline}, "baseline", 2000, seed=5)
    assert wins == bootstrap_wins(labels, {"edge": edge, "baseline": baseline}, "baseline", 2000, seed=5)
    drawn = 1 - (1 - 1 / 800) ** 800  # it wins exactly when its one better row is drawn (about 63 %), else ties
    assert wins["edge"]["f1"] == wins["edge"]["accuracy"] == wins["edge"]["both"]
    assert abs(wins["edge"]["accuracy"] - drawn) < 0.04
