"""Readers for the public Korean comment corpora in the data folder (never copied into the project)."""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "KOTOX_DATA"
DATA_FILES = ("beep/train.tsv", "kmhas/valid.txt", "beep/unlabeled_comments.txt")  # what toxicity members learn from
NSMC_FILES = ("nsmc/train.tsv", "nsmc/unlabeled_reviews.txt")  # what sentiment members learn from
KMHAS_HELDOUT = (0.1, 12)  # share of K-MHaS valid held out of all training for evaluation, stratified; seed
FUSION_HOLDOUT = (0.06, 6)  # share of the remaining labelled rows kept from the members to fit stacked fusion; seed
NSMC_HELDOUT = (0.05, 13)  # share of nsmc/train.tsv held out of all training for evaluation, stratified; seed
Rows = list[tuple[str, int]]


def data_dir() -> Path:
    """The data folder: $KOTOX_DATA, else `../shared/data` beside the project root."""
    path = Path(os.environ.get(DATA_ENV, PROJECT_ROOT.parent / "shared" / "data")).resolve()
    if not (path / "README.md").exists():
        raise FileNotFoundError(f"data folder {path} not found: set {DATA_ENV} to the folder holding beep/ and kmhas/")
    return path


def _tsv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


@dataclass(frozen=True)
class Layout:
    """A corpus's own tab-separated file layout: its text and label columns, and its label value -> 0 / 1
    (`ValueError` saying what it expected otherwise)."""

    name: str
    text: str
    label: str
    binary: Callable[[str], int]

    def row(self, row: dict[str, str]) -> tuple[str, int]:
        """(text, label 0 / 1) of one row read by its header."""
        if row.get(self.label) is None:
            raise ValueError(f"`{self.label}` is missing")
        return row[self.text], self.binary(row[self.label])


def _beep_hate(value: str) -> int:
    """BEEP!'s `hate`: none -> 0, offensive or hate -> 1."""
    if value not in ("none", "offensive", "hate"):
        raise ValueError(f"`hate` must be none, offensive or hate, got {value!r}")
    return int(value != "none")


def _kmhas_classes(value: str) -> int:
    """K-MHaS's `label` (comma-separated class ids 0 - 8): 8 alone (not hate speech) -> 0, any hate class -> 1."""
    ids = value.strip().split(",")
    if not all(i.isdigit() and int(i) <= 8 for i in ids):
        raise ValueError(f"`label` must be K-MHaS class ids 0 - 8, comma-separated, got {value!r}")
    return int(ids != ["8"])


def _nsmc_sentiment(value: str) -> int:
    """NSMC's `label`: 0 negative, 1 positive."""
    if value not in ("0", "1"):
        raise ValueError(f"`label` must be 0 (negative) or 1 (positive), got {value!r}")
    return int(value)


BEEP_LAYOUT = Layout("BEEP!", "comments", "hate", _beep_hate)
KMHAS_LAYOUT = Layout("K-MHaS", "document", "label", _kmhas_classes)
NSMC_LAYOUT = Layout("NSMC", "document", "label", _nsmc_sentiment)


def beep(split: str, data: Path | None = None) -> list[tuple[str, int]]:
    """BEEP! `train` or `dev` as (comment, label): `hate` none -> 0, offensive/hate -> 1."""
    return [BEEP_LAYOUT.row(r) for r in _tsv_rows((data or data_dir()) / "beep" / f"{split}.tsv")]


def kmhas_valid(data: Path | None = None) -> list[tuple[str, int]]:
    """K-MHaS valid as (comment, label): class 8 (not hate speech) -> 0, anything else -> 1."""
    return [KMHAS_LAYOUT.row(r) for r in _tsv_rows((data or data_dir()) / "kmhas" / "valid.txt")]


