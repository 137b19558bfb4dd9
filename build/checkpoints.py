"""Test and benchmark checkpoints: `tiny` ELECTRA members for tests, `shape-only` KcELECTRA-base for speed work."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import torch
from transformers import ElectraConfig, ElectraForSequenceClassification, ElectraTokenizerFast

from kotox_build.data import data_dir, unlabeled_comments
from kotox_build.spec import Spec, load_spec, with_checkpoints
from kotox_build.wordpiece import train_wordpiece


# KcELECTRA-base-v2022 (beomi/KcELECTRA-base-v2022 config.json).
KCELECTRA_BASE = dict(vocab_size=54343, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                      num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
TINY = dict(vocab_size=2000, embedding_size=64, hidden_size=64, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=128, max_position_embeddings=512)
TINY_SEEDS = {"phase2": 2, "phase4": 4}


def _save_member(out: Path, tokenizer: ElectraTokenizerFast, shape: dict, seed: int, note: str,
                 initializer_range: float, labels: tuple[str, str]) -> None:
    torch.manual_seed(seed)
    config = ElectraConfig(**shape, num_labels=2, id2label=dict(enumerate(labels)),
                           label2id={label: i for i, label in enumerate(labels)},
                           initializer_range=initializer_range, pad_token_id=tokenizer.pad_token_id)
    config.kotox_note = note
    ElectraForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def make_checkpoints(kind: str, out_dir: Path, data: Path | None = None) -> list[Path]:
    """Write `phase2` and `phase4` checkpoints of `kind` (`tiny` or `shape-only`) under `out_dir`; skip existing ones."""
    shape, init_range, note = {
        "tiny": (TINY, 0.5, "tiny random-weight ELECTRA for tests; not a classifier"),
        "shape-only": (KCELECTRA_BASE, 0.02, "untrained: KcELECTRA-base-v2022 shape with random weights, for speed work"),
    }[kind]
    outs = [out_dir / name for name in TINY_SEEDS]
    missing = [o for o in outs if not (o / "config.json").exists()]
    if not missing:
        return outs
    corpus = list(itertools.islice(unlabeled_comments(data or data_dir()), 20000))
    tokenizer = train_wordpiece(corpus, shape["vocab_size"], shape["max_position_embeddings"])
    labels = load_spec().labels
    for out in missing:
        print(f"kotox: writing {kind} checkpoint {out}", flush=True)
        _save_member(out, tokenizer, shape, TINY_SEEDS[out.name], note, init_range, labels)
    return outs


def checkpoint_spec(kind: str, out_dir: Path) -> Spec:
    """The default spec (weights, threshold, labels, max tokens) served over `kind` checkpoints made in `out_dir`."""
    return with_checkpoints(load_spec(), {p.name: p for p in make_checkpoints(kind, out_dir)})


def main(argv: list[str] | None = None) -> None:
    """CLI: python -m kotox_build.checkpoints {tiny,shape-only} OUT_DIR."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("kind", choices=["tiny", "shape-only"])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $KOTOX_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    for path in make_checkpoints(args.kind, args.out_dir, args.data):
        print(path)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
