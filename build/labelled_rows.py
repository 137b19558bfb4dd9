"""Labelled comment files of your own (`text`, `label`; .tsv or .jsonl): stacked-fusion rows and evaluation sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from kotox_build.spec import SpecError

FORMATS = (".tsv", ".jsonl")  # tab-separated with a header, or JSON Lines
COLUMNS = ("text", "label")


def _label(value: object, labels: tuple[str, str], where: str) -> int:
    """A row's label as 0 or 1: written as 0 / 1 (number or text) or as one of the spec's label names."""
    names = {"0": 0, "1": 1, labels[0]: 0, labels[1]: 1}
    key = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if key not in names:
        raise SpecError(f"{where}: label must be 0, 1, {labels[0]!r} or {labels[1]!r}, got {value!r}")
    return names[key]


def _raw_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) for each row of a .tsv (header naming the columns, no quoting) or .jsonl file."""
    if path.suffix not in FORMATS:
        raise SpecError(f"{path}: labelled rows must be a {' or '.join(FORMATS)} file")
    if not path.is_file():
        raise SpecError(f"{path}: labelled rows file not found")
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix == ".tsv":
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SpecError(f"{path}:1: the header must name the columns {COLUMNS}, missing {missing}")
            return [(f"{path}:{reader.line_num}", row) for row in reader]
        rows = []
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SpecError(f"{path}:{number}: not valid JSON: {err}") from None
                if not isinstance(row, dict) or any(c not in row for c in COLUMNS):
                    raise SpecError(f"{path}:{number}: each line must be an object with {COLUMNS}")
                rows.append((f"{path}:{number}", row))
        return rows


def read_labelled_rows(path: Path, labels: tuple[str, str]) -> tuple[list[str], list[int]]:
    """A labelled rows file as (texts, labels 0 / 1)."""
    texts, classes = [], []
    for where, row in _raw_rows(path):
        if not isinstance(row["text"], str):
            raise SpecError(f"{where}: text must be a string, got {row['text']!r}")
        texts.append(row["text"])
        classes.append(_label(row["label"], labels, where))
    if not texts:
        raise SpecError(f"{path}: no labelled rows")
    return texts, classes
