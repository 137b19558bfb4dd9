"""The demo ensemble's evaluation report: its task's held-out sets (toxicity: BEEP! dev and the K-MHaS slice; nsmc:
the NSMC slice) scored through the served ensemble, each member, the weighted and (where the task keeps fusion rows)
the stacked fusion, beside the TF-IDF baseline trained on the members' rows (and the n-gram teacher the members
distil, when they do)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from kotox_build import obfuscation
from kotox_build.data import CORPORA, columns
from kotox_build.evaluation import (BASELINE, TEACHER, baseline_model, binary_scores, bootstrap_wins,
                                    teacher_model)
from kotox_build.export import PARITY_TOLERANCE
from kotox_build.labelled_rows import read_labelled_rows
from kotox_build.spec import DEFAULT_SPEC, FUSIONS, Spec, SpecError, load_spec
from kotox_build.stacking import COMBINER, fit_combiner, fusion_rows_of
from kotox_build.training import STAMP
from kotox_client import ToxicityClient, contract

COLUMNS = ("f1", "precision", "recall", "accuracy", "fp", "fn")
BOOTSTRAP_RESAMPLES = 2000  # paired resamples of each set's rows behind the "beats the baseline" shares
ALONE_ROWS = 200  # default rows of each set classified again one request each, against their batched answers


def member_matrix(spec: Spec, served: list) -> np.ndarray:
    """The member toxic probabilities [rows, members] of served answers."""
    return np.array([[r.member_probs[m.name] for m in spec.members] for r in served],
                    np.float64).reshape(len(served), len(spec.members))


def member_probabilities(client: ToxicityClient, spec: Spec, texts: list[str]) -> tuple[np.ndarray, list]:
    """Served member toxic probabilities [rows, members] and the served answers."""
    served = client.classify(texts)
    return member_matrix(spec, served), served


def length_spread(texts: list[str], rows: int) -> list[int]:
    """Indices of up to `rows` comments, evenly spaced from the shortest to the longest."""
    by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [by_length[p] for p in np.unique(np.linspace(0, len(texts) - 1, min(rows, len(texts))).round().astype(int))]


def alone_against_batched(client: ToxicityClient, spec: Spec, texts: list[str], probs: np.ndarray, served: list,
                          rows: int) -> dict:
    """Classify up to `rows` comments of a set (shortest to longest) in a request each and compare with their
    answers in the batched pass: the largest difference per member and fused, and how many labels differ."""
    picked = length_spread(texts, rows)
    alone = [client.classify([texts[i]])[0] for i in picked]
    differences = np.abs(member_matrix(spec, alone) - probs[picked]).max(axis=0, initial=0.0)
    return {"rows": len(picked),
            "max_abs_diff": {**{m.name: float(d) for m, d in zip(spec.members, differences)},
                             "fused": max((abs(r.prob - served[i].prob) for r, i in zip(alone, picked)), default=0.0)},
            "labels_differ": sum(r.label != served[i].label for r, i in zip(alone, picked))}


def log_odds(probs: np.ndarray) -> np.ndarray:
    """Toxic log-odds of probabilities (clipped away from 0 and 1, which fp32 reaches)."""
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return np.log(probs) - np.log1p(-probs)


def evaluation_rows(spec: Spec, data: Path | None, rows: tuple[Path, ...],
                    obfuscated: bool = False) -> dict[str, tuple[str, list[str], list[int]]]:
    """Each evaluation set as key: (title, texts, labels): the spec's task's held-out sets (with `obfuscated`, each
    followed by its copy with every comment obfuscated), then each file of `rows`."""
    sets = {}
    for key, (title, read) in CORPORA[spec.data].evaluation_sets.items():
        texts, labels = columns(read(data))
        sets[key] = (title, texts, labels)
        if obfuscated:
            sets[f"{key}_obfuscated"] = (f"{title}, every comment obfuscated (obfuscation.py, seed {obfuscation.SEED})",
                                         obfuscation.obfuscate_all(texts), labels)
    for path in rows:
        sets[str(path)] = (f"{path.name} (labelled rows of your own)",
                           *read_labelled_rows(path, spec.labels, CORPORA[spec.data].layouts))
    return sets


def evaluate(client: ToxicityClient, spec: Spec, data: Path | None = None, rows: tuple[Path, ...] = (),
             obfuscated: bool = False, alone: int = ALONE_ROWS) -> dict:
    """Score each member, the fusions, the baseline and (when a member distils it) the teacher on every evaluation
    set of the spec's task (and, with `obfuscated`, its obfuscated copy), and on each labelled file in `rows`
    (`labelled_rows`: `text` / `label` .tsv, .csv or .jsonl, or a corpus's own layout).

    The spec's own fusion is scored from the served labels; the other one from the served member probabilities
    (stacked: refitted, as the build does, on the fusion rows' served member probabilities; only for a spec with
    its own fusion rows or a task that keeps them). Up to `alone` comments of each set are also classified in a
    request of their own, to compare with their batched answers."""
    corpus = CORPORA[spec.data]
    # first: a bad file of your own fails before any work
    evaluation_sets = evaluation_rows(spec, data, rows, obfuscated)
    train_texts, train_labels = corpus.training_rows(data)
    references = {"baseline": baseline_model().fit(train_texts, train_labels)}
    if any(m.train and m.train.distill for m in spec.members):
        references["teacher"] = teacher_model().fit(train_texts, train_labels)
    weights = np.asarray(spec.weights)
    fused = {"weighted": lambda probs: probs @ weights}
    stacked, seen = None, set(train_texts)  # comments something scored here learned from
    if spec.fusion_rows or corpus.fusion_rows:
        fusion_texts, fusion_labels, fitted_on = fusion_rows_of(spec, data)
        seen.update(fusion_texts)
        coefficients, intercept = fit_combiner(log_odds(member_probabilities(client, spec, fusion_texts)[0]),
                                               fusion_labels)
        fused["stacked"] = lambda probs: 1 / (1 + np.exp(-(intercept + log_odds(probs) @ coefficients)))
        stacked = {"combiner": COMBINER, "coefficients": dict(zip([m.name for m in spec.members], coefficients)),
                   "intercept": intercept, "fitted_on": fitted_on,
                   "note": "refitted by the report on the served member probabilities; a served stacked combiner's "
                           "own coefficients are in its fusion model's config parameters"}
    sets = {}
    for key, (title, texts, labels) in evaluation_sets.items():
        probs, served = member_probabilities(client, spec, texts)
        predicted = {m.name: (probs[:, i] > spec.threshold).astype(int) for i, m in enumerate(spec.members)}
        for fusion, fuse in fused.items():
            predicted[fusion] = (np.array([int(r.label == spec.labels[1]) for r in served]) if fusion == spec.fusion
                                 else (fuse(probs) > spec.threshold).astype(int))
        for name, model in references.items():
            predicted[name] = model.predict(texts)
        sets[key] = {"dataset": title, "rows": len(texts), f"{spec.labels[1]}_share": sum(labels) / len(labels),
                     "seen_rows": sum(text in seen for text in texts),  # rows not held out
                     "results": {name: binary_scores(labels, p) for name, p in predicted.items()},
                     "beats_baseline": bootstrap_wins(labels, predicted, "baseline", BOOTSTRAP_RESAMPLES),
                     "alone_vs_batched": alone_against_batched(client, spec, texts, probs, served, alone)}
    stamps = {m.name: m.checkpoint / STAMP for m in spec.members}
    return {
        "spec": spec.path.name, "served_by": f"{client.url} ensemble {client.model}", "served_fusion": spec.fusion,
        "labels": list(spec.labels), "threshold": spec.threshold, "weights": {m.name: m.weight for m in spec.members},
        "stacked": stacked, "baseline": BASELINE, "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "teacher": TEACHER if "teacher" in references else None,
        "baseline_trained_on": f"{len(train_texts)} rows ({corpus.training_note}), as the members",
        "members": {name: json.loads(path.read_text()) if path.exists() else None for name, path in stamps.items()},
        "sets": sets,
    }


def markdown(report: dict) -> str:
    """The report as Markdown: one table per evaluation set, a row per member, fusion and the baseline."""
    weighted = " + ".join(f"{w} × {name}" for name, w in report["weights"].items())
    stacked, positive = report["stacked"], report["labels"][1]
    combiners = f"Weighted = {weighted}" + (f"; stacked = {stacked['combiner']}, fitted on {stacked['fitted_on']}"
                                            if stacked else "")
    lines = [f"# Demo ensemble ({report['spec']}): held-out evaluation", "",
             f"Classified over gRPC by {report['served_by']}, which runs the **{report['served_fusion']}** fusion "
             f"(its row is the served labels; another fusion is computed from the served member probabilities). "
             f"{combiners}. {positive} when > {report['threshold']}, members by their own probability. F1, precision "
             f"and recall are for the {positive} class; FP/FN are counts. 'Beats baseline': the share of "
             f"{report['bootstrap_resamples']:,} paired bootstrap resamples of the set's rows in which the row scores "
             f"a higher F1, a higher accuracy, and both, than the baseline (near 0.5: a coin toss).",
             f"Baseline: {report['baseline']}, trained on {report['baseline_trained_on']}."]
    if report["teacher"]:
        lines[-1] += (f" Teacher: {report['teacher']}, trained on the same rows; the members distil it (its "
                      "cross-fitted probabilities), it is not served.")
    for s in report["sets"].values():
        seen = (f" **{s['seen_rows']} of them ({s['seen_rows'] / s['rows']:.0%}) are comments the members and the "
                "baseline trained on, or the stacked combiner was fitted on: on those, this is not a held-out "
                "comparison.**" if s["seen_rows"] else "")
        share = f"{s['rows']} rows ({s[f'{positive}_share']:.0%} {positive})."
        lines += ["", f"## {s['dataset']}", "", share + seen, "",
                  "| | F1 | precision | recall | accuracy | FP | FN | beats baseline: F1 / acc / both |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, scores in s["results"].items():
            cells = [f"{scores[c]:.4f}" if isinstance(scores[c], float) else str(scores[c]) for c in COLUMNS]
            wins = s["beats_baseline"].get(name)
            cells.append(" / ".join(f"{wins[c]:.2f}" for c in ("f1", "accuracy", "both")) if wins else "")
            label = f"**{name} fusion** (served)" if name == report["served_fusion"] else (
                f"{name} fusion" if name in FUSIONS else name)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", alone_line(s["alone_vs_batched"])]
    return "\n".join(lines) + "\n"


def alone_line(compared: dict) -> str:
    """One sentence: how far a set's comments classified alone are from their batched answers (bold past the
    build's ONNX parity tolerance or when a label differs)."""
    if not compared["rows"]:
        return "Alone against batched: not compared (`--alone 0`)."
    differences = ", ".join(f"{name} {d:.1g}" for name, d in compared["max_abs_diff"].items())
    line = (f"Alone against batched: {compared['rows']} of these comments, shortest to longest, each classified again "
            f"in a request of its own; largest probability difference {differences}; "
            f"{compared['labels_differ']} labels differ.")
    agree = not compared["labels_differ"] and max(compared["max_abs_diff"].values()) <= PARITY_TOLERANCE
    return line if agree else f"**{line} A comment's answer depends on what shares its batch.**"


def report_name(report: dict) -> str:
    """File stem of a spec's report: `<spec stem>-evaluation`, so specs sharing a checkpoint folder keep their own."""
    return f"{Path(report['spec']).stem}-evaluation"


def write_report(report: dict, folder: Path) -> Path:
    """Write `<folder>/<spec stem>-evaluation.{json,md}`; returns the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report_name(report)}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False),
                                                        encoding="utf-8")
    path = folder / f"{report_name(report)}.md"
    path.write_text(markdown(report), encoding="utf-8")
    return path


def report_folder(spec: Spec) -> Path:
    """Next to the checkpoints: the folder that holds every member."""
    return Path(os.path.commonpath([m.checkpoint.parent for m in spec.members]))


def main(argv: list[str] | None = None) -> int:
    """Evaluate a running kotox server on its task's held-out sets (toxicity: BEEP! dev and the K-MHaS slice; nsmc:
    the NSMC slice) and on any labelled files of your own, beside the TF-IDF baseline; write the report next to the
    spec's checkpoints."""
    parser = argparse.ArgumentParser(prog="python -m kotox_server.report", description=main.__doc__)
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="gRPC address (default: %(default)s)")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: $KOTOX_DATA or ../shared/data)")
    parser.add_argument("--rows", type=Path, action="append", default=[],
                        help="also score this labelled file (.tsv or .csv with text and label columns, or .jsonl; "
                             "or a corpus's own layout); repeatable")
    parser.add_argument("--alone", type=int, default=ALONE_ROWS, metavar="N",
                        help="classify N comments of each set (shortest to longest) again, one request each, and "
                             "compare with their batched answers; 0 skips it (default: %(default)s)")
    parser.add_argument("--obfuscated", action="store_true",
                        help="also score each held-out set with every comment obfuscated (build/obfuscation.py)")
    args = parser.parse_args(argv)
    if args.alone < 0:
        parser.error(f"--alone must be 0 or more, got {args.alone}")
    try:
        spec = load_spec(args.spec)
        with ToxicityClient(args.url, spec.name) as client:
            report = evaluate(client, spec, args.data, tuple(args.rows), args.obfuscated, args.alone)
    except SpecError as err:
        print(f"kotox report failed: {err}", file=sys.stderr)
        return 1
    print(markdown(report))
    print(f"written to {write_report(report, report_folder(spec))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
