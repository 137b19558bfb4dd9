"""Test and benchmark checkpoints: `tiny` ELECTRA members for tests, `shape-only` KcELECTRA-base for speed work;
members whose spec recipe says `head = "cnn"` get the Phase 5 CNN head over the same encoder."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import torch
from transformers import ElectraConfig, ElectraForSequenceClassification, ElectraTokenizerFast

from kotox_build.cnn_head import KotoxCnnConfig, KotoxCnnForSequenceClassification
from kotox_build.data import data_dir, unlabeled_comments
from kotox_build.spec import DEFAULT_SPEC, Spec, load_spec, with_checkpoints
from kotox_build.wordpiece import train_wordpiece
from kotox_client import contract


# KcELECTRA-base-v2022 (beomi/KcELECTRA-base-v2022 config.json).
KCELECTRA_BASE = dict(vocab_size=54343, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                      num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
TINY = dict(vocab_size=2000, embedding_size=64, hidden_size=64, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=128, max_position_embeddings=512)
TINY_SEEDS = {"phase2": 2, "phase4": 4, "phase5": 5}  # other member names: seed 0


def _save_member(out: Path, tokenizer: ElectraTokenizerFast, shape: dict, seed: int, note: str,
                 initializer_range: float, labels: tuple[str, str], head: str) -> None:
    torch.manual_seed(seed)
    names = dict(num_labels=2, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    config = ElectraConfig(**shape, **names, initializer_range=initializer_range, pad_token_id=tokenizer.pad_token_id)
    if head == "cnn":
        config = KotoxCnnConfig(config, **names)
    config.kotox_note = note
    model_class = KotoxCnnForSequenceClassification if head == "cnn" else ElectraForSequenceClassification
    model_class(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def make_checkpoints(kind: str, out_dir: Path, data: Path | None = None, heads: dict[str, str] | None = None,
                     labels: tuple[str, str] = contract.LABELS) -> list[Path]:
    """Write checkpoints of `kind` (`tiny` or `shape-only`) named by `heads` (name -> head; default `phase2` and
    `phase4`, linear) with `labels` under `out_dir`; skip existing ones."""
    shape, init_range, note = {
        "tiny": (TINY, 0.5, "tiny random-weight ELECTRA for tests; not a classifier"),
        "shape-only": (KCELECTRA_BASE, 0.02, "untrained: KcELECTRA-base-v2022 shape with random weights, for speed work"),
    }[kind]
    heads = heads or {"phase2": "linear", "phase4": "linear"}
    outs = [out_dir / name for name in heads]
    missing = [o for o in outs if not (o / "config.json").exists()]
    if not missing:
        return outs
    corpus = list(itertools.islice(unlabeled_comments(data or data_dir()), 20000))
    tokenizer = train_wordpiece(corpus, shape["vocab_size"], shape["max_position_embeddings"])
    for out in missing:
        print(f"kotox: writing {kind} checkpoint {out}", flush=True)
        _save_member(out, tokenizer, shape, TINY_SEEDS.get(out.name, 0), note, init_range, labels, heads[out.name])
    return outs


def checkpoint_spec(kind: str, out_dir: Path, spec_path: Path = DEFAULT_SPEC) -> Spec:
    """A spec (default: `kotox.toml`; weights, fusion, threshold, labels, max tokens) served over `kind` checkpoints
    made in `out_dir`, each with the head its recipe names and the spec's labels."""
    spec = load_spec(spec_path)
    heads = {m.name: m.train.head if m.train else "linear" for m in spec.members}
    made = make_checkpoints(kind, out_dir, heads=heads, labels=spec.labels)
    return with_checkpoints(spec, {p.name: p for p in made})


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
