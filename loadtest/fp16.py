"""FP16 evidence for the GPU build: the demo members converted to FP16 ONNX (FP32 inputs and outputs kept), run by
ONNX Runtime on this CPU, against their FP32 export on BEEP! dev: label agreement, largest probability drift, F1.

Run: .venv/bin/python loadtest/fp16.py   (make fp16)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16
from transformers import AutoTokenizer

from kotox_build.data import PROJECT_ROOT, beep
from kotox_build.evaluation import binary_scores
from kotox_build.pipeline import build
from kotox_build.repository import VERSION
from kotox_build.spec import load_spec
from agreement import agreement  # siblings in loadtest/, on sys.path when this file runs as a script
from quantization import one_by_one, toxic_probs


def to_fp16(fp32: Path, out: Path) -> Path:
    """`fp32` with every weight and activation in FP16, its int64 inputs and FP32 logits unchanged."""
    onnx.save(convert_float_to_float16(onnx.load(fp32), keep_io_types=True), out)
    return out


def main() -> None:
    """Score BEEP! dev one comment at a time with both precisions; write reports/fp16/fp16.{md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "fp16")
    args = parser.parse_args()
    spec = load_spec()
    repo = build(spec, PROJECT_ROOT / "model_repository_bench" / "demo-fp32", runtime="python")
    rows = beep("dev")
    gold = np.array([label for _, label in rows])
    feeds = one_by_one(AutoTokenizer.from_pretrained(spec.members[0].checkpoint), [t for t, _ in rows], spec.max_tokens)
    probs: dict[str, list[np.ndarray]] = {"fp32": [], "fp16": []}
    with tempfile.TemporaryDirectory() as tmp:
        for member in spec.members:
            fp32 = repo / member.name / VERSION / "model.onnx"
            probs["fp32"].append(toxic_probs(fp32, feeds))
            probs["fp16"].append(toxic_probs(to_fp16(fp32, Path(tmp) / f"{member.name}-fp16.onnx"), feeds))
    members = {name: np.stack(p, axis=1) for name, p in probs.items()}
    fused = {name: m @ np.asarray(spec.weights) for name, m in members.items()}
    result = {**agreement(members["fp32"], members["fp16"], fused["fp32"], fused["fp16"], spec.threshold),
              "comments": len(rows),
              **{f"f1_{name}": binary_scores(gold, (f > spec.threshold).astype(int))["f1"] for name, f in fused.items()}}
    text = ("| comments | fused label agreement | member label agreement | max drift fused | max drift member | "
            "F1 fp32 | F1 fp16 |\n|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {len(rows)} | {result['label_agreement']:.2%} | {result['member_label_agreement']:.2%} | "
            f"{result['max_drift_fused']:.5f} | {result['max_drift_member']:.5f} | {result['f1_fp32']:.4f} | "
            f"{result['f1_fp16']:.4f} |\n")
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fp16.md").write_text(text)
    (args.out / "fp16.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
