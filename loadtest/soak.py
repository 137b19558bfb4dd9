"""Soak: open-loop single comments at a share of measured capacity for a bounded time; errors, p99 and the resident
memory of the server and every stub over time, with a plot. Pass: no error, no steady memory growth after warm-up.

Run: .venv/bin/python loadtest/soak.py [--minutes 10] [--share 0.8] [--repository model_repository]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from faults import COMMENTS, capacity, reference  # siblings in loadtest/, on sys.path when this file runs as a script
from kotox_build.data import PROJECT_ROOT
from openloop import open_loop, summary
from served import Launched

OUT = PROJECT_ROOT / "reports" / "soak"
WINDOW_S = 30.0  # one point of the plot per window
WARMUP_S = 60.0
# Before the run, a burst at 3x capacity makes the batchers form their largest batches (max_batch_size), so each
# allocator's high-water mark is reached before memory is measured: otherwise any later hiccup that forms a larger
# batch than before shows as a one-time step of a few MB (seen: members +6 %, tritonserver +5 %), not a leak.
BURST_FACTOR, BURST_S = 3.0, 5.0
MAX_GROWTH = 0.05


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample_memory(launched: Launched, samples: list[dict], stop: threading.Event, t0: float) -> None:
    while not stop.wait(5.0):
        server = launched.server_pid()
        row = {"t": time.monotonic() - t0, "tritonserver": rss_mb(server)}
        row.update({name: rss_mb(pid) for name, pid in launched.stubs().items()})
        samples.append(row)


def windows(outcomes, seconds: float) -> list[dict]:
    """Per window: requests, errors, p99 of the answered, and the generator's worst lateness against its schedule."""
    rows = []
    for start in np.arange(0, seconds, WINDOW_S):
        inside = [o for o in outcomes if start <= o.start_s < start + WINDOW_S]
        ok = [o.seconds * 1000 for o in inside if o.kind == "ok"]
        rows.append({"t": float(start + WINDOW_S), "requests": len(inside), "errors": len(inside) - len(ok),
                     "p99_ms": round(float(np.percentile(ok, 99)), 1) if ok else None,
                     "generator_late_max_ms": round(max((o.late_s * 1000 for o in inside), default=0.0), 1)})
    return rows


def growth(memory: list[dict]) -> dict[str, float]:
    """Per process: mean RSS of the last minute over the first minute after warm-up, minus 1."""
    late = [m for m in memory if m["t"] >= WARMUP_S]
    first, last = late[:12], late[-12:]
    names = [k for k in memory[-1] if k != "t"]
    return {n: round(np.mean([m.get(n, 0) for m in last]) / max(np.mean([m.get(n, 0) for m in first]), 1e-9) - 1, 4)
            for n in names}


def plot(rows: list[dict], memory: list[dict], path: Path) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 7), dpi=110)
    top.plot([r["t"] for r in rows], [r["p99_ms"] for r in rows], "o-", label="p99 of answered (ms)")
    top.bar([r["t"] for r in rows], [r["errors"] for r in rows], width=WINDOW_S * 0.6, color="tab:red",
            alpha=0.6, label="errors per window")
    top.set_ylabel("ms / count")
    top.legend()
    for name in [k for k in memory[-1] if k != "t"]:
        bottom.plot([m["t"] for m in memory], [m.get(name, np.nan) for m in memory], label=name)
    bottom.axvline(WARMUP_S, color="0.6", ls="--")
    bottom.set_ylabel("resident memory (MB)")
    bottom.set_xlabel("seconds")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and write reports/soak/{soak.json,soak.png}; exit 1 when it fails."""
    parser = argparse.ArgumentParser(prog="loadtest/soak.py", description=main.__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--share", type=float, default=0.8, help="share of measured capacity (default: %(default)s)")
    parser.add_argument("--repository", type=Path, default=PROJECT_ROOT / "model_repository")
    args = parser.parse_args(argv)
    if not 2 <= args.minutes <= 240 or not 0 < args.share <= 1:
        parser.error("--minutes must be within 2..240 and --share within (0, 1]")
    seconds = args.minutes * 60
    OUT.mkdir(parents=True, exist_ok=True)
    with Launched(args.repository) as launched:
        url = launched.ports.grpc_url
        measured = capacity(url, COMMENTS[:1], seconds=15, concurrency=8)
        if measured <= 0:
            raise SystemExit("soak: the server answered nothing while its capacity was measured")
        rate = args.share * measured
        burst = summary(open_loop(url, COMMENTS[:1], BURST_FACTOR * measured, BURST_S))
        print(f"soak: warm-up burst at {BURST_FACTOR:g}x capacity for {BURST_S:g} s: {burst}", flush=True)
        memory, stop = [], threading.Event()
        t0 = time.monotonic()
        sampler = threading.Thread(target=sample_memory, args=(launched, memory, stop, t0))
        sampler.start()
        outcomes = open_loop(url, COMMENTS[:1], rate, seconds, reference(url)[:1])
        stop.set()
        sampler.join()
    rows = windows(outcomes, seconds)
    errors = Counter(o.kind for o in outcomes if o.kind != "ok")
    late_ms = [o.late_s * 1000 for o in outcomes]
    result = {"minutes": args.minutes, "capacity_requests_per_s": round(measured, 1), "share": args.share,
              "rate_requests_per_s": round(rate, 1), "warmup_burst": burst,
              "requests": len(outcomes),
              "errors": sum(errors.values()), "errors_by_kind": dict(errors),
              "generator_late_ms": {"p99": round(float(np.percentile(late_ms, 99)), 1), "max": round(max(late_ms), 1)},
              "load_average_1_5_15_min": os.getloadavg(),
              "memory_growth_after_warmup": growth(memory), "windows": rows}
    result["passed"] = result["errors"] == 0 and all(g < MAX_GROWTH for g in result["memory_growth_after_warmup"].values())
    plot(rows, memory, OUT / "soak.png")
    (OUT / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "windows"}, indent=2))
    print(f"reports in {OUT}: soak.json, soak.png")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