def stratified_split(rows: list[tuple[str, int]], share: float, seed: int
                     ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(kept, held): `share` of each label's rows held out at random (fixed `seed`), both in the original order."""
    rng, held = random.Random(seed), set()
    for label in sorted({y for _, y in rows}):
        indices = [i for i, (_, y) in enumerate(rows) if y == label]
        held.update(rng.sample(indices, round(share * len(indices))))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def kmhas_heldout(data: Path | None = None) -> list[tuple[str, int]]:
    """The K-MHaS evaluation slice: a stratified `KMHAS_HELDOUT` share of K-MHaS valid that nothing trains on."""
    return stratified_split(kmhas_valid(data), *KMHAS_HELDOUT)[1]


def _labelled_splits(data: Path | None) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(member training rows, stacked-fusion rows) from BEEP! train + K-MHaS valid without its evaluation slice."""
    rows = beep("train", data) + stratified_split(kmhas_valid(data), *KMHAS_HELDOUT)[0]
    return stratified_split(rows, *FUSION_HOLDOUT)


def columns(rows: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    """(texts, labels) of labelled rows."""
    return [text for text, _ in rows], [label for _, label in rows]


def fusion_rows(data: Path | None = None) -> tuple[list[str], list[int]]:
    """Labelled rows no demo member trains on, for fitting the stacked fusion, as (texts, labels)."""
    return columns(_labelled_splits(data)[1])


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


def nsmc(data: Path | None = None) -> Rows:
    """NSMC train as (review, label): 0 negative, 1 positive."""
    return [NSMC_LAYOUT.row(r) for r in _tsv_rows((data or data_dir()) / "nsmc" / "train.tsv")]


def nsmc_heldout(data: Path | None = None) -> Rows:
    """The NSMC evaluation slice: a stratified `NSMC_HELDOUT` share of nsmc/train.tsv that nothing trains on."""
    return stratified_split(nsmc(data), *NSMC_HELDOUT)[1]


def nsmc_training_rows(data: Path | None = None) -> tuple[list[str], list[int]]:
    """Sentiment members' (and their baseline's) training rows as (texts, labels): nsmc/train.tsv without its
    evaluation slice."""
    return columns(stratified_split(nsmc(data), *NSMC_HELDOUT)[0])


def unlabeled_reviews(data: Path | None = None) -> Iterator[str]:
    """NSMC's unlabeled movie reviews, one a line, blank lines skipped."""
    with ((data or data_dir()) / "nsmc" / "unlabeled_reviews.txt").open(encoding="utf-8") as f:
        yield from (line.strip() for line in f if line.strip())


def training_rows(data: Path | None = None) -> tuple[list[str], list[int]]:
    """The demo members' (and the baseline's) training rows as (texts, labels): BEEP! train + K-MHaS valid without
    the K-MHaS evaluation slice and the stacked-fusion rows; BEEP! dev stays out."""
    return columns(_labelled_splits(data)[0])


def traffic_comments(n: int, seed: int = 0) -> list[str]:
    """`n` labelled comments (the training rows) drawn at random, so lengths are as in real traffic."""
    texts, _ = training_rows()
    return random.Random(seed).sample(texts, min(n, len(texts)))


@dataclass(frozen=True)
class Corpus:
    """One task of the data folder: the files its members learn from, their training rows, the unlabeled text their
    tokenizer is also built from, the held-out evaluation sets (key: (title, rows)), the stacked-fusion rows and its
    corpora's own file layouts (read as labelled rows of your own beside `text` / `label`)."""

    files: tuple[str, ...]
    training_rows: Callable[[Path | None], tuple[list[str], list[int]]]
    unlabeled: Callable[[Path | None], Iterator[str]]
    evaluation_sets: dict[str, tuple[str, Callable[[Path | None], Rows]]]
    fusion_rows: Callable[[Path | None], tuple[list[str], list[int]]] | None = None
    training_note: str = ""
    layouts: tuple[Layout, ...] = ()


CORPORA = {  # a spec's `ensemble.data`
    "toxicity": Corpus(
        DATA_FILES, training_rows, unlabeled_comments,
        {"beep_dev": ("BEEP! dev (beep/dev.tsv)", lambda data: beep("dev", data)),
         "kmhas_heldout": (f"K-MHaS held-out slice ({KMHAS_HELDOUT[0]:.0%} of kmhas/valid.txt, stratified, "
                           f"seed {KMHAS_HELDOUT[1]}; never trained on)", kmhas_heldout)},
        fusion_rows, "BEEP! train + K-MHaS valid without the evaluation slice and the fusion rows",
        (BEEP_LAYOUT, KMHAS_LAYOUT)),
    "nsmc": Corpus(
        NSMC_FILES, nsmc_training_rows, unlabeled_reviews,
        {"nsmc_heldout": (f"NSMC held-out slice ({NSMC_HELDOUT[0]:.0%} of nsmc/train.tsv, stratified, "
                          f"seed {NSMC_HELDOUT[1]}; never trained on)", nsmc_heldout)},
        training_note="nsmc/train.tsv without the evaluation slice", layouts=(NSMC_LAYOUT,)),
}
