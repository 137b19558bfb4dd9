"""Triton's own load tester against a running kotox server: perf_analyzer with real comments, single-comment and
batched requests over a concurrency sweep, then locust at one concurrency on the same server for comparison.

Run: .venv/bin/python loadtest/perf.py [--url 127.0.0.1:8001]   (make perf; needs libb64 and libcudart, see README)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_client import contract

HERE = Path(__file__).resolve().parent
AGREEMENT = 0.15  # largest relative texts/s difference between the two tools still called agreement


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children so far: the load generators it ran."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def perf_analyzer() -> Path:
    """The perf_analyzer binary the tritonclient wheel put beside this Python."""
    path = Path(sys.executable).parent / "perf_analyzer"
    if not path.exists():
        raise SystemExit(f"no perf_analyzer at {path}: install tritonclient (make setup)")
    return path


def perf_env() -> dict[str, str]:
    """perf_analyzer links libcudart.so.12 even for CPU servers: the nvidia-cuda-runtime-cu12 wheel's lib folder."""
    try:
        import nvidia.cuda_runtime
    except ImportError:
        raise SystemExit("perf_analyzer needs libcudart.so.12: run `make perf-tools` (pip nvidia-cuda-runtime-cu12)")
    lib = Path(next(iter(nvidia.cuda_runtime.__path__))) / "lib"
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(lib), env.get("LD_LIBRARY_PATH")]))
    return env


def write_input_data(comments: list[str], path: Path) -> Path:
    """perf_analyzer's JSON input: one comment per entry; batched requests draw their rows from these entries."""
    data = [{contract.INPUT_TEXT: {"content": [text], "shape": [1]}} for text in comments]
    path.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def run_perf(url: str, model: str, data: Path, batch: int, concurrency: int, csv_path: Path,
             window_s: float = 5.0, stability: int = 25) -> dict:
    """One perf_analyzer measurement over gRPC; returns its CSV row with texts/s and requests/s added."""
    cmd = [str(perf_analyzer()), "-m", model, "-u", url, "-i", "grpc", "--input-data", str(data),
           "-b", str(batch), "--concurrency-range", f"{concurrency}:{concurrency}",
           "--measurement-interval", str(int(window_s * 1000)), "--stability-percentage", str(stability),
           "--max-trials", "10", "-f", str(csv_path)]
    cpu, start = children_cpu_s(), time.monotonic()
    run = subprocess.run(cmd, env=perf_env(), capture_output=True, text=True)
    cpu, wall = children_cpu_s() - cpu, time.monotonic() - start
    if run.returncode != 0 and "stable measurement" in run.stdout + run.stderr:
        return {"batch": batch, "Concurrency": str(concurrency), "unstable": True}
    if run.returncode != 0:
        raise SystemExit(f"perf_analyzer failed (batch {batch}, concurrency {concurrency}):\n{run.stdout}{run.stderr}")
    with csv_path.open() as f:
        row = next(csv.DictReader(f))
    return {"batch": batch, "texts_per_s": float(row["Inferences/Second"]),
            "requests_per_s": float(row["Inferences/Second"]) / batch, "load_generator_cpu_s": cpu, "wall_s": wall, **row}


