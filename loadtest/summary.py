"""Per-stage numbers from the per-request samples `locustfile.py` writes, and the capacity they imply."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

WARMUP_S = 1.0  # dropped at the start of every stage: locust adds the stage's users within its first second


def _percentile(latencies: list[float], q: float) -> float | None:
    return round(float(np.percentile(latencies, q)), 2) if latencies else None


def summarise(samples: Path, stages: list[int], stage_seconds: float, budget_ms: float) -> dict:
    """Per stage: requests, texts/s, p50/p95/p99 ms, failures; capacity = last stage before the first over budget.

`peak` is the stage with the most texts/s, within budget or not.
"""
    with samples.open() as f:
        rows = list(csv.DictReader(f))
    result = []
    for i, users in enumerate(stages):
        sel = [r for r in rows if int(r["stage"]) == i and float(r["start_s"]) - i * stage_seconds >= WARMUP_S]
        ok = [r for r in sel if r["ok"] == "1"]
        latencies = [float(r["latency_ms"]) for r in ok]
        result.append({"users": users, "requests": len(sel), "failures": len(sel) - len(ok),
                       "texts_per_s": round(sum(int(r["texts"]) for r in ok) / (stage_seconds - WARMUP_S), 2),
                       "p50_ms": _percentile(latencies, 50), "p95_ms": _percentile(latencies, 95),
                       "p99_ms": _percentile(latencies, 99)})
    capacity = None
    for stage in result:
        if stage["failures"] or not stage["requests"] or stage["p99_ms"] > budget_ms:
            break
        capacity = stage
    return {"budget_ms": budget_ms, "stage_seconds": stage_seconds, "warmup_s": WARMUP_S,
            "stages": result, "capacity": capacity, "peak": max(result, key=lambda s: s["texts_per_s"])}


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def write(result: dict, out: Path) -> str:
    """Write summary.json and summary.md into `out`; return the Markdown."""
    lines = ["| users | requests | texts/s | p50 ms | p95 ms | p99 ms | failures |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s['users']} | {s['requests']} | {s['texts_per_s']:.1f} | {_ms(s['p50_ms'])} | {_ms(s['p95_ms'])} "
              f"| {_ms(s['p99_ms'])} | {s['failures']} |" for s in result["stages"]]
    cap = result["capacity"]
    verdict = f"{cap['texts_per_s']:.1f} texts/s at {cap['users']} users" if cap else "none (the first stage is over)"
    peak = result["peak"]
    lines += ["", f"Capacity (p99 <= {result['budget_ms']:.0f} ms, no failures): {verdict}.",
              f"Peak throughput: {peak['texts_per_s']:.1f} texts/s at {peak['users']} users.",
              f"Each stage ran {result['stage_seconds']:g} s; its first {result['warmup_s']:g} s is dropped as warm-up."]
    cache = result.get("cache")
    if cache and cache["hits"] + cache["misses"]:
        lines.append(f"Response cache: {cache['hits']} hits, {cache['misses']} misses "
                     f"({cache['hits'] / (cache['hits'] + cache['misses']):.0%} of requests answered from the cache).")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    return text
