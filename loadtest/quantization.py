"""int8 choices measured: `quantize_dynamic` variants against fp32, for accuracy on the trained demo members
(BEEP! dev) and for speed on a shape-only KcELECTRA-base member (one comment at a time).

Run: .venv/bin/python loadtest/quantization.py [--comments 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from transformers import AutoTokenizer

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, beep, traffic_comments
from kotox_build.evaluation import binary_scores
from kotox_build.export import INT8_CHOICES, ONNX_OUTPUT, encode, quantize_int8
from kotox_build.pipeline import build
from kotox_build.repository import VERSION
from kotox_build.spec import Spec, load_spec
from agreement import agreement  # sibling in loadtest/, on sys.path when this file runs as a script

VARIANTS = {
    "QInt8 per-tensor": {"weight_type": "QInt8", "per_channel": False, "reduce_range": False},
    "QInt8 per-channel": {"weight_type": "QInt8", "per_channel": True, "reduce_range": False},
    "QInt8 reduce_range": {"weight_type": "QInt8", "per_channel": False, "reduce_range": True},
    "QUInt8 per-tensor": {"weight_type": "QUInt8", "per_channel": False, "reduce_range": False},
}


def session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def variant(fp32: Path, choices: dict | None, out: Path) -> Path:
    """`fp32` itself for the fp32 row, else its quantised copy written to `out`."""
    if choices is None:
        return fp32
    quantize_int8(fp32, out, **choices)
    return out


def toxic_probs(path: Path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Toxic probability of each one-comment feed."""
    s = session(path, os.cpu_count() or 1)
    logits = np.concatenate([s.run([ONNX_OUTPUT], f)[0] for f in feeds]).astype(np.float64)
    return 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))


def one_by_one(tokenizer, texts: list[str], max_tokens: int) -> list[dict[str, np.ndarray]]:
    """One unpadded feed per comment, as the served members see a single-comment request."""
    return [encode(tokenizer, [t], max_tokens) for t in texts]


def accuracy(spec: Spec, work: Path) -> dict[str, dict]:
    """Each variant of the demo members against their fp32 on BEEP! dev: agreement, drift, F1."""
    repo = build(spec, PROJECT_ROOT / "model_repository_bench" / "demo-fp32", runtime="python")
    rows = beep("dev")
    gold = np.array([label for _, label in rows])
    feeds = one_by_one(AutoTokenizer.from_pretrained(spec.members[0].checkpoint), [t for t, _ in rows], spec.max_tokens)
    weights = np.asarray(spec.weights)
    results = {}
    for name, choices in {"fp32": None, **VARIANTS}.items():
        members = []
        for member in spec.members:
            path = variant(repo / member.name / VERSION / "model.onnx", choices, work / f"{member.name}-{name}.onnx")
            members.append(toxic_probs(path, feeds))
        results[name] = {"members": np.stack(members, axis=1)}
        results[name]["fused"] = results[name]["members"] @ weights
    base = results["fp32"]
    return {name: {**agreement(base["members"], r["members"], base["fused"], r["fused"], spec.threshold),
                   "f1": binary_scores(gold, (r["fused"] > spec.threshold).astype(int))["f1"]}
            for name, r in results.items()}


def speed(work: Path, n_comments: int) -> dict[str, float]:
    """Comments/s of one shape-only KcELECTRA-base member per variant, one comment at a time, all cores."""
    spec = checkpoint_spec("shape-only", PROJECT_ROOT / "checkpoints" / "shape-only")
    repo = build(spec, PROJECT_ROOT / "model_repository_bench" / "fp32", runtime="python")
    member = spec.members[0]
    feeds = one_by_one(AutoTokenizer.from_pretrained(member.checkpoint), traffic_comments(n_comments), spec.max_tokens)
    fp32 = repo / member.name / VERSION / "model.onnx"
    rates = {}
    for name, choices in {"fp32": None, **VARIANTS}.items():
        s = session(variant(fp32, choices, work / f"base-{name}.onnx"), os.cpu_count() or 1)
        s.run([ONNX_OUTPUT], feeds[0])  # warm-up
        start = time.perf_counter()
        for f in feeds:
            s.run([ONNX_OUTPUT], f)
        rates[name] = len(feeds) / (time.perf_counter() - start)
        print(f"  {name}: {rates[name]:.1f} comments/s", flush=True)
    return rates


def main() -> None:
    """Measure every variant; print and write reports/quantization/quantization.{md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--comments", type=int, default=40, help="comments timed per variant for speed")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "quantization")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quality = accuracy(load_spec(), Path(tmp))
        rates = speed(Path(tmp), args.comments)
    chosen = next(name for name, choices in VARIANTS.items() if choices == INT8_CHOICES)
    lines = ["| variant | fused label agreement | member label agreement | max drift fused | max drift member | "
             "F1 (BEEP! dev) | base comments/s | x fp32 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, q in quality.items():
        lines.append(f"| {name}{' (build default)' if name == chosen else ''} | {q['label_agreement']:.2%} | "
                     f"{q['member_label_agreement']:.2%} | {q['max_drift_fused']:.4f} | {q['max_drift_member']:.4f} | "
                     f"{q['f1']:.4f} | {rates[name]:.1f} | {rates[name] / rates['fp32']:.2f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quantization.md").write_text(text)
    (args.out / "quantization.json").write_text(json.dumps({"quality": quality, "comments_per_s": rates}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
