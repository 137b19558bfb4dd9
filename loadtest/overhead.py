"""Ensemble overhead: kotox on `tiny` members against the same repository with every step answering constants.

Both are served the same way, one after the other, in rounds (A, B, A, B ...), and driven by the same gRPC load;
the ratio says what the real tokenizer, members and fusion add on top of Triton's own plumbing.
Run: .venv/bin/python loadtest/overhead.py [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_build.pipeline import build
from kotox_build.repository import VERSION
from kotox_build.spec import TOKENIZER_MODEL, Spec
from kotox_server.triton import Ports, TritonServer
from grpc_load import run_grpc  # sibling in loadtest/, on sys.path when this file runs as a script

TRIVIAL_MODEL = Path(__file__).with_name("trivial_model.py")
CONCURRENCIES = (1, 8)
PORTS = Ports(http=18110, grpc=18111, metrics=18112)


def trivial_copy(repository: Path, out: Path) -> Path:
    """`repository` with every Python step's `model.py` replaced by the constant-answering trivial model."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(repository, out)
    for model_py in out.glob(f"*/{VERSION}/model.py"):
        shutil.copyfile(TRIVIAL_MODEL, model_py)
    return out


def measure(repository: Path, model: str, comments: list[str], seconds: float) -> dict[int, dict]:
    """Serve `repository` and run each concurrency level for `seconds`."""
    with TritonServer(repository, PORTS) as server:
        run_grpc(server.ports.grpc_url, model, comments, 1, 1.0)  # warm-up
        return {c: run_grpc(server.ports.grpc_url, model, comments, c, seconds)[0] for c in CONCURRENCIES}


def compute_floor_us(repository: Path, spec: Spec, comments: list[str]) -> dict[str, float]:
    """Mean microseconds per comment of the real work alone (tokenizing, each member's ONNX Runtime run), warm,
    one comment at a time on one thread: what no plumbing can remove."""
    tokenizer = Tokenizer.from_file(str(repository / TOKENIZER_MODEL / VERSION / "tokenizer.json"))
    tokenizer.enable_truncation(spec.max_tokens)
    encodings = [tokenizer.encode(c) for c in comments]
    feeds = [{"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask]),
              "token_type_ids": np.array([e.type_ids])} for e in encodings]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    work = {"tokenizer": lambda: [tokenizer.encode(c) for c in comments]}
    for member in spec.members:
        session = ort.InferenceSession(str(repository / member.name / VERSION / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        work[member.name] = lambda s=session: [s.run(["logits"], f) for f in feeds]
    floor = {}
    for name, job in work.items():
        job()  # warm-up
        floor[name] = min(_seconds(job) for _ in range(3)) / len(comments) * 1e6
    return floor


def _seconds(job) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def main() -> None:
    """Measure both repositories in alternating rounds; write reports/overhead/overhead.{md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "overhead")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    spec = checkpoint_spec("tiny", PROJECT_ROOT / "checkpoints" / "tiny")
    bench = PROJECT_ROOT / "model_repository_bench"
    repositories = {"trivial": trivial_copy(build(spec, bench / "tiny", runtime="python"), bench / "trivial"),
                    "kotox tiny": bench / "tiny"}
    comments = traffic_comments(200)
    runs: dict[str, list[dict[int, dict]]] = {name: [] for name in repositories}
    for r in range(args.rounds):
        for name, repository in repositories.items():
            runs[name].append(measure(repository, spec.name, comments, args.seconds))
            print(f"round {r + 1} {name}: " + ", ".join(
                f"c={c} {m['texts_per_s']:.0f} texts/s p50 {m['p50_ms']:.2f} ms" for c, m in runs[name][-1].items()),
                flush=True)
    median = {name: {c: {k: float(np.median([run[c][k] for run in rs])) for k in ("texts_per_s", "p50_ms", "p99_ms")}
                     for c in CONCURRENCIES} for name, rs in runs.items()}
    floor = compute_floor_us(repositories["kotox tiny"], spec, comments)
    trivial_cpu_us = (os.cpu_count() or 1) / median["trivial"][8]["texts_per_s"] * 1e6  # saturated: all cores busy
    ratios = {"p50_ratio_c1": median["kotox tiny"][1]["p50_ms"] / median["trivial"][1]["p50_ms"],
              "throughput_ratio_c8": median["trivial"][8]["texts_per_s"] / median["kotox tiny"][8]["texts_per_s"],
              "throughput_ratio_floor": 1 + sum(floor.values()) / trivial_cpu_us}
    lines = ["| ensemble | c=1 p50 ms | c=1 p99 ms | c=1 texts/s | c=8 p50 ms | c=8 texts/s |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in median.items():
        lines.append(f"| {name} | {m[1]['p50_ms']:.2f} | {m[1]['p99_ms']:.2f} | {m[1]['texts_per_s']:.0f} | "
                     f"{m[8]['p50_ms']:.2f} | {m[8]['texts_per_s']:.0f} |")
    lines += ["", f"Medians of {args.rounds} alternating rounds of {args.seconds:.0f} s per level, one comment per request.",
              f"- kotox / trivial p50 at concurrency 1: {ratios['p50_ratio_c1']:.2f}x",
              f"- trivial / kotox throughput at concurrency 8: {ratios['throughput_ratio_c8']:.2f}x",
              "- real work alone, per comment (warm, one thread): "
              + ", ".join(f"{name} {us:.0f} us" for name, us in floor.items())
              + f"; the trivial ensemble spends {trivial_cpu_us:.0f} us of CPU per comment at concurrency 8, so "
              f"even free plumbing leaves kotox at >= {ratios['throughput_ratio_floor']:.2f}x its throughput"]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "overhead.md").write_text(text)
    (args.out / "overhead.json").write_text(json.dumps({"median": median, "ratios": ratios, "floor_us": floor, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
