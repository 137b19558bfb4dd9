"""Same-run benchmark on shape-only KcELECTRA-base members: HF pipeline baseline vs kotox over gRPC (fp32, int8),
plus the int8 variant's label agreement with fp32 on BEEP! dev using the trained demo members.

Run: .venv/bin/python loadtest/benchmark.py [--comments 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, pipeline

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, beep, traffic_comments
from kotox_build.pipeline import build
from kotox_build.spec import Spec, load_spec
from kotox_client import ToxicityClient
from kotox_server.triton import Ports, TritonServer
from agreement import agreement  # siblings in loadtest/, on sys.path when this file runs as a script
from grpc_load import run_grpc, stats

CONCURRENCIES = (1, 2, 4, 8, 16)
PORTS = Ports(http=18100, grpc=18101, metrics=18102)


def run_pipeline_baseline(spec: Spec, comments: list[str]) -> tuple[dict, np.ndarray]:
    """What users write without Triton: a text-classification pipeline per member, one comment at a time."""
    torch.set_num_threads(os.cpu_count() or 1)
    pipes = [pipeline("text-classification", model=str(m.checkpoint), tokenizer=str(m.checkpoint), top_k=None,
                      truncation=True, max_length=spec.max_tokens, device="cpu") for m in spec.members]
    toxic = spec.labels[1]
    fused, latencies = [], []
    pipes[0](comments[0])  # warm-up
    start = time.perf_counter()
    for text in comments:
        t0 = time.perf_counter()
        probs = [next(s["score"] for s in p([text])[0] if s["label"] == toxic) for p in pipes]
        fused.append(float(np.dot(probs, spec.weights)))
        latencies.append(time.perf_counter() - t0)
    return stats(latencies, len(comments), time.perf_counter() - start), np.asarray(fused)


def gemm_ceiling(spec: Spec, comments: list[str]) -> dict:
    """Measured sgemm GFLOP/s over the members' matmul FLOPs per comment at the observed token lengths."""
    torch.set_num_threads(os.cpu_count() or 1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    reps, start = 10, time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    gflops = 2 * 2048**3 * reps / (time.perf_counter() - start) / 1e9
    tokenizer = AutoTokenizer.from_pretrained(spec.members[0].checkpoint)
    lengths = [len(ids) for ids in tokenizer(comments, truncation=True, max_length=spec.max_tokens)["input_ids"]]
    config = json.loads((spec.members[0].checkpoint / "config.json").read_text())
    h, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = 2 * layers * (4 * h * h + 2 * h * ffn)  # QKV + output projections + FFN, multiply-adds x2
    flops = len(spec.members) * np.mean([per_token * n + 2 * layers * 2 * n * n * h for n in lengths])
    return {"sgemm_gflops": gflops, "mean_tokens": float(np.mean(lengths)),
            "gflop_per_comment": flops / 1e9, "texts_per_s": gflops * 1e9 / flops}


def demo_int8_agreement(spec: Spec) -> dict:
    """The demo members served fp32 and int8 on BEEP! dev: label agreement and largest probability drift."""
    texts = [text for text, _ in beep("dev")]
    answers = {}
    for precision in ("fp32", "int8"):
        repo = build(spec, PROJECT_ROOT / "model_repository_bench" / f"demo-{precision}", runtime="python",
                     precision=precision)
        with TritonServer(repo, PORTS) as server, ToxicityClient(server.ports.grpc_url, spec.name) as client:
            answers[precision] = client.classify(texts)
    members = {p: np.array([[r.member_probs[m.name] for m in spec.members] for r in rs]) for p, rs in answers.items()}
    fused = {p: np.array([r.toxic_prob for r in rs]) for p, rs in answers.items()}
    scores = agreement(members["fp32"], members["int8"], fused["fp32"], fused["int8"], spec.threshold)
    return {f"demo_int8_vs_fp32_{key}": value for key, value in scores.items()}


def serve_and_measure(repo: Path, comments: list[str], seconds: float, model: str) -> tuple[dict, np.ndarray]:
    """Start the server on `repo`; measure concurrency 1 and the sweep; return rows and per-comment probabilities."""
    rows, probs = {}, None
    with TritonServer(repo, PORTS) as server:
        for c in CONCURRENCIES:
            rows[c], p = run_grpc(server.ports.grpc_url, model, comments, c, seconds)
            probs = p if probs is None else np.where(np.isnan(probs), p, probs)
            print(f"  concurrency {c:>2}: {rows[c]['texts_per_s']:.1f} texts/s, p50 {rows[c]['p50_ms']:.0f} ms, "
                  f"p99 {rows[c]['p99_ms']:.0f} ms", flush=True)
    return rows, probs


def main() -> None:
    """Run every contender over the same comments in one process and write the table."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--comments", type=int, default=200)
    parser.add_argument("--baseline-comments", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "benchmark")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    spec = checkpoint_spec("shape-only", PROJECT_ROOT / "checkpoints" / "shape-only")
    comments = traffic_comments(args.comments)
    print("ceiling: measuring sgemm", flush=True)
    ceiling = gemm_ceiling(spec, comments)
    print(f"baseline: HF pipeline, one comment at a time, {args.baseline_comments} comments", flush=True)
    baseline, baseline_probs = run_pipeline_baseline(spec, comments[:args.baseline_comments])
    rows = {"HF pipeline, 1 at a time": baseline}
    served = {}
    for precision in ("fp32", "int8"):
        repo = PROJECT_ROOT / "model_repository_bench" / precision
        build(spec, repo, runtime="python", precision=precision)
        print(f"kotox {precision}:", flush=True)
        sweep, served[precision] = serve_and_measure(repo, comments, args.seconds, spec.name)
        best = max(sweep, key=lambda c: sweep[c]["texts_per_s"])
        rows[f"kotox {precision}, concurrency 1"] = sweep[1]
        rows[f"kotox {precision}, concurrency {best} (saturated)"] = sweep[best]
    rows["GEMM ceiling"] = {"texts_per_s": ceiling["texts_per_s"]}

    n = args.baseline_comments
    checks = {
        "fp32_vs_pytorch_max_abs_diff": float(np.nanmax(np.abs(served["fp32"][:n] - baseline_probs))),
        "int8_vs_fp32_max_abs_diff": float(np.nanmax(np.abs(served["int8"] - served["fp32"]))),
        "int8_vs_fp32_label_agreement": float(np.nanmean((served["int8"] > spec.threshold)
                                                         == (served["fp32"] > spec.threshold))),
    }
    print("int8 agreement: demo members, fp32 vs int8, BEEP! dev", flush=True)
    checks.update(demo_int8_agreement(load_spec()))
    write_report(args.out, rows, baseline["texts_per_s"], ceiling, checks)


def write_report(out: Path, rows: dict, base: float, ceiling: dict, checks: dict) -> None:
    """Print the table and write it as Markdown and JSON."""
    lines = ["| contender | texts/s | p50 ms | p99 ms | x pipeline | of ceiling |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        fmt = lambda k: f"{r[k]:.0f}" if k in r else "–"  # noqa: E731
        lines.append(f"| {name} | {r['texts_per_s']:.1f} | {fmt('p50_ms')} | {fmt('p99_ms')} | "
                     f"{r['texts_per_s'] / base:.2f} | {r['texts_per_s'] / ceiling['texts_per_s']:.0%} |")
    notes = [f"- GEMM ceiling: sgemm {ceiling['sgemm_gflops']:.0f} GFLOP/s / {ceiling['gflop_per_comment']:.2f} "
             f"GFLOP per comment (both members, mean {ceiling['mean_tokens']:.1f} tokens)"]
    notes += [f"- {k}: {v:.3g}" for k, v in checks.items()]
    text = "\n".join(lines + [""] + notes) + "\n"
    print("\n" + text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.md").write_text(text)
    (out / "benchmark.json").write_text(json.dumps({"rows": rows, "ceiling": ceiling, "checks": checks}, indent=1))


if __name__ == "__main__":
    main()
