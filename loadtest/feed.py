"""What feeds a GPU: the CPU side of the ensemble (real tokenizer and fusion, Triton's plumbing) with members that
answer constants, measured with perf_analyzer as texts/s per CPU core, one comment per request and 32 per request.

Each variant picks the served entry (the ensemble, or the BLS entry of GPU builds: one Python model tokenizing,
calling the members once per batch and fusing) and changes the tokenizer's (or entry's) instance count or the
tokenizer's and fusion's queue delays; it is served alone, on this machine's cores shared with perf_analyzer. Then
LATENCY_VARIANTS are served at once and compared at concurrency 1 over alternating rounds.
Run: .venv/bin/python loadtest/feed.py   (make feed)
"""

from __future__ import annotations

import argparse
import json
import statistics
import os
import resource
import shutil
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import tritonclient.grpc as grpcclient

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_build.pipeline import build
from kotox_build.repository import ENTRIES, GENERATED, VERSION, render
from kotox_build.spec import FUSION_MODEL, TOKENIZER_MODEL, Spec
from kotox_server.triton import Ports, TritonServer
from overhead import TRIVIAL_MODEL  # siblings in loadtest/, on sys.path when this file runs as a script
from perf import run_perf, write_input_data

PORTS = Ports(http=28440, grpc=28441, metrics=28442)
QUEUE_TIMEOUT_MS = 10_000  # perf_analyzer stops at its first refusal: no deadline or shedding in a throughput run
# name: (entry, tokenizer or entry instances, their max_queue_delay_microseconds, fusion max_queue_delay_microseconds)
VARIANTS = {"1 tokenizer": ("ensemble", 1, 0, 0), "2 tokenizers": ("ensemble", 2, 0, 0),
            "1 tokenizer + 200 us delay": ("ensemble", 1, 200, 0),
            "1 tokenizer + 200 us delay, fusion 200 us": ("ensemble", 1, 200, 200),
            "1 BLS entry": ("bls", 1, 0, 0), "2 BLS entries": ("bls", 2, 0, 0),
            "2 BLS entries + 200 us delay": ("bls", 2, 200, 0)}
LOADS = {"c=1, 1 comment": (1, 1), "c=32, 1 comment": (1, 32), "c=4, 32 comments": (32, 4)}
# Concurrency-1 latency, which one run per variant measures too noisily on a shared machine: these variants served at
# once and measured in turn, the order reversed every round; the median of the rounds' p50s.
LATENCY_VARIANTS = ("1 tokenizer", "1 tokenizer + 200 us delay", "2 BLS entries")


def trivial_members(repository: Path, members: list[str], out: Path) -> Path:
    """`repository` copied with each member's `model.py` swapped for the constant-answering trivial model."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(repository, out)
    for name in members:
        shutil.copyfile(TRIVIAL_MODEL, out / name / VERSION / "model.py")
    return out


def set_variant(repository: Path, tokenizer: str, instances: int, tokenizer_delay_us: int,
                fusion_delay_us: int) -> None:
    """Rewrite the instance count and queue delay of `tokenizer` (the model that tokenizes) and fusion's delay."""
    for model, delay_us in ((tokenizer, tokenizer_delay_us), (FUSION_MODEL, fusion_delay_us)):
        path = repository / model / "config.pbtxt"
        if not path.exists():  # BLS: fusion runs inside the entry
            continue
        config = text_format.Parse(path.read_text(encoding="utf-8"), mc.ModelConfig())
        if model == tokenizer:
            config.instance_group[0].count = instances
        config.dynamic_batching.max_queue_delay_microseconds = delay_us
        path.write_text(GENERATED + render(config), encoding="utf-8")


def variant_repository(name: str, bases: dict[str, Path], spec: Spec, out: Path) -> Path:
    """The base repository of variant `name`'s entry at `out`, members swapped for constants, the variant applied."""
    entry, *settings = VARIANTS[name]
    repository = trivial_members(bases[entry], [m.name for m in spec.members], out)
    set_variant(repository, spec.name if entry == "bls" else TOKENIZER_MODEL, *settings)
    return repository


