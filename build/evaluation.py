"""Scores of a binary toxic-comment classifier, the character n-gram baseline the demo members must beat, and the
n-gram teacher they distil."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# TF-IDF (sublinear tf, min_df 2) + logistic regression settings: (analyzer, n-gram range, C).
# The baseline: the strongest found on BEEP! dev (char_wb n-grams; C from 1, 3, 10, 30).
BASELINE_SETTINGS = ("char_wb", (2, 4), 10)
# The teacher: the best of ten by 5-fold cross-fitted AUC on the training rows (evaluation sets unseen).
TEACHER_SETTINGS = ("char", (1, 4), 3)


def _describe(analyzer: str, ngrams: tuple[int, int], c: float) -> str:
    """How a report names a TF-IDF + logistic regression of these settings."""
    return f"TF-IDF {analyzer} {ngrams[0]}-{ngrams[1]}-grams (sublinear tf, min_df 2) + LogisticRegression(C={c})"


BASELINE = _describe(*BASELINE_SETTINGS)
TEACHER = _describe(*TEACHER_SETTINGS)


def binary_scores(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float | int]:
    """F1, precision and recall of the toxic class (1), accuracy, and false-positive / false-negative counts."""
    y, p = np.asarray(labels), np.asarray(predictions)
    tp, fp, fn = (int(((p == 1) & (y == 1)).sum()), int(((p == 1) & (y == 0)).sum()),
                  int(((p == 0) & (y == 1)).sum()))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "accuracy": float((y == p).mean()),
            "fp": fp, "fn": fn}


def bootstrap_wins(labels: Sequence[int], predictions: dict[str, Sequence[int]], reference: str,
                   resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """For each prediction but `reference`: the share of paired bootstrap resamples of the rows (one draw for all of
    them) in which it scores a higher F1, a higher accuracy, and both, than `reference`. Ties are not wins."""
    y = np.asarray(labels) == 1
    names = list(predictions)
    hits = np.stack([np.asarray(predictions[n]) == 1 for n in names])  # [predictions, rows]
    # tp, fp, fn columns, each [rows, predictions]
    indicators = np.concatenate([hits & y, hits & ~y, ~hits & y]).T.astype(np.int64)
    rng, rows, chunk = np.random.default_rng(seed), len(y), 250
    counts = []
    for start in range(0, resamples, chunk):  # resample weights in chunks: [chunk, rows] stays small for big sets
        weights = rng.multinomial(rows, np.full(rows, 1 / rows), size=min(chunk, resamples - start))
        counts.append(weights @ indicators)
    tp, fp, fn = np.split(np.concatenate(counts), 3, axis=1)  # each [resamples, predictions]
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    accuracy = (rows - fp - fn) / rows
    base = names.index(reference)
    wins = {}
    for i, name in enumerate(names):
        if name != reference:
            f1_win, accuracy_win = f1[:, i] > f1[:, base], accuracy[:, i] > accuracy[:, base]
            wins[name] = {"f1": float(f1_win.mean()), "accuracy": float(accuracy_win.mean()),
                          "both": float((f1_win & accuracy_win).mean())}
    return wins


def _tfidf_logistic(analyzer: str, ngrams: tuple[int, int], c: float):
    """An unfitted TF-IDF (sublinear tf, min_df 2) + logistic regression pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, min_df=2),
                         LogisticRegression(C=c, max_iter=3000))


def baseline_model():
    """An unfitted `BASELINE` (scikit-learn pipeline)."""
    return _tfidf_logistic(*BASELINE_SETTINGS)


def teacher_model():
    """An unfitted `TEACHER` (scikit-learn pipeline)."""
    return _tfidf_logistic(*TEACHER_SETTINGS)


def cross_fitted_teacher(texts: list[str], labels: list[int], folds: int = 5) -> np.ndarray:
    """The `TEACHER`'s toxic probability for each row from a model that never saw it (stratified k-fold, seed 0)."""
    from sklearn.model_selection import StratifiedKFold

    x, y, probs = np.asarray(texts, dtype=object), np.asarray(labels), np.zeros(len(texts))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
        probs[held] = teacher_model().fit(x[fit], y[fit]).predict_proba(x[held])[:, 1]
    return probs
