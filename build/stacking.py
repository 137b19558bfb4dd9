"""Phase 6 stacked fusion: logistic regression over the members' toxic log-odds, fitted on rows no member trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from kotox_build.data import CORPORA, Layout
from kotox_build.export import ONNX_OUTPUT, encode
from kotox_build.labelled_rows import read_labelled_rows
from kotox_build.spec import Spec, SpecError

COMBINER = "LogisticRegression(C=1) on the members' toxic log-odds (logit 1 - logit 0)"
BATCH = 64


def read_fusion_rows(path: Path, labels: tuple[str, str], layouts: tuple[Layout, ...] = ()
                     ) -> tuple[list[str], list[int]]:
    """A spec's own labelled fusion rows as (texts, labels), both classes present."""
    texts, classes = read_labelled_rows(path, labels, layouts)
    if set(classes) != {0, 1}:
        raise SpecError(f"{path}: fusion rows need both labels to fit a combiner, got {len(texts)} rows of "
                        f"{sorted(set(classes))}")
    return texts, classes


def fusion_rows_of(spec: Spec, data: Path | None = None) -> tuple[list[str], list[int], str]:
    """The rows a spec's stacked combiner is fitted on, as (texts, labels, where they come from): its own
    `fusion_rows` file, else its task's held-out rows in the data folder."""
    if spec.fusion_rows:
        texts, labels = read_fusion_rows(spec.fusion_rows, spec.labels, CORPORA[spec.data].layouts)
        return texts, labels, f"{len(texts)} labelled rows of {spec.fusion_rows.name} (ensemble.fusion_rows)"
    texts, labels = CORPORA[spec.data].fusion_rows(data)
    return texts, labels, f"{len(texts)} held-out labelled rows no member trained on (kotox_build.data.fusion_rows)"


def log_odds(logits: np.ndarray) -> np.ndarray:
    """Each member's toxic log-odds [..., N] from its two-class logits [..., N, 2]."""
    return logits[..., 1].astype(np.float64) - logits[..., 0].astype(np.float64)


def fit_combiner(features: np.ndarray, labels: list[int]) -> tuple[list[float], float]:
    """Coefficients (one per member) and intercept of the combiner fitted on log-odds `features` [rows, members]."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000).fit(features, np.asarray(labels))
    return [float(c) for c in model.coef_[0]], float(model.intercept_[0])


def onnx_logits(onnx_path: Path, tokenizer, texts: list[str], max_tokens: int) -> np.ndarray:
    """Logits [rows, 2] of one exported member on `texts`, encoded as the served tokenizer does, length-sorted batches."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    order = np.argsort([len(t) for t in texts], kind="stable")
    logits = np.empty((len(texts), 2), np.float32)
    for start in range(0, len(order), BATCH):
        rows = order[start:start + BATCH]
        logits[rows] = session.run([ONNX_OUTPUT], encode(tokenizer, [texts[i] for i in rows], max_tokens))[0]
    return logits


def fit_stacked(spec: Spec, repository: Path, tokenizer, version: str,
                rows: tuple[list[str], list[int], str]) -> dict[str, object]:
    """Fit the combiner on the served members' logits (their `model.onnx` in `repository`) over `rows`
    (`fusion_rows_of`)."""
    texts, labels, source = rows
    features = np.stack([log_odds(onnx_logits(repository / m.name / version / "model.onnx", tokenizer, texts,
                                              spec.max_tokens)) for m in spec.members], axis=1)
    coefficients, intercept = fit_combiner(features, labels)
    return {"coefficients": coefficients, "intercept": intercept, "fitted_on": source}
