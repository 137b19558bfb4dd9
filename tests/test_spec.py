"""Deployment spec validation: the default is the users' design; bad specs name the field and the file."""

from pathlib import Path

import pytest

from kotox_build.spec import DEFAULT_SPEC, Recipe, SpecError, load_spec

ROADMAP_SPEC = DEFAULT_SPEC.parent / "examples" / "seed-roadmap.toml"

VALID = """
[[members]]
name = "a"
checkpoint = "ckpt/a"
weight = 0.25
[[members]]
name = "b"
checkpoint = "/abs/b"
weight = 0.75
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_spec_is_the_users_design():
    spec = load_spec(DEFAULT_SPEC)
    assert [(m.name, m.weight) for m in spec.members] == [("phase2", 0.6), ("phase4", 0.4)]
    assert spec.name == "toxicity" and spec.labels == ("clean", "toxic")
    assert spec.threshold == 0.5 and spec.max_tokens == 256
    assert all(m.train and m.checkpoint.parent.name == "demo" for m in spec.members)  # demo members by default


def test_defaults_and_relative_paths(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    assert spec.name == "toxicity" and spec.threshold == 0.5 and spec.max_tokens == 256
    assert spec.members[0].checkpoint == (tmp_path / "ckpt" / "a").resolve()
    assert spec.members[1].checkpoint == Path("/abs/b")
    assert spec.weights == [0.25, 0.75]
    assert all(m.train is None for m in spec.members)


def test_train_table_overrides_recipe_defaults(tmp_path):
    spec = load_spec(write(tmp_path, VALID.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 3, epochs = 5 }")))
    recipe = spec.members[0].train
    assert (recipe.seed, recipe.epochs) == (3, 5) and recipe.learning_rate == Recipe(seed=0).learning_rate


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.replace("0.75", "0.7"), "weight"),
    (lambda s: s.replace("0.25", "-0.05").replace("0.75", "1.05"), "members[0].weight"),
    (lambda s: s.replace('name = "b"', 'name = "a"'), "duplicate"),
    (lambda s: s.replace('name = "b"', 'name = "fusion"'), "reserved"),
    (lambda s: s.replace('checkpoint = "/abs/b"\n', ""), "members[1].checkpoint"),
    (lambda s: s.replace("0.25", '"0.25"'), "members[0].weight"),
    (lambda s: "[ensemble]\nthreshold = 1.5\n" + s, "ensemble.threshold"),
    (lambda s: "[ensemble]\nlabels = ['x']\n" + s, "ensemble.labels"),
    (lambda s: "[ensemble]\nmax_tokens = 0\n" + s, "ensemble.max_tokens"),
    (lambda s: "[ensemble]\nname = 3\n" + s, "ensemble.name"),
    (lambda s: "", "members"),
    (lambda s: s + "\n[[members", "TOML"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, epoch = 3 }"), "members[0].train.epoch"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { epochs = 3 }"), "members[0].train.seed"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, epochs = 0 }"), "members[0].train.epochs"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, distill = 1.5 }"), "members[0].train.distill"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, augment = 1.5 }"), "members[0].train.augment"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, learning_rate = '1e-3' }"),
     "members[0].train.learning_rate"),
    (lambda s: "[ensemble]\nfusion = 'forest'\n" + s, "ensemble.fusion"),
    (lambda s: "[ensemble]\ndata = 'imdb'\n" + s, "ensemble.data"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, precision = 'fp8' }"),
     "members[0].train.precision"),
    (lambda s: "[ensemble]\ndata = 'nsmc'\nfusion = 'stacked'\n" + s, "ensemble.fusion_rows"),
    (lambda s: "[ensemble]\nfusion_rows = 'rows.tsv'\n" + s, "ensemble.fusion_rows"),
    (lambda s: "[ensemble]\nfusion = 'stacked'\nfusion_rows = 3\n" + s, "ensemble.fusion_rows"),
    (lambda s: "[ensemble]\nlabels = ['bad', 'very good']\n" + s, "ensemble.labels"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, head = 'rnn' }"), "members[0].train.head"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, head = 2 }"), "members[0].train.head"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, warm_start = 'kcbert' }"),
     "members[0].train.warm_start"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, soup = 2 }"), "members[0].train.soup"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, vocab_size = 3000 }")
              .replace("weight = 0.75", "weight = 0.75\ntrain = { seed = 2 }"), "train.vocab_size"),
    (lambda s: s.replace("weight = 0.25", "weight = 0.25\ntrain = { seed = 1, epochs = -1 }"),
     "members[0].train.epochs"),
])
def test_invalid_spec_names_field_and_file(tmp_path, edit, field):
    path = write(tmp_path, edit(VALID))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_roadmap_spec_serves_phases_2_4_5_with_stacked_fusion():
    spec = load_spec(ROADMAP_SPEC)
    default = {m.name: m for m in load_spec(DEFAULT_SPEC).members}
    assert [m.name for m in spec.members] == ["phase2", "phase4", "phase5"] and spec.fusion == "stacked"
    assert [m.train.head for m in spec.members] == ["linear", "linear", "cnn"]
    assert {(m.train.warm_start, m.train.soup) for m in spec.members} == {("nsmc", 2)}
    for member in spec.members[:2]:  # the same recipes and checkpoints as the default demo: trained once for both
        assert (member.checkpoint, member.train) == (default[member.name].checkpoint, default[member.name].train)
    assert load_spec(DEFAULT_SPEC).fusion == "weighted"


def test_own_fusion_rows_are_anchored_at_the_spec_and_let_any_task_stack(tmp_path):
    spec = load_spec(write(tmp_path, "[ensemble]\ndata = 'nsmc'\nfusion = 'stacked'\nfusion_rows = 'held/rows.tsv'\n"
                                     + VALID))
    assert spec.fusion == "stacked" and spec.fusion_rows == (tmp_path / "held" / "rows.tsv").resolve()
    assert load_spec(write(tmp_path, VALID)).fusion_rows is None


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.toml")


def test_weights_sum_within_tolerance(tmp_path):
    spec = load_spec(write(tmp_path, VALID.replace("0.75", "0.7500000005")))
    assert abs(sum(spec.weights) - 1) < 1e-6
