"""Build a model repository from a spec: demo members trained (cached), ONNX exports (incremental), rendered configs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from kotox_build import export, repository, stamps
from kotox_build.spec import FUSION_MODEL, TOKENIZER_MODEL, Member, Spec
from kotox_build.stacking import COMBINER, fit_stacked, fusion_rows_of
from kotox_build.training import train_members

STAMP = "export.json"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


class BuildError(RuntimeError):
    """The build cannot go on; the message says which member and why."""


def auto_runtime() -> str:
    """`onnxruntime` where the server that will run has that backend (the official container), else `python`."""
    from kotox_server.binary import find_server

    return "onnxruntime" if find_server().has_onnxruntime else "python"


def load_tokenizer(member: Member) -> PreTrainedTokenizerFast:
    """The member's fast (Rust) tokenizer."""
    if not (member.checkpoint / "config.json").exists():
        raise BuildError(f"member {member.name}: no checkpoint at {member.checkpoint} (a save_pretrained folder)")
    tokenizer = AutoTokenizer.from_pretrained(member.checkpoint)
    if not tokenizer.is_fast:
        raise BuildError(f"member {member.name}: tokenizer has no fast (Rust) version")
    return tokenizer


def shared_tokenizer(spec: Spec) -> PreTrainedTokenizerFast:
    """The one tokenizer all members share; fail naming the members whose tokenizer differs."""
    tokenizers = {m.name: load_tokenizer(m) for m in spec.members}
    signature = {name: (t.backend_tokenizer.to_str(), t.pad_token_id) for name, t in tokenizers.items()}
    first = spec.members[0].name
    differ = [name for name, sig in signature.items() if sig != signature[first]]
    if differ:
        raise BuildError(f"members {[first] + differ} do not share one tokenizer: "
                         f"{differ} differ from {first}; all members must use the same tokenizer files")
    return tokenizers[first]


def export_stamp(member: Member, spec: Spec, precision: str) -> str:
    """Hash of everything an export depends on: checkpoint files, max tokens, precision, exporter source."""
    digest = hashlib.sha256()
    for name in CHECKPOINT_FILES:
        path = member.checkpoint / name
        if path.exists():
            digest.update(name.encode())
            stamps.hash_file(digest, path)
    digest.update(f"{spec.max_tokens}/{precision}".encode())
    digest.update(Path(export.__file__).read_bytes())
    return digest.hexdigest()


def check_weights(member: Member, allow_pickle: bool) -> None:
    """Refuse a checkpoint whose weights are only a pickle (`pytorch_model.bin`) unless `allow_pickle`: unpickling
    runs whatever code the file names, so a tampered checkpoint would run on the build machine."""
    if allow_pickle or (member.checkpoint / "model.safetensors").exists():
        return
    if (member.checkpoint / "pytorch_model.bin").exists():
        raise BuildError(f"member {member.name}: {member.checkpoint} has pytorch_model.bin (a pickle, which can run "
                         "code when loaded) and no model.safetensors; re-save it with save_pretrained(..., "
                         "safe_serialization=True), or build with --allow-pickle if you trust its source")
    raise BuildError(f"member {member.name}: {member.checkpoint} has no model.safetensors")


def export_if_changed(member: Member, spec: Spec, precision: str, version_dir: Path, step: str,
                      allow_pickle: bool = False) -> None:
    """Export `member` into `version_dir/model.onnx` unless the stamp shows it is up to date."""
    check_weights(member, allow_pickle)
    onnx_path = version_dir / "model.onnx"
    stamp_path = version_dir.parent / STAMP
    stamp = export_stamp(member, spec, precision)
    if stamps.is_current(onnx_path, stamp_path, stamp):
        print(f"{step} {member.name}: up to date, export skipped", flush=True)
        return
    diff = export.export_member(member.checkpoint, onnx_path, spec.max_tokens, precision,
                                log=lambda msg: print(f"{step} {member.name}: {msg}", flush=True),
                                allow_pickle=allow_pickle)
    stamps.write_stamp(stamp_path, stamp, precision=precision, max_abs_diff_vs_torch=diff)


def gpu_choices(runtime: str, precision: str | None) -> tuple[str, str]:
    """Runtime and TensorRT precision of a GPU build: the ONNX Runtime backend, fp16 unless told otherwise."""
    if runtime not in ("auto", "onnxruntime"):
        raise BuildError(f"--device gpu runs members on the ONNX Runtime backend (TensorRT); runtime {runtime!r} "
                         "is CPU-only")
    precision = precision or "fp16"
    if precision not in repository.GPU_PRECISIONS:
        raise BuildError(f"unknown GPU precision {precision!r}; choose one of {repository.GPU_PRECISIONS} "
                         "(int8 is the CPU build's dynamic quantisation)")
    return "onnxruntime", precision