def process_cpu(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of tritonserver, of each model's Python stubs (by model name) and of finished children
    of this process (perf_analyzer)."""
    ticks = os.sysconf("SC_CLK_TCK")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {"perf_analyzer": usage.ru_utime + usage.ru_stime}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            argv = (stat.parent / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid != server_pid and ppid != server_pid:
            continue
        name = "tritonserver" if pid == server_pid else Path(argv[1]).parent.parent.name
        cpu[name] = cpu.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def texts_served(url: str, model: str) -> int:
    """Texts (batch rows) the server has answered for `model` so far."""
    with grpcclient.InferenceServerClient(url) as client:
        return int(client.get_inference_statistics(model, as_json=True)["model_stats"][0]["inference_count"])


def measure(repository: Path, model: str, data: Path, work: Path, window_s: float) -> dict[str, dict]:
    """Serve `repository` and run every load; add the CPU microseconds per text each process spent."""
    results = {}
    with TritonServer(repository, PORTS) as server:
        url = server.ports.grpc_url
        run_perf(url, model, data, 1, 4, work / "warmup.csv", 1.0, 100)
        for load, (batch, concurrency) in LOADS.items():
            cpu0, texts0 = process_cpu(server._process.pid), texts_served(url, model)
            row = run_perf(url, model, data, batch, concurrency, work / "run.csv", window_s, 30)
            if row.get("unstable"):  # a shared machine: take the mean over windows, however much they moved
                row = run_perf(url, model, data, batch, concurrency, work / "run.csv", window_s, 100)
            cpu1, texts = process_cpu(server._process.pid), texts_served(url, model) - texts0
            results[load] = {"texts_per_s": row["texts_per_s"], "p50_ms": float(row["p50 latency"]) / 1000,
                             "p99_ms": float(row["p99 latency"]) / 1000,
                             "cpu_us_per_text": {k: (cpu1[k] - cpu0.get(k, 0.0)) / texts * 1e6 for k in cpu1}}
    return results


def latency_rounds(repositories: dict[str, Path], model: str, data: Path, work: Path, rounds: int,
                   window_s: float) -> dict[str, list[float]]:
    """Serve every repository at once; each round runs perf_analyzer at concurrency 1 on each in turn (reversed
    every other round); returns each one's p50 ms per round."""
    p50s = {name: [] for name in repositories}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(TritonServer(repo, Ports.free())).ports.grpc_url
                for name, repo in repositories.items()}
        for url in urls.values():
            run_perf(url, model, data, 1, 1, work / "warmup.csv", 1.0, 100)
        for i in range(rounds):
            for name in list(urls)[::1 if i % 2 == 0 else -1]:
                row = run_perf(urls[name], model, data, 1, 1, work / "run.csv", window_s, 100)
                p50s[name].append(float(row["p50 latency"]) / 1000)
    return p50s


def gpu_node_feed(cpu_us: dict[str, float], members: list[str]) -> float:
    """Texts/s one core feeds when members run elsewhere (on the GPU, through the C++ ONNX Runtime backend):
    the CPU of tritonserver, tokenizer and fusion per text, without the Python members and the load generator."""
    return 1e6 / sum(us for name, us in cpu_us.items() if name not in {*members, "perf_analyzer"})


