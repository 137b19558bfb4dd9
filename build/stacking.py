"""Phase 6 stacked fusion: logistic regression over the members' toxic log-odds, fitted on rows no member trained on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kotox_build.data import CORPORA
from kotox_build.export import ONNX_OUTPUT, encode
from kotox_build.spec import Spec, SpecError

COMBINER = "LogisticRegression(C=1) on the members' toxic log-odds (logit 1 - logit 0)"
BATCH = 64


FUSION_ROWS_FORMATS = (".tsv", ".jsonl")  # a spec's own fusion rows: tab-separated with a header, or JSON Lines
FUSION_ROWS_COLUMNS = ("text", "label")


def _label(value: object, labels: tuple[str, str], where: str) -> int:
    """A row's label as 0 or 1: written as 0 / 1 (number or text) or as one of the spec's label names."""
    names = {"0": 0, "1": 1, labels[0]: 0, labels[1]: 1}
    key = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if key not in names:
        raise SpecError(f"{where}: label must be 0, 1, {labels[0]!r} or {labels[1]!r}, got {value!r}")
    return names[key]


def _raw_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) for each row of a .tsv (header naming the columns, no quoting) or .jsonl file."""
    if path.suffix not in FUSION_ROWS_FORMATS:
        raise SpecError(f"{path}: fusion rows must be a {' or '.join(FUSION_ROWS_FORMATS)} file")
    if not path.is_file():
        raise SpecError(f"{path}: fusion rows file not found (field `ensemble.fusion_rows`)")
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix == ".tsv":
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in FUSION_ROWS_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SpecError(f"{path}:1: the header must name the columns {FUSION_ROWS_COLUMNS}, "
                                f"missing {missing}")
            return [(f"{path}:{reader.line_num}", row) for row in reader]
        rows = []
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SpecError(f"{path}:{number}: not valid JSON: {err}") from None
                if not isinstance(row, dict) or any(c not in row for c in FUSION_ROWS_COLUMNS):
                    raise SpecError(f"{path}:{number}: each line must be an object with {FUSION_ROWS_COLUMNS}")
                rows.append((f"{path}:{number}", row))
        return rows


def read_fusion_rows(path: Path, labels: tuple[str, str]) -> tuple[list[str], list[int]]:
    """A spec's own labelled fusion rows as (texts, labels), both classes present."""
    texts, classes = [], []
    for where, row in _raw_rows(path):
        if not isinstance(row["text"], str):
            raise SpecError(f"{where}: text must be a string, got {row['text']!r}")
        texts.append(row["text"])
        classes.append(_label(row["label"], labels, where))
    if set(classes) != {0, 1}:
        raise SpecError(f"{path}: fusion rows need both labels to fit a combiner, got {len(texts)} rows of "
                        f"{sorted(set(classes))}")
    return texts, classes


def fusion_rows_of(spec: Spec, data: Path | None = None) -> tuple[list[str], list[int], str]:
    """The rows a spec's stacked combiner is fitted on, as (texts, labels, where they come from): its own
    `fusion_rows` file, else its task's held-out rows in the data folder."""
    if spec.fusion_rows:
        texts, labels = read_fusion_rows(spec.fusion_rows, spec.labels)
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
