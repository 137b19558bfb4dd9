"""The deployment spec: one TOML file that names the ensemble, its members and its fusion rule."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from kotox_build.data import CORPORA
from kotox_client import contract

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "kotox.toml"
WEIGHT_SUM_TOLERANCE = 1e-6
TOKENIZER_MODEL = "tokenizer"
FUSION_MODEL = "fusion"
FUSION_PARAM = "fusion"  # the ensemble's and the fusion model's config parameter naming the fusion that runs
FUSIONS = ("weighted", "stacked")  # weighted: the users' fixed weights; stacked: a combiner fitted by the build
HEADS = ("linear", "cnn")  # a trained member's classifier head: ELECTRA's own, or the Phase 5 CNN head (cnn_head.py)
PRECISIONS = ("fp32", "bf16")  # training arithmetic: fp32, or bf16 autocast (fp32 weights; 1.8x faster on AVX512-BF16)
WARM_STARTS = ("none", "nsmc")  # a trained member's encoder: from scratch, or from the NSMC sentiment warm start
CHOICES = {"head": HEADS, "precision": PRECISIONS, "warm_start": WARM_STARTS}  # the recipe's text fields, their values


SHARED_RECIPE_FIELDS = {"vocab_size": "one shared tokenizer"}
MAY_BE_ZERO = {"seed"}  # integer recipe fields that may be 0


class SpecError(ValueError):
    """A deployment spec that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Recipe:
    """How `kotox_build` trains a demo member from the data folder when its checkpoint is missing or stale."""

    seed: int
    learning_rate: float = 4e-4
    epochs: int = 3
    batch_size: int = 32
    train_max_tokens: int = 128  # inference still truncates at `ensemble.max_tokens`
    toxic_weight: float = 2.0  # cross-entropy weight of the toxic class
    distill: float = 0.8  # share of the loss that follows the n-gram teacher's cross-fitted probability (0: off)
    augment: float = 0.0  # share of rows shown obfuscated each epoch (`obfuscation.py`: Phase 5's purpose; 0: off)
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    dropout: float = 0.1
    vocab_size: int = 16000  # of the WordPiece tokenizer the trained members share
    embedding_size: int = 128  # ELECTRA's token embedding width, projected to hidden_size when they differ
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 512
    head: str = "linear"  # one of HEADS
    precision: str = "fp32"  # one of PRECISIONS
    warm_start: str = "none"  # one of WARM_STARTS
    soup: int = 1  # fine-tunes from the warm start averaged into the member (a uniform model soup); > 1 needs one


@dataclass(frozen=True)
class Member:
    """One classifier of the ensemble: a HF `save_pretrained` folder, its fusion weight, and how to train it."""

    name: str
    checkpoint: Path
    weight: float
    train: Recipe | None = None


@dataclass(frozen=True)
class Spec:
    """A validated deployment: ensemble settings plus members in fusion order."""

    path: Path
    members: tuple[Member, ...]
    name: str = contract.ENSEMBLE
    labels: tuple[str, str] = contract.LABELS
    threshold: float = 0.5
    max_tokens: int = 256
    max_batch_size: int = 64
    max_comment_bytes: int = 1 << 20  # longer comments are refused (INVALID_ARGUMENT); shorter ones are cut exactly
    # A request not started by every member this long after tokenizing (or within the caller's shorter timeout) is
    # refused unrun (UNAVAILABLE: retry later), and while members' requests wait over half of it the tokenizer refuses
    # new ones at once; ONNX Runtime builds and BLS entries apply it to their first model's queue instead.
    queue_timeout_ms: int = 500
    # ONNX Runtime builds and BLS entries: requests waiting at their first model beyond this are refused at once
    # (UNAVAILABLE). About the requests served in `queue_timeout_ms`: the timeout bounds latency; this bound refuses
    # at once what would time out anyway, without refusing a short burst the timeout allows. Raise it for a GPU node.
    max_queue_size: int = 256
    fusion: str = "weighted"  # one of FUSIONS
    # stacked fusion: a labelled file (labelled_rows.py: `text` / `label`, or a corpus's own layout) of rows no member
    # trained on, to fit the combiner on; None: the task's own held-out rows in the data folder (data.CORPORA[data].fusion_rows)
    fusion_rows: Path | None = None
    data: str = "toxicity"  # the task in the data folder (data.CORPORA): what demo members train and are scored on

    @property
    def weights(self) -> list[float]:
        """Fusion weights in member order."""
        return [m.weight for m in self.members]

    @property
    def outputs(self) -> tuple[str, str, str]:
        """The served output names: label, the fused probability of the second label, member probabilities."""
        return contract.outputs(self.labels)

    @property
    def members_model(self) -> str:
        """BLS builds: the ensemble of the members alone, which the served Python entry calls once per batch."""
        return members_model(self.name)