def main() -> None:
    """Measure each variant; write reports/feed/feed.{md,json}."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--window-s", type=float, default=5.0, help="perf_analyzer measurement window")
    parser.add_argument("--variants", default=";".join(VARIANTS),
                        help="names of VARIANTS, separated by ';' ('': only the concurrency-1 comparison)")
    parser.add_argument("--latency-rounds", type=int, default=16,
                        help="rounds of the concurrency-1 comparison (0: none); 6 gave -4 %% to +18 %% for one gap")
    parser.add_argument("--latency-variants", default=";".join(LATENCY_VARIANTS),
                        help="names of VARIANTS compared at concurrency 1, the first the reference")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "feed")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spec = replace(checkpoint_spec("tiny", PROJECT_ROOT / "checkpoints" / "tiny"), queue_timeout_ms=QUEUE_TIMEOUT_MS)
    bench = PROJECT_ROOT / "model_repository_bench"
    bases = {entry: build(spec, bench / f"tiny-{entry}", runtime="python", entry=entry) for entry in ENTRIES}
    args.out.mkdir(parents=True, exist_ok=True)
    data = write_input_data(traffic_comments(1000), args.out / "input_data.json")
    cores = os.cpu_count() or 1
    results = {}
    for name in filter(None, args.variants.split(";")):
        repository = variant_repository(name, bases, spec, bench / "feed")
        results[name] = measure(repository, spec.name, data, args.out, args.window_s)
        for load in results[name].values():
            load["gpu_node_texts_per_core"] = gpu_node_feed(load["cpu_us_per_text"], [m.name for m in spec.members])
        print(f"{name}: " + ", ".join(f"{load} {r['texts_per_s']:.0f} texts/s p50 {r['p50_ms']:.2f} ms "
                                      f"p99 {r['p99_ms']:.2f} ms GPU-node {r['gpu_node_texts_per_core']:.0f}/core"
                                      for load, r in results[name].items()), flush=True)
    lines = []
    if results:
        lines += ["| variant | " + " | ".join(f"{load} texts/s (per core) | p50 ms | p99 ms | GPU-node texts/s per core"
                                           for load in LOADS) + " |", "|---|" + "---:|---:|---:|---:|" * len(LOADS)]
        for name, r in results.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{r[load]['texts_per_s']:.0f} ({r[load]['texts_per_s'] / cores:.0f}) | {r[load]['p50_ms']:.2f} | "
                f"{r[load]['p99_ms']:.2f} | {r[load]['gpu_node_texts_per_core']:.0f}" for load in LOADS) + " |")
        lines += ["", f"{cores} cores shared by the server and perf_analyzer; members answer constants "
                  "(trivial_model.py). GPU-node texts/s per core: 1 s over the CPU microseconds per text of "
                  "tritonserver, tokenizer and fusion alone (members' stubs and perf_analyzer left out: on a GPU node "
                  "the members are C++).", "", "CPU microseconds per text, first variant: " + "; ".join(
                      f"{load}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["cpu_us_per_text"].items()))
                      for load, r in next(iter(results.values())).items())]
    latency = {}
    if args.latency_rounds:
        repositories = {name: variant_repository(name, bases, spec, bench / f"latency-{i}")
                        for i, name in enumerate(args.latency_variants.split(";"))}
        latency = latency_rounds(repositories, spec.name, data, args.out, args.latency_rounds, 3.0)
        first = next(iter(latency.values()))
        lines += ["", f"Concurrency 1, one comment, served at once, {args.latency_rounds} alternating rounds of 3 s "
                  "(paired: the median over rounds of p50 / the first variant's p50 in the same round):",
                  "", "| variant | median p50 ms | vs first | paired vs first | p50 ms per round |",
                  "|---|---:|---:|---:|---|"]
        for name, p50s in latency.items():
            median, paired = statistics.median(p50s), statistics.median(p / f for p, f in zip(p50s, first))
            lines.append(f"| {name} | {median:.3f} | {median / statistics.median(first) - 1:+.1%} | "
                         f"{paired - 1:+.1%} | " + ", ".join(f"{p:.2f}" for p in p50s) + " |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (args.out / "feed.md").write_text(text)
    (args.out / "feed.json").write_text(json.dumps({"cores": cores, "results": results, "latency_c1_p50_ms": latency},
                                                   indent=1))


if __name__ == "__main__":
    main()
