"""The capacity plot: throughput (top) and p99 latency against the budget (bottom), per stage of users."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OK, OVER, CAPACITY = "tab:blue", "tab:red", "tab:green"


def plot(result: dict, path: Path) -> None:
    """Write the PNG: one point per stage, over-budget stages in red, the capacity stage shaded green."""
    stages, budget, cap = result["stages"], result["budget_ms"], result["capacity"]
    users = [s["users"] for s in stages]
    p99 = [s["p99_ms"] if s["p99_ms"] is not None else float("nan") for s in stages]
    over = [s["failures"] > 0 or not p <= budget for s, p in zip(stages, p99)]
    colors = [OVER if o else OK for o in over]

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5), dpi=110, height_ratios=[3, 2])
    top.plot(users, [s["texts_per_s"] for s in stages], "-", color="0.6", zorder=1)
    top.scatter(users, [s["texts_per_s"] for s in stages], c=colors, s=50, zorder=2)
    for s in stages:
        top.annotate(f"{s['texts_per_s']:.0f}", (s["users"], s["texts_per_s"]), textcoords="offset points",
                     xytext=(0, 8), ha="center", fontsize=9)
    top.set_ylabel("throughput (texts / s)")
    top.set_ylim(0, max(s["texts_per_s"] for s in stages) * 1.25 or 1)

    bottom.plot(users, p99, "-", color="0.6", zorder=1)
    bottom.scatter(users, p99, c=colors, s=50, zorder=2)
    for u, p in zip(users, p99):
        bottom.annotate(f"{p:.0f} ms", (u, p), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=9)
    ceiling = max([budget, *[p for p in p99 if p == p]]) * 1.25
    bottom.axhline(budget, color=OVER, linestyle="--", linewidth=1)
    bottom.axhspan(budget, ceiling, color=OVER, alpha=0.07)
    bottom.text(users[0], budget, f" budget {budget:.0f} ms (over it: red)", color=OVER, va="bottom", fontsize=9)
    bottom.set_ylim(0, ceiling)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xlabel("concurrent users (one stage each)")
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(users, [str(u) for u in users])
    bottom.minorticks_off()

    if cap:
        for ax in (top, bottom):
            ax.axvspan(cap["users"] / 1.15, cap["users"] * 1.15, color=CAPACITY, alpha=0.15)
        title = (f"capacity: {cap['texts_per_s']:.0f} texts/s at {cap['users']} users "
                 f"(p99 {cap['p99_ms']:.0f} ms, budget {budget:.0f} ms)")
    else:
        title = f"no capacity: the first stage is already over the {budget:.0f} ms budget or failing"
    peak = result["peak"]
    top.set_title(f"{title}\npeak {peak['texts_per_s']:.0f} texts/s at {peak['users']} users; "
                  "green band: capacity stage; red points: over budget or failing", fontsize=10)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
