"""The demo members' evaluation report: BEEP! dev scored through the served ensemble, beside the TF-IDF baseline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kotox_build.data import beep, training_rows
from kotox_build.evaluation import BASELINE, baseline_predictions, binary_scores
from kotox_build.spec import DEFAULT_SPEC, Spec, load_spec
from kotox_build.training import STAMP
from kotox_client import ToxicityClient, contract

REPORT_NAME = "beep-dev-report"
COLUMNS = ("f1", "precision", "recall", "accuracy", "fp", "fn")


def evaluate(client: ToxicityClient, spec: Spec, data: Path | None = None) -> dict:
    """Score each member, the fused ensemble (as served) and the baseline on BEEP! dev."""
    rows = beep("dev", data)
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    served = client.classify(texts)
    toxic = spec.labels[1]
    results = {m.name: binary_scores(labels, [int(r.member_probs[m.name] > spec.threshold) for r in served])
               for m in spec.members}
    results["fused"] = binary_scores(labels, [int(r.label == toxic) for r in served])
    train_texts, train_labels = training_rows(data)
    results["baseline"] = binary_scores(labels, baseline_predictions(train_texts, train_labels, texts))
    stamps = {m.name: m.checkpoint / STAMP for m in spec.members}
    return {
        "dataset": "BEEP! dev (beep/dev.tsv)", "rows": len(rows), "toxic_share": sum(labels) / len(labels),
        "served_by": f"{client.url} ensemble {client.model}", "threshold": spec.threshold,
        "fusion": {m.name: m.weight for m in spec.members}, "baseline": BASELINE,
        "baseline_trained_on": f"{len(train_texts)} rows (BEEP! train + K-MHaS valid), as the members",
        "members": {name: json.loads(path.read_text()) if path.exists() else None for name, path in stamps.items()},
        "results": results,
    }


def markdown(report: dict) -> str:
    """The report as a Markdown table, one row per member, the fused ensemble and the baseline."""
    fusion = " + ".join(f"{w} × {name}" for name, w in report["fusion"].items())
    lines = [f"# Demo ensemble on {report['dataset']}", "",
             f"{report['rows']} comments ({report['toxic_share']:.0%} toxic), classified over gRPC by "
             f"{report['served_by']}. Fused = {fusion}, toxic when > {report['threshold']}; members toxic when "
             f"their own probability is > {report['threshold']}. Scores are for the toxic class; FP/FN are counts.",
             f"Baseline: {report['baseline']}, trained on {report['baseline_trained_on']}.", "",
             "| | F1 | precision | recall | accuracy | FP | FN |", "|---|---|---|---|---|---|---|"]
    for name, s in report["results"].items():
        cells = [f"{s[c]:.4f}" if isinstance(s[c], float) else str(s[c]) for c in COLUMNS]
        lines.append(f"| {'**fused**' if name == 'fused' else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: Path) -> Path:
    """Write `<folder>/beep-dev-report.{json,md}`; returns the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{REPORT_NAME}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    path = folder / f"{REPORT_NAME}.md"
    path.write_text(markdown(report), encoding="utf-8")
    return path


def report_folder(spec: Spec) -> Path:
    """Next to the checkpoints: the folder that holds every member."""
    return Path(os.path.commonpath([m.checkpoint.parent for m in spec.members]))


def main(argv: list[str] | None = None) -> int:
    """Evaluate a running kotox server on BEEP! dev and write the report next to the spec's checkpoints."""
    parser = argparse.ArgumentParser(prog="python -m kotox_server.report", description=main.__doc__)
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="gRPC address (default: %(default)s)")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $KOTOX_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    with ToxicityClient(args.url, spec.name) as client:
        report = evaluate(client, spec, args.data)
    print(markdown(report))
    print(f"written to {write_report(report, report_folder(spec))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
