"""Labelled comment files of your own (`text`, `label`; .tsv, .csv or .jsonl), or in a corpus's own layout (BEEP!'s
`comments` / `hate`, K-MHaS's `document` / `label`): stacked-fusion rows and evaluation sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from kotox_build.data import Layout
from kotox_build.spec import SpecError

# How each delimited format is read, under a header: tab-separated without quoting (BEEP!'s files; K-MHaS publishes
# .txt), or comma-separated with RFC 4180 quoting (spreadsheets, pandas' to_csv). Or JSON Lines.
TAB_SEPARATED = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
DIALECTS = {".tsv": TAB_SEPARATED, ".txt": TAB_SEPARATED, ".csv": {"delimiter": ","}}
FORMATS = (*DIALECTS, ".jsonl")
COLUMNS = ("text", "label")


def _label(value: object, labels: tuple[str, str], where: str) -> int:
    """A row's label as 0 or 1: written as 0 / 1 (number or text) or as one of the spec's label names."""
    names = {"0": 0, "1": 1, labels[0]: 0, labels[1]: 1}
    key = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if key not in names:
        raise SpecError(f"{where}: label must be 0, 1, {labels[0]!r} or {labels[1]!r}, got {value!r}")
    return names[key]


def _layout_of(path: Path, header: list[str], layouts: tuple[Layout, ...]) -> Layout | None:
    """The corpus layout a file's header is in: None for `text` / `label`; refused when none or several fit."""
    if all(c in header for c in COLUMNS):
        return None
    fits = [layout for layout in layouts if layout.text in header and layout.label in header]
    if len(fits) > 1:
        raise SpecError(f"{path}:1: the header fits {' and '.join(f.name for f in fits)}'s layouts at once; keep one's "
                        f"columns, got {tuple(header)}")
    if not fits:
        known = "".join(f", or {layout.name}'s ({layout.text!r}, {layout.label!r})" for layout in layouts)
        raise SpecError(f"{path}:1: the header must name the columns {COLUMNS}{known}; got {tuple(header)}")
    return fits[0]


def _delimited_rows(path: Path, f: TextIO, layouts: tuple[Layout, ...]) -> list[tuple[str, dict]]:
    """(where, row with `text` and `label`) for each row under a header naming `COLUMNS` or a corpus layout's."""
    reader = csv.DictReader(f, **DIALECTS[path.suffix])
    layout = _layout_of(path, reader.fieldnames or [], layouts)
    rows = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if layout:
            try:
                row = dict(zip(COLUMNS, layout.row(row)))
            except ValueError as err:
                raise SpecError(f"{where}: {layout.name} {err}") from None
        rows.append((where, row))
    return rows


def _raw_rows(path: Path, layouts: tuple[Layout, ...]) -> list[tuple[str, dict]]:
    """(where, row) for each row of a delimited file (header naming the columns) or a .jsonl file."""
    if path.suffix not in FORMATS:
        raise SpecError(f"{path}: labelled rows must be a {', '.join(FORMATS)} file")
    if not path.is_file():
        raise SpecError(f"{path}: labelled rows file not found")
    with path.open(encoding="utf-8-sig", newline="") as f:  # -sig: a spreadsheet's byte-order mark is not the header
        if path.suffix in DIALECTS:
            return _delimited_rows(path, f, layouts)
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


def read_labelled_rows(path: Path, labels: tuple[str, str],
                       layouts: tuple[Layout, ...] = ()) -> tuple[list[str], list[int]]:
    """A labelled rows file as (texts, labels 0 / 1); a delimited one may be in one of `layouts` (its task's
    corpora's own, `Corpus.layouts`)."""
    texts, classes = [], []
    for where, row in _raw_rows(path, layouts):
        if not isinstance(row["text"], str):
            raise SpecError(f"{where}: text must be a string, got {row['text']!r}")
        texts.append(row["text"])
        classes.append(_label(row["label"], labels, where))
    if not texts:
        raise SpecError(f"{path}: no labelled rows")
    return texts, classes
