"""Demo-member training: deterministic for a seed, cached by its inputs, retrained when a recipe changes."""

import dataclasses
import itertools

import pytest

from kotox_build.data import unlabeled_comments
from kotox_build.spec import Member, Recipe, load_spec
from kotox_build.training import STAMP, train_members
from kotox_build.wordpiece import train_wordpiece

# A recipe small enough to train on all 16,672 rows in seconds; the real one is in kotox.toml.
SMALL = Recipe(seed=7, epochs=1, batch_size=128, hidden_size=16, layers=1, heads=1, intermediate_size=32,
               train_max_tokens=32, vocab_size=1000)


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    """The default spec with four small trained members: `a` and `b` share a seed, `c` has another and no teacher,
    `d` a CNN head."""
    root = tmp_path_factory.mktemp("trained")
    members = (Member("a", root / "a", 0.4, SMALL), Member("b", root / "b", 0.4, SMALL),
               Member("c", root / "c", 0.1, dataclasses.replace(SMALL, seed=8, distill=0.0)),
               Member("d", root / "d", 0.1, dataclasses.replace(SMALL, head="cnn")))
    spec = dataclasses.replace(load_spec(), members=members)
    assert [m.name for m in train_members(spec)] == ["a", "b", "c", "d"]
    return spec


def test_wordpiece_training_is_deterministic():
    texts = list(itertools.islice(unlabeled_comments(), 5000))
    first, second = (train_wordpiece(texts, 1500, 256).backend_tokenizer.to_str() for _ in range(2))
    assert first == second  # HF's WordPiece trainer alone gives a different vocabulary per process


def test_same_seed_gives_identical_weights_and_tokenizer(small_spec):
    a, b, c, _ = (m.checkpoint for m in small_spec.members)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()


def test_checkpoints_are_huggingface_classifiers_with_the_spec_labels(small_spec):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = small_spec.members[0].checkpoint
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert type(model).__name__ == "ElectraForSequenceClassification"
    assert [model.config.id2label[i] for i in range(2)] == list(small_spec.labels)
    assert all(p.isfinite().all() for p in model.parameters())
    assert AutoTokenizer.from_pretrained(folder).is_fast
    cnn = AutoModelForSequenceClassification.from_pretrained(small_spec.members[3].checkpoint)
    assert type(cnn).__name__ == "KotoxCnnForSequenceClassification"
    assert cnn.config.encoder_config.hidden_size == SMALL.hidden_size


def test_training_is_cached_until_an_input_changes(small_spec, capsys):
    first = small_spec.members[0].checkpoint / "model.safetensors"
    mtime = first.stat().st_mtime_ns
    assert train_members(small_spec) == []
    assert capsys.readouterr().out.count("up to date") == 4 and first.stat().st_mtime_ns == mtime
    changed = dataclasses.replace(small_spec.members[2], train=dataclasses.replace(SMALL, seed=8, distill=0.0, epochs=2))
    spec = dataclasses.replace(small_spec, members=(*small_spec.members[:2], changed, small_spec.members[3]))
    assert [m.name for m in train_members(spec)] == ["c"]
    assert '"epochs": 2' in (changed.checkpoint / STAMP).read_text()
    assert first.stat().st_mtime_ns == mtime