def build(spec: Spec, out: Path, runtime: str = "auto", threads: int | None = None, precision: str | None = None,
          device: str = "cpu", cpu_instances: int | None = None, allow_pickle: bool = False,
          entry: str | None = None) -> Path:
    """Write the model repository for `spec` into `out`; returns `out`. `entry` (default: bls on gpu, else ensemble)
    picks the served model: the Triton ensemble, or one Python model calling the members' ensemble per batch."""
    if device not in repository.DEVICES:
        raise BuildError(f"unknown device {device!r}; choose one of {repository.DEVICES}")
    entry = entry or ("bls" if device == "gpu" else "ensemble")
    if entry not in repository.ENTRIES:
        raise BuildError(f"unknown entry {entry!r}; choose one of {repository.ENTRIES}")
    if device == "gpu":
        runtime, gpu_precision = gpu_choices(runtime, precision)
        precision = "fp32"  # TensorRT lowers the fp32 export to fp16 itself
    runtime = auto_runtime() if runtime == "auto" else runtime
    if runtime not in repository.RUNTIMES:
        raise BuildError(f"unknown runtime {runtime!r}; choose one of {repository.RUNTIMES} or auto")
    threads = threads or max(1, (os.cpu_count() or 1) // len(spec.members))
    precision = precision or "fp32"
    if precision not in export.PRECISIONS:
        raise BuildError(f"unknown precision {precision!r}; choose one of {export.PRECISIONS}")
    if cpu_instances is not None and cpu_instances < 1:
        raise BuildError(f"CPU instances (tokenizer, fusion) must be at least 1, got {cpu_instances}")
    if entry == "bls" and cpu_instances is not None and cpu_instances < repository.BLS_MIN_INSTANCES:
        raise BuildError(f"the BLS entry needs at least {repository.BLS_MIN_INSTANCES} CPU instances, got "
                         f"{cpu_instances}: one alone stalls requests 500 ms under its queue policy (Triton 2.51)")
    instances = cpu_instances or repository.cpu_instances(os.cpu_count() or 1, entry, device)
    what = f"TensorRT {gpu_precision}" if device == "gpu" else precision
    print(f"kotox build: {len(spec.members)} members -> {out} (member runtime: {runtime} on {device}, {what}; "
          f"{instances} {'BLS entry' if entry == 'bls' else 'tokenizer and fusion'} instance(s))", flush=True)
    out.mkdir(parents=True, exist_ok=True)

    fusion_rows = fusion_rows_of(spec) if spec.fusion == "stacked" else None  # read first: a bad file fails fast
    train_members(spec)
    tokenizer = shared_tokenizer(spec)
    tok_config = repository.tokenizer_config(spec, tokenizer.pad_token_id, runtime, instances)
    if device == "gpu" and entry == "ensemble":
        repository.tokenizer_for_gpu(tok_config)

    encoded = tokenizer(repository.WARMUP_COMMENT, return_token_type_ids=True)
    warmup_ids = {name: encoded[name] for name in export.ONNX_INPUTS}
    for i, member in enumerate(spec.members, 1):
        config = repository.member_config(spec, member.name, runtime, threads)
        if device == "gpu":
            repository.on_gpu(config, spec, gpu_precision)
        warmup_files = repository.warmup(config, warmup_ids)
        version_dir = repository.write_model(out, config, "onnx_member.py" if runtime == "python" else None,
                                             ("refusals.py",), warmup_files=warmup_files)
        if device == "gpu":
            (version_dir.parent / repository.TRT_CACHE).mkdir(exist_ok=True)  # TensorRT writes engines here
        export_if_changed(member, spec, precision, version_dir, f"[{i}/{len(spec.members)}]", allow_pickle)

    stacked = None
    if spec.fusion == "stacked":
        stacked = fit_stacked(spec, out, tokenizer, repository.VERSION, fusion_rows)
        print(f"kotox build: stacked fusion fitted on {stacked['fitted_on']}: {COMBINER}, coefficients "
              f"{[round(c, 3) for c in stacked['coefficients']]}, intercept {stacked['intercept']:.3f}", flush=True)
    fusion_config = repository.fusion_config(spec, stacked, instances)
    if entry == "bls":
        entry_config = repository.bls_entry_config(spec, tok_config, fusion_config)
        tok_dir = repository.write_model(out, entry_config, "bls_entry.py", ("tokenizer.py", "fusion.py", "refusals.py"))
        repository.write_model(out, repository.members_config(spec, runtime))
        served = {spec.name, spec.members_model}
    else:
        tok_dir = repository.write_model(out, tok_config, "tokenizer.py", ("refusals.py",))
        repository.write_model(out, fusion_config, "fusion.py")
        repository.write_model(out, repository.ensemble_config(spec, runtime))
        served = {TOKENIZER_MODEL, FUSION_MODEL, spec.name}
    tokenizer.save_pretrained(tok_dir)
    repository.remove_stale(out, {*served, *(m.name for m in spec.members)})
    print(f"kotox build: repository ready at {out}", flush=True)
    return out
