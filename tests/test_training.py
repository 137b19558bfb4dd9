"""Demo-member training: deterministic for a seed, cached by its inputs, retrained when a recipe changes."""

import dataclasses
import itertools
import random

import pytest
import torch

from kotox_build.data import unlabeled_comments
from kotox_build.obfuscation import SEPARATORS
from kotox_build.spec import HEADS, Member, Recipe, load_spec
from kotox_build.training import (STAMP, electra_config, member_config, obfuscated_rows, train_classifier,
                                  train_members)
from kotox_build.wordpiece import train_wordpiece

# A recipe small enough to train on all 16,672 rows in seconds; the real one is in kotox.toml.
SMALL = Recipe(seed=7, epochs=1, batch_size=128, hidden_size=16, layers=1, heads=1, intermediate_size=32,
               train_max_tokens=32, vocab_size=1000)


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    """The default spec with seven small trained members: `a` and `b` share a seed, `c` has another and no teacher,
    `d` a CNN head, `e` is `a` warm-started from NSMC sentiment, `f` the soup of `e` and `g` (`e` with seed 1007)."""
    root = tmp_path_factory.mktemp("trained")
    members = (Member("a", root / "a", 0.4, SMALL), Member("b", root / "b", 0.4, SMALL),
               Member("c", root / "c", 0.1, dataclasses.replace(SMALL, seed=8, distill=0.0)),
               Member("d", root / "d", 0.05, dataclasses.replace(SMALL, head="cnn")),
               Member("e", root / "e", 0.02, dataclasses.replace(SMALL, warm_start="nsmc")),
               Member("f", root / "f", 0.02, dataclasses.replace(SMALL, warm_start="nsmc", soup=2)),
               Member("g", root / "g", 0.01, dataclasses.replace(SMALL, warm_start="nsmc", seed=1007)))
    spec = dataclasses.replace(load_spec(), members=members)
    assert [m.name for m in train_members(spec)] == ["a", "b", "c", "d", "e", "f", "g"]
    return spec


def test_wordpiece_training_is_deterministic():
    texts = list(itertools.islice(unlabeled_comments(), 5000))
    first, second = (train_wordpiece(texts, 1500, 256).backend_tokenizer.to_str() for _ in range(2))
    assert first == second  # HF's WordPiece trainer alone gives a different vocabulary per process


def test_same_seed_gives_identical_weights_and_tokenizer(small_spec):
    a, b, c = (m.checkpoint for m in small_spec.members[:3])
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
    assert capsys.readouterr().out.count("up to date") == 7 and first.stat().st_mtime_ns == mtime
    changed = dataclasses.replace(small_spec.members[2], train=dataclasses.replace(SMALL, seed=8, distill=0.0, epochs=2))
    spec = dataclasses.replace(small_spec, members=(*small_spec.members[:2], changed, *small_spec.members[3:]))
    assert [m.name for m in train_members(spec)] == ["c"]
    assert '"epochs": 2' in (changed.checkpoint / STAMP).read_text()
    assert first.stat().st_mtime_ns == mtime


def test_warm_started_member_differs_from_its_cold_twin(small_spec):
    a, e = small_spec.members[0].checkpoint, small_spec.members[4].checkpoint
    assert (a / "model.safetensors").read_bytes() != (e / "model.safetensors").read_bytes()
    assert '"warm_start": "nsmc"' in (e / STAMP).read_text()


def test_soup_is_the_mean_of_its_fine_tunes_trained_alone(small_spec):
    from safetensors.torch import load_file

    e, f, g = (load_file(m.checkpoint / "model.safetensors") for m in small_spec.members[4:])
    assert f.keys() == e.keys() and not torch.equal(e["classifier.out_proj.weight"], g["classifier.out_proj.weight"])
    for name, tensor in f.items():  # the fine-tunes ran in worker processes, `e` and `g` in this one
        torch.testing.assert_close(tensor, (e[name] + g[name]) / 2 if tensor.is_floating_point() else e[name])


@pytest.mark.parametrize("head", HEADS)
def test_warm_start_hands_over_the_encoder_and_leaves_the_head_fresh(small_spec, head):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(small_spec.members[0].checkpoint)
    recipe = dataclasses.replace(SMALL, head=head, epochs=0)  # no step taken: the classifier as it starts
    torch.manual_seed(123)  # an encoder unlike any a seed-7 member starts from
    warm = AutoModelForSequenceClassification.from_config(electra_config(recipe, tokenizer, ("neg", "pos"), 256))
    config = member_config(recipe, tokenizer, small_spec.labels, 256)
    started = train_classifier(recipe, tokenizer, ["안녕"], [0], None, config, "test", warm)
    cold = train_classifier(recipe, tokenizer, ["안녕"], [0], None, config, "test")
    encoder, fresh = warm.base_model.state_dict(), cold.state_dict()
    for name, tensor in started.state_dict().items():
        inside = name.split(".", 1)[1] if name.startswith(started.base_model_prefix + ".") else None
        expected = encoder[inside] if inside is not None else fresh[name]
        assert torch.equal(tensor, expected), name
    assert not torch.equal(started.base_model.embeddings.word_embeddings.weight,
                           cold.base_model.embeddings.word_embeddings.weight)


def test_an_augmented_epoch_shows_a_share_of_rows_obfuscated(small_spec):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(small_spec.members[0].checkpoint)
    texts = ["너 진짜 병신이네", "좋은 하루 보내세요", "ㅋㅋ ok"] * 300
    ids = tokenizer(texts, truncation=True, max_length=SMALL.train_max_tokens)["input_ids"]
    shown = obfuscated_rows(ids, texts, dataclasses.replace(SMALL, augment=0.5), tokenizer, random.Random(0))
    changed = [i for i in range(len(ids)) if shown[i] != ids[i]]

    def syllables(text: str) -> str:
        return "".join(c for c in text if c not in SEPARATORS)

    for i in changed:  # the same syllables, split by separators: a new text, not a new tokenisation of the old one
        decoded = tokenizer.decode(shown[i], skip_special_tokens=True)
        assert decoded != tokenizer.decode(ids[i], skip_special_tokens=True)
        assert syllables(decoded) == syllables(texts[i]), decoded
    assert all(texts[i] != "ㅋㅋ ok" for i in changed)  # no Hangul word to split: shown as it is
    # drawn at 0.5, then at least one word split (chance 1 - 0.5 ** words): 0.375 and 0.4375 of the two Hangul rows
    assert abs(len(changed) / len(ids) - (0.375 + 0.4375) / 3) < 0.05
    assert obfuscated_rows(ids, texts, dataclasses.replace(SMALL, augment=0.5), tokenizer, random.Random(0)) == shown