def run_locust(args: argparse.Namespace, concurrency: int, out: Path) -> dict:
    """locust (loadtest/capacity.py) with `concurrency` users, one comment per request, on the same server."""
    cmd = [sys.executable, str(HERE / "capacity.py"), "--url", args.url, "--model", args.model,
           "--stages", str(concurrency), "--stage-seconds", str(args.locust_seconds), "--out", str(out)]
    cpu = children_cpu_s()
    run = subprocess.run(cmd, capture_output=True, text=True)
    cpu = children_cpu_s() - cpu
    if run.returncode != 0:
        raise SystemExit(f"locust run failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    stage = json.loads((out / "summary.json").read_text())["stages"][0]
    return {**stage, "load_generator_cpu_s": cpu, "seconds": args.locust_seconds}


def compare(args: argparse.Namespace, data: Path, work: Path) -> list[tuple[dict, dict]]:
    """perf_analyzer and locust at `--compare-at` users, one comment per request, alternating for `--compare-rounds`
    so that load from elsewhere on the machine falls on both alike."""
    pairs = []
    for r in range(args.compare_rounds):
        perf = run_perf(args.url, args.model, data, 1, args.compare_at, work / f"compare_{r}.csv", args.window_s,
                        args.stability)
        if perf.get("unstable"):  # take the mean over its windows, however much they moved
            perf = run_perf(args.url, args.model, data, 1, args.compare_at, work / f"compare_{r}.csv", args.window_s,
                            100)
        pairs.append((perf, run_locust(args, args.compare_at, work / f"locust_c{args.compare_at}_{r}")))
        print(f"compare round {r + 1}: perf_analyzer {pairs[-1][0]['texts_per_s']:.0f} texts/s, "
              f"locust {pairs[-1][1]['texts_per_s']:.0f}", flush=True)
    return pairs


def summary(rows: list[dict], pairs: list[tuple[dict, dict]], concurrency: int) -> str:
    """Markdown: the sweep, then perf_analyzer against locust at one concurrency (medians of the rounds)."""
    lines = ["| comments per request | concurrency | texts/s | requests/s | p50 ms | p99 ms |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {r['Concurrency']} | unstable: throughput or latency moved more than --stability "
              f"between windows | | | |" if r.get("unstable") else
              f"| {r['batch']} | {r['Concurrency']} | {r['texts_per_s']:.0f} | {r['requests_per_s']:.0f} | "
              f"{float(r['p50 latency']) / 1000:.2f} | {float(r['p99 latency']) / 1000:.2f} |" for r in rows]
    perf_tps = statistics.median(p["texts_per_s"] for p, _ in pairs)
    locust_tps = statistics.median(loc["texts_per_s"] for _, loc in pairs)
    diff = locust_tps / perf_tps - 1
    verdict = "agree" if abs(diff) <= AGREEMENT else "DISAGREE"
    perf_cores = statistics.median(p["load_generator_cpu_s"] / p["wall_s"] for p, _ in pairs)
    locust_cores = statistics.median(loc["load_generator_cpu_s"] / loc["seconds"] for _, loc in pairs)
    lines += ["", f"At concurrency {concurrency}, one comment per request, {len(pairs)} alternating rounds "
              f"(perf_analyzer, locust, ...): perf_analyzer " + ", ".join(f"{p['texts_per_s']:.0f}" for p, _ in pairs)
              + " texts/s, locust " + ", ".join(f"{loc['texts_per_s']:.0f}" for _, loc in pairs)
              + f"; medians {perf_tps:.0f} vs {locust_tps:.0f}: {diff:+.0%}, the tools {verdict} within {AGREEMENT:.0%}.",
              f"Load generator CPU while it ran (median): locust {locust_cores:.2f} cores, perf_analyzer "
              f"{perf_cores:.2f} cores. Both run on this machine beside the server ({os.cpu_count()} cores): CPU a load "
              "generator takes is CPU the server does not get, so where the server is CPU-bound the lighter tool "
              "measures more."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Sweep perf_analyzer over batch sizes and concurrencies; write reports/capacity/perf_analyzer.{csv,md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="Triton gRPC host:port (default: %(default)s)")
    parser.add_argument("--model", default=contract.ENSEMBLE)
    parser.add_argument("--batches", default="1,32", help="comments per request (default: %(default)s)")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32",
                        help="levels of the single-comment sweep (default: %(default)s)")
    parser.add_argument("--batched-concurrency", default="1,2,4,8",
                        help="levels for batched requests, each already many comments (default: %(default)s)")
    parser.add_argument("--compare-at", type=int, default=8, help="concurrency where locust runs too")
    parser.add_argument("--compare-rounds", type=int, default=3, help="alternating perf_analyzer/locust rounds")
    parser.add_argument("--comments", type=int, default=1000, help="distinct real comments in the input data")
    parser.add_argument("--window-s", type=float, default=5.0, help="perf_analyzer measurement window")
    parser.add_argument("--stability", type=int, default=25,
                        help="%% spread of throughput and latency across 3 windows that counts as stable")
    parser.add_argument("--locust-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "capacity")
    args = parser.parse_args()
    work = args.out / "perf_analyzer"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = write_input_data(traffic_comments(args.comments), work / "input_data.json")
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        levels = args.concurrency if batch == 1 else args.batched_concurrency
        for concurrency in (int(c) for c in levels.split(",")):
            rows.append(run_perf(args.url, args.model, data, batch, concurrency, work / f"b{batch}_c{concurrency}.csv",
                                 args.window_s, args.stability))
            print(f"perf_analyzer batch {batch} concurrency {concurrency}: "
                  f"{'unstable' if rows[-1].get('unstable') else format(rows[-1]['texts_per_s'], '.0f') + ' texts/s'}",
                  flush=True)
    pairs = compare(args, data, work)
    text = summary(rows, pairs, args.compare_at)
    print("\n" + text)
    columns = list(dict.fromkeys(["batch", "texts_per_s", "requests_per_s", "unstable"] + [k for r in rows for k in r]))
    with (args.out / "perf_analyzer.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "perf_analyzer.md").write_text(text)
    comparison = [{"perf_analyzer": p, "locust": loc} for p, loc in pairs]
    (args.out / "perf_analyzer.json").write_text(json.dumps({"sweep": rows, "comparison": comparison}, indent=1))


if __name__ == "__main__":
    main()
