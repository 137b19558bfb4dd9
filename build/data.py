"""Readers for the public Korean comment corpora in the data folder (never copied into the project)."""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "KOTOX_DATA"
DATA_FILES = ("beep/train.tsv", "kmhas/valid.txt", "beep/unlabeled_comments.txt")  # what demo members learn from


def data_dir() -> Path:
    """The data folder: $KOTOX_DATA, else `../shared/data` beside the project root."""
    path = Path(os.environ.get(DATA_ENV, PROJECT_ROOT.parent / "shared" / "data")).resolve()
    if not (path / "README.md").exists():
        raise FileNotFoundError(f"data folder {path} not found: set {DATA_ENV} to the folder holding beep/ and kmhas/")
    return path


def _tsv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


def beep(split: str, data: Path | None = None) -> list[tuple[str, int]]:
    """BEEP! `train` or `dev` as (comment, label): `hate` none -> 0, offensive/hate -> 1."""
    rows = _tsv_rows((data or data_dir()) / "beep" / f"{split}.tsv")
    return [(r["comments"], int(r["hate"] != "none")) for r in rows]


def kmhas_valid(data: Path | None = None) -> list[tuple[str, int]]:
    """K-MHaS valid as (comment, label): class 8 (not hate speech) -> 0, anything else -> 1."""
    rows = _tsv_rows((data or data_dir()) / "kmhas" / "valid.txt")
    return [(r["document"], int(r["label"].strip() != "8")) for r in rows]


def unlabeled_comments(data: Path | None = None) -> Iterator[str]:
    """BEEP! unlabeled comments, one a line, blank lines skipped."""
    with ((data or data_dir()) / "beep" / "unlabeled_comments.txt").open(encoding="utf-8") as f:
        yield from (line.strip() for line in f if line.strip())


def every_comment(data: Path | None = None) -> Iterator[str]:
    """Every comment and review of every corpus in the data folder, labelled or not."""
    data = data or data_dir()
    yield from (text for text, _ in beep("train", data) + beep("dev", data) + kmhas_valid(data))
    yield from (row["document"] for row in _tsv_rows(data / "nsmc" / "train.tsv"))
    for name in ("beep/unlabeled_comments.txt", "nsmc/unlabeled_reviews.txt"):
        with (data / name).open(encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)


def training_rows(data: Path | None = None) -> tuple[list[str], list[int]]:
    """The demo members' training rows, BEEP! train + K-MHaS valid, as (texts, labels); BEEP! dev stays out."""
    rows = beep("train", data) + kmhas_valid(data)
    return [text for text, _ in rows], [label for _, label in rows]


def traffic_comments(n: int, seed: int = 0) -> list[str]:
    """`n` labelled comments (the training rows) drawn at random, so lengths are as in real traffic."""
    texts, _ = training_rows()
    return random.Random(seed).sample(texts, min(n, len(texts)))