def members_model(served: str) -> str:
    """The name of BLS builds' ensemble of the members, beside the served model `served`."""
    return f"{served}_members"


def _field(table: dict, key: str, kind: type | tuple[type, ...], where: str, path: Path, default=None):
    """Read `key` from `table`, checking its type; missing keys take `default` unless it is None."""
    if key not in table:
        if default is None:
            raise SpecError(f"{path}: missing field `{where}{key}`")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SpecError(f"{path}: field `{where}{key}` must be {names}, got {value!r}")
    return value


def _path(value: str, path: Path) -> Path:
    """A path written in the spec: `~` expanded, relative ones anchored at the spec file's folder."""
    written = Path(value).expanduser()
    return written if written.is_absolute() else (path.parent / written).resolve()


def _member(table: dict, index: int, path: Path) -> Member:
    where = f"members[{index}]."
    name = _field(table, "name", str, where, path)
    if not name.isidentifier():
        raise SpecError(f"{path}: field `{where}name` must be a plain identifier, got {name!r}")
    checkpoint = _path(_field(table, "checkpoint", str, where, path), path)
    weight = float(_field(table, "weight", (int, float), where, path))
    if not (weight > 0 and math.isfinite(weight)):
        raise SpecError(f"{path}: field `{where}weight` must be positive, got {weight}")
    train = _field(table, "train", dict, where, path, default={})
    return Member(name=name, checkpoint=checkpoint, weight=weight,
                  train=_recipe(train, f"{where}train.", path) if train else None)


