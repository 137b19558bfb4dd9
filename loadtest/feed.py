"""What feeds a GPU: the CPU side of the ensemble (real tokenizer and fusion, Triton's plumbing) with members that
answer constants, measured with perf_analyzer as texts/s per CPU core, one comment per request and 32 per request.

Each variant changes the tokenizer's instance count or queue delay; it is served alone, on this machine's cores
shared with perf_analyzer. Run: .venv/bin/python loadtest/feed.py   (make feed)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_build.pipeline import build
from kotox_build.repository import GENERATED, VERSION, render
from kotox_build.spec import TOKENIZER_MODEL
from kotox_server.triton import Ports, TritonServer
from overhead import TRIVIAL_MODEL  # siblings in loadtest/, on sys.path when this file runs as a script
from perf import run_perf, write_input_data

PORTS = Ports(http=28440, grpc=28441, metrics=28442)
# name: (tokenizer instances, tokenizer max_queue_delay_microseconds)
VARIANTS = {"1 tokenizer": (1, 0), "2 tokenizers": (2, 0), "4 tokenizers": (4, 0),
            "2 tokenizers, 200 us delay": (2, 200)}
LOADS = {"c=1, 1 comment": (1, 1), "c=32, 1 comment": (1, 32), "c=4, 32 comments": (32, 4)}


def trivial_members(repository: Path, members: list[str], out: Path) -> Path:
    """`repository` copied with each member's `model.py` swapped for the constant-answering trivial model."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(repository, out)
    for name in members:
        shutil.copyfile(TRIVIAL_MODEL, out / name / VERSION / "model.py")
    return out


def set_tokenizer(repository: Path, instances: int, delay_us: int) -> None:
    """Rewrite the tokenizer's instance count and queue delay in place."""
    path = repository / TOKENIZER_MODEL / "config.pbtxt"
    config = text_format.Parse(path.read_text(encoding="utf-8"), mc.ModelConfig())
    config.instance_group[0].count = instances
    config.dynamic_batching.max_queue_delay_microseconds = delay_us
    path.write_text(GENERATED + render(config), encoding="utf-8")


def measure(repository: Path, model: str, data: Path, work: Path, window_s: float) -> dict[str, dict]:
    """Serve `repository` and run every load."""
    results = {}
    with TritonServer(repository, PORTS) as server:
        run_perf(server.ports.grpc_url, model, data, 1, 4, work / "warmup.csv", 1.0, 100)
        for load, (batch, concurrency) in LOADS.items():
            row = run_perf(server.ports.grpc_url, model, data, batch, concurrency, work / "run.csv", window_s, 30)
            results[load] = {"texts_per_s": row["texts_per_s"], "p50_ms": float(row["p50 latency"]) / 1000,
                             "p99_ms": float(row["p99 latency"]) / 1000}
    return results


def main() -> None:
    """Measure each variant; write reports/feed/feed.{md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--window-s", type=float, default=5.0, help="perf_analyzer measurement window")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "feed")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spec = checkpoint_spec("tiny", PROJECT_ROOT / "checkpoints" / "tiny")
    bench = PROJECT_ROOT / "model_repository_bench"
    base = build(spec, bench / "tiny", runtime="python")
    args.out.mkdir(parents=True, exist_ok=True)
    data = write_input_data(traffic_comments(1000), args.out / "input_data.json")
    cores = os.cpu_count() or 1
    results = {}
    for name in args.variants.split(","):
        repository = trivial_members(base, [m.name for m in spec.members], bench / "feed")
        set_tokenizer(repository, *VARIANTS[name])
        results[name] = measure(repository, spec.name, data, args.out, args.window_s)
        print(f"{name}: " + ", ".join(f"{load} {r['texts_per_s']:.0f} texts/s p50 {r['p50_ms']:.2f} ms"
                                      for load, r in results[name].items()), flush=True)
    lines = ["| tokenizer | " + " | ".join(f"{load} texts/s (per core) | p50 ms" for load in LOADS) + " |",
             "|---|" + "---:|---:|" * len(LOADS)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r[load]['texts_per_s']:.0f} ({r[load]['texts_per_s'] / cores:.0f}) | {r[load]['p50_ms']:.2f}"
            for load in LOADS) + " |")
    lines += ["", f"{cores} cores shared by the server and perf_analyzer; members answer constants (trivial_model.py)."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (args.out / "feed.md").write_text(text)
    (args.out / "feed.json").write_text(json.dumps({"cores": cores, "results": results}, indent=1))


if __name__ == "__main__":
    main()
