"""Replicas for a target texts/s within the p99 budget, from per-pod capacity: CPU pods measured by
loadtest/capacity.py, GPU pods estimated from published figures. Writes capacity.png and prints the table.

Run: .venv/bin/python server/monitoring/capacity.py --measured "CPU pod, int8=reports/capacity-int8/summary.json" \
        [--pod "NAME=TEXTS_PER_S,P99_MS"]   # a figure another tool measured (loadtest/README.md)
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
UTILISATION = 0.7  # plan each pod at 70 % of its capacity: headroom for bursts while the HPA adds pods
SPARE = 1  # one pod more than the load needs, so a drain (the PDB's one pod) or a crash costs no capacity
MIN_REPLICAS = 2  # the HPA's floor (server/k8s/base/hpa.yaml)
TARGETS = (100, 300, 1_000, 3_000, 10_000)


@dataclass(frozen=True)
class Pod:
    """One pod's capacity: texts/s at the load where p99 stayed within the budget."""

    name: str
    texts_per_s: float
    p99_ms: float | None
    measured: bool


def measured(name: str, summary: Path) -> Pod:
    """A pod measured by loadtest/capacity.py: its capacity stage (last one within the p99 budget)."""
    stage = json.loads(summary.read_text())["capacity"]
    if stage is None:
        raise SystemExit(f"{summary}: no stage within the budget; measure with fewer users")
    return Pod(name, stage["texts_per_s"], stage["p99_ms"], True)


def given(item: str) -> Pod:
    """A pod measured by another tool, written NAME=TEXTS_PER_S,P99_MS."""
    name, _, figures = item.rpartition("=")
    texts, p99 = (float(x) for x in figures.split(","))
    return Pod(name, texts, p99, True)


# Issue 10's GPU estimates (loadtest/README.md, "How many cores and BLS entries per GPU"): comments/s from
# NVIDIA's published TensorRT BERT-base FP16 figures, x3 for real comment lengths, / 2 members. Upper bounds.
GPU_PODS = (Pod("T4 pod (estimate)", 1_300, None, False), Pod("A30 pod (estimate)", 5_600, None, False),
            Pod("A100-40GB pod (estimate)", 11_900, None, False))


def replicas(target: float, pod: Pod) -> int:
    """Pods for `target` texts/s with each at UTILISATION of its capacity, plus SPARE, at least MIN_REPLICAS."""
    return max(MIN_REPLICAS, math.ceil(target / (pod.texts_per_s * UTILISATION)) + SPARE)


def plot(pods: list[Pod], out: Path, budget_ms: float) -> None:
    """Replicas against target texts/s, one step line per pod kind; estimates dashed."""
    fig, ax = plt.subplots(figsize=(8, 5))
    targets = [10 ** (k / 20) for k in range(20, 81)]  # 10 .. 10,000 texts/s
    for pod in pods:
        ax.step(targets, [replicas(t, pod) for t in targets], where="post", linestyle="-" if pod.measured else "--",
                label=f"{pod.name}: {pod.texts_per_s:,.0f} texts/s per pod")
    ax.set(xscale="log", yscale="log", xlabel="target texts/s (whole fleet)", ylabel="replicas",
           title=f"kotox replicas for a target load, p99 <= {budget_ms:.0f} ms\n"
                 f"(each pod at {UTILISATION:.0%} of its capacity, +{SPARE} spare, at least {MIN_REPLICAS})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(pods: list[Pod]) -> str:
    """Markdown: per-pod capacity and replicas for each target."""
    head = "| pod | texts/s per pod | p99 ms at that load | " + " | ".join(f"{t:,} texts/s" for t in TARGETS) + " |"
    rows = [head, "|---|---:|---:|" + "---:|" * len(TARGETS)]
    for pod in pods:
        p99 = f"{pod.p99_ms:.0f}" if pod.p99_ms is not None else "–"
        rows.append(f"| {pod.name} | {pod.texts_per_s:,.1f} | {p99} | "
                    + " | ".join(str(replicas(t, pod)) for t in TARGETS) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Read the measured summaries, add the GPU estimates, write the plot, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", action="append", default=[], metavar="NAME=SUMMARY_JSON",
                        help="a pod kind and the summary.json loadtest/capacity.py wrote for it (repeatable)")
    parser.add_argument("--pod", action="append", default=[], metavar="NAME=TEXTS_PER_S,P99_MS",
                        help="a pod kind measured by another tool, within the same budget (repeatable)")
    parser.add_argument("--budget-ms", type=float, default=500.0, help="p99 budget of --pod figures")
    parser.add_argument("--out", type=Path, default=HERE / "capacity.png")
    args = parser.parse_args(argv)
    pods, budgets = [given(item) for item in args.pod], {args.budget_ms} if args.pod else set()
    for item in args.measured:
        name, _, path = item.rpartition("=")
        pods.append(measured(name, Path(path)))
        budgets.add(json.loads(Path(path).read_text())["budget_ms"])
    if len(budgets) > 1:
        parser.error(f"the summaries have different p99 budgets: {sorted(budgets)}")
    pods += GPU_PODS
    plot(pods, args.out, budgets.pop() if budgets else args.budget_ms)
    print(table(pods))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