def _recipe(table: dict, where: str, path: Path) -> Recipe:
    known = {f.name: f for f in fields(Recipe)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise SpecError(f"{path}: unknown field `{where}{unknown[0]}`; known: {', '.join(known)}")
    values = {}
    for key, value in table.items():
        if key in CHOICES:
            choice = _field(table, key, str, where, path)
            if choice not in CHOICES[key]:
                raise SpecError(f"{path}: field `{where}{key}` must be one of {', '.join(CHOICES[key])}, "
                                f"got {choice!r}")
            values[key] = choice
            continue
        kind = (int, float) if known[key].type == "float" else int
        number = _field(table, key, kind, where, path)
        if not (number >= 0 and math.isfinite(number)) or (kind is int and key not in MAY_BE_ZERO and number == 0):
            raise SpecError(f"{path}: field `{where}{key}` must be {'positive' if kind is int else 'non-negative'}, "
                            f"got {number}")
        values[key] = float(number) if kind is not int else number
    if "seed" not in values:
        raise SpecError(f"{path}: missing field `{where}seed`")
    for share in ("distill", "augment"):
        if values.get(share, 0.0) > 1:
            raise SpecError(f"{path}: field `{where}{share}` must be within 0..1, got {values[share]}")
    if values.get("soup", 1) > 1 and values.get("warm_start", "none") == "none":
        raise SpecError(f"{path}: field `{where}soup` averages fine-tunes of one shared start: it needs "
                        f"`{where}warm_start`")
    return Recipe(**values)


def parse_spec(data: dict, path: Path) -> Spec:
    """Validate an already-parsed TOML document; `path` names it in errors and anchors relative paths."""
    defaults = Spec(path=path, members=())
    ensemble = _field(data, "ensemble", dict, "", path, default={})
    name = _field(ensemble, "name", str, "ensemble.", path, default=defaults.name)
    labels = tuple(_field(ensemble, "labels", list, "ensemble.", path, default=list(defaults.labels)))
    if len(labels) != 2 or not all(isinstance(x, str) and x for x in labels) or labels[0] == labels[1]:
        raise SpecError(f"{path}: field `ensemble.labels` must be two distinct names [label 0, label 1], "
                        f"got {labels!r}")
    if not contract.prob_output(labels).isidentifier():
        raise SpecError(f"{path}: field `ensemble.labels` names the probability output "
                        f"{contract.prob_output(labels)!r}: label 1 must be a plain identifier, got {labels[1]!r}")
    threshold = float(_field(ensemble, "threshold", (int, float), "ensemble.", path, default=defaults.threshold))
    if not 0.0 <= threshold < 1.0:
        raise SpecError(f"{path}: field `ensemble.threshold` must be in [0, 1), got {threshold}")
    max_tokens = _field(ensemble, "max_tokens", int, "ensemble.", path, default=defaults.max_tokens)
    if max_tokens < 3:
        raise SpecError(f"{path}: field `ensemble.max_tokens` must be at least 3, got {max_tokens}")
    max_batch_size = _field(ensemble, "max_batch_size", int, "ensemble.", path, default=defaults.max_batch_size)
    if max_batch_size < 1:
        raise SpecError(f"{path}: field `ensemble.max_batch_size` must be at least 1, got {max_batch_size}")

    limits = {key: _field(ensemble, key, int, "ensemble.", path, default=getattr(defaults, key))
              for key in ("max_comment_bytes", "queue_timeout_ms", "max_queue_size")}
    for key, value in limits.items():
        if value < 1:
            raise SpecError(f"{path}: field `ensemble.{key}` must be at least 1, got {value}")
    fusion = _field(ensemble, "fusion", str, "ensemble.", path, default=defaults.fusion)
    if fusion not in FUSIONS:
        raise SpecError(f"{path}: field `ensemble.fusion` must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    corpus = _field(ensemble, "data", str, "ensemble.", path, default=defaults.data)
    if corpus not in CORPORA:
        raise SpecError(f"{path}: field `ensemble.data` must be one of {', '.join(CORPORA)}, got {corpus!r}")
    fusion_rows = None
    if "fusion_rows" in ensemble:
        if fusion != "stacked":
            raise SpecError(f"{path}: field `ensemble.fusion_rows` is read by stacked fusion only, but "
                            f"`ensemble.fusion` is {fusion!r}")
        fusion_rows = _path(_field(ensemble, "fusion_rows", str, "ensemble.", path), path)
    elif fusion == "stacked" and CORPORA[corpus].fusion_rows is None:
        raise SpecError(f"{path}: field `ensemble.fusion` is stacked, but data {corpus!r} keeps no rows to fit it on: "
                        "set `ensemble.fusion_rows` to a labelled file")

    tables = _field(data, "members", list, "", path)
    if not tables:
        raise SpecError(f"{path}: field `members` must list at least one member")
    members = tuple(_member(t if isinstance(t, dict) else {}, i, path) for i, t in enumerate(tables))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: field `members` has duplicate names {names}")
    reserved = set(names) & {name, members_model(name), TOKENIZER_MODEL, FUSION_MODEL}
    if reserved:
        raise SpecError(f"{path}: field `members[*].name` uses reserved model names {sorted(reserved)}")
    for key, why in SHARED_RECIPE_FIELDS.items():
        values = {getattr(m.train, key) for m in members if m.train}
        if len(values) > 1:
            raise SpecError(f"{path}: field `members[*].train.{key}` must be equal ({why}), got {sorted(values)}")
    total = sum(m.weight for m in members)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise SpecError(f"{path}: field `members[*].weight` must sum to 1, got {total:.9g}")
    return Spec(path=path, members=members, name=name, labels=labels, threshold=threshold,
                max_tokens=max_tokens, max_batch_size=max_batch_size, fusion=fusion, fusion_rows=fusion_rows,
                data=corpus, **limits)


def load_spec(path: str | Path = DEFAULT_SPEC) -> Spec:
    """Read and validate a deployment spec file."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    return parse_spec(data, path)


def with_checkpoints(spec: Spec, checkpoints: dict[str, Path]) -> Spec:
    """The spec with each member's checkpoint replaced by `checkpoints[name]`, served as is (no training recipe)."""
    members = tuple(replace(m, checkpoint=checkpoints[m.name], train=None) for m in spec.members)
    return replace(spec, members=members)
