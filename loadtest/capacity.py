"""Headless stepped-load capacity test of a running kotox server: locust CSV/HTML, per-stage summary, PNG plot.

Run: .venv/bin/python loadtest/capacity.py [--url 127.0.0.1:8001] [--stages 1,2,4,8] [--stage-seconds 20]
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from kotox_build.data import PROJECT_ROOT
from kotox_client import contract

HERE = Path(__file__).resolve().parent
WARMUP_S = 1.0  # the first second of each stage is dropped: users are still arriving
MAX_USERS = 256
MAX_SECONDS = 3600


def is_loopback(url: str) -> bool:
    """True when the host of host:port resolves only to loopback addresses."""
    host = url.rsplit(":", 1)[0].strip("[]")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(a).is_loopback for a in addresses)


def run_locust(args: argparse.Namespace, stages: list[int]) -> Path:
    """Run locust headless with the stepped shape; returns the per-request samples file."""
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.out / "samples.csv"
    env = dict(os.environ, KOTOX_STAGES=",".join(map(str, stages)), KOTOX_STAGE_SECONDS=str(args.stage_seconds),
               KOTOX_BATCH=str(args.batch), KOTOX_DUPLICATES=str(args.duplicates), KOTOX_MODEL=args.model,
               KOTOX_SAMPLES=str(samples))
    total = len(stages) * args.stage_seconds
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--host", args.url,
           "--csv", str(args.out / "locust"), "--html", str(args.out / "locust.html"),
           "--run-time", f"{int(total + 5)}s", "--stop-timeout", "5", "--only-summary", "--loglevel", "WARNING"]
    subprocess.run(cmd, env=env, check=True, timeout=total + 120)
    return samples


def summarise(samples: Path, stages: list[int], stage_seconds: float, budget_ms: float) -> dict:
    """Per stage: texts/s, p50/p95/p99 latency, failures; capacity = highest stage with p99 under budget."""
    with samples.open() as f:
        rows = [(float(r["t"]), float(r["latency_ms"]), int(r["rows"]), int(r["ok"])) for r in csv.DictReader(f)]
    t = np.array([r[0] - r[1] / 1000 for r in rows])  # request start times
    t0 = t.min()
    summary = []
    for i, users in enumerate(stages):
        lo, hi = t0 + i * stage_seconds + WARMUP_S, t0 + (i + 1) * stage_seconds
        sel = [r for r, start in zip(rows, t) if lo <= start < hi]
        ok = [r for r in sel if r[3]]
        lat = np.array([r[1] for r in ok]) if ok else np.array([np.nan])
        summary.append({"users": users, "requests": len(sel), "failures": len(sel) - len(ok),
                        "texts_per_s": sum(r[2] for r in ok) / (hi - lo),
                        "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                        "p99_ms": float(np.percentile(lat, 99))})
    within = [s for s in summary if s["failures"] == 0 and s["p99_ms"] <= budget_ms]
    capacity = max(within, key=lambda s: s["texts_per_s"]) if within else None
    return {"budget_ms": budget_ms, "stages": summary, "capacity": capacity}


def plot(result: dict, path: Path) -> None:
    """Throughput and p99 against users, with the latency budget and the capacity stage marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = result["stages"]
    users = [s["users"] for s in stages]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.plot(users, [s["texts_per_s"] for s in stages], "o-", color="tab:blue", label="throughput (texts/s)")
    ax.set_xlabel("concurrent users")
    ax.set_ylabel("texts / s", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xticks(users, [str(u) for u in users])
    ax.set_ylim(bottom=0)
    lat = ax.twinx()
    lat.plot(users, [s["p99_ms"] for s in stages], "s--", color="tab:red", label="p99 latency (ms)")
    lat.axhline(result["budget_ms"], color="tab:red", alpha=0.4, linestyle=":", label=f"budget {result['budget_ms']:.0f} ms")
    lat.set_ylabel("p99 latency (ms)", color="tab:red")
    lat.set_ylim(bottom=0)
    cap = result["capacity"]
    if cap:
        ax.axvline(cap["users"], color="tab:green", alpha=0.5)
        ax.annotate(f"capacity: {cap['texts_per_s']:.1f} texts/s\nat {cap['users']} users",
                    (cap["users"], cap["texts_per_s"]), textcoords="offset points", xytext=(-130, -40), color="tab:green")
    handles = ax.get_legend_handles_labels()[0] + lat.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    ax.set_title("kotox capacity: throughput rises until latency crosses the budget")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(result: dict, out: Path) -> str:
    """Write summary.json and summary.md; return the Markdown."""
    lines = ["| users | requests | texts/s | p50 ms | p95 ms | p99 ms | failures |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s['users']} | {s['requests']} | {s['texts_per_s']:.1f} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | "
              f"{s['p99_ms']:.0f} | {s['failures']} |" for s in result["stages"]]
    cap = result["capacity"]
    lines.append("")
    lines.append(f"Capacity (p99 <= {result['budget_ms']:.0f} ms, no failures): "
                 + (f"{cap['texts_per_s']:.1f} texts/s at {cap['users']} users" if cap else "none of the stages"))
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    return text


def main(argv: list[str] | None = None) -> int:
    """Run a bounded stepped load against a kotox server and report its capacity."""
    parser = argparse.ArgumentParser(prog="loadtest/capacity.py", description=main.__doc__)
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="Triton gRPC address (default: %(default)s)")
    parser.add_argument("--model", default=contract.ENSEMBLE)
    parser.add_argument("--stages", default="1,2,4,8", help="users per stage (default: %(default)s)")
    parser.add_argument("--stage-seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=1, help="comments per request")
    parser.add_argument("--budget-ms", type=float, default=500.0, help="p99 latency budget (default: %(default)s)")
    parser.add_argument("--duplicates", type=float, default=0.0, help="fraction of comments that repeat one comment")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "capacity")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback target")
    args = parser.parse_args(argv)
    stages = [int(u) for u in args.stages.split(",")]
    if not args.allow_remote and not is_loopback(args.url):
        parser.error(f"{args.url} is not a loopback address; pass --allow-remote to load-test another host")
    if max(stages) > MAX_USERS or len(stages) * args.stage_seconds > MAX_SECONDS or min(stages) < 1:
        parser.error(f"stages must be 1..{MAX_USERS} users and {MAX_SECONDS} s in all")
    samples = run_locust(args, stages)
    result = summarise(samples, stages, args.stage_seconds, args.budget_ms)
    plot(result, args.out / "capacity.png")
    print(write(result, args.out))
    print(f"reports in {args.out}: summary.md, summary.json, capacity.png, locust.html, locust_*.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
