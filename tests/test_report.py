"""The report's own helpers: which comments it classifies alone, and how it states the comparison."""

from kotox_build.export import PARITY_TOLERANCE
from kotox_server.report import alone_line, length_spread

TEXTS = ["가" * n for n in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10)]


def test_length_spread_runs_from_the_shortest_to_the_longest_comment():
    picked = length_spread(TEXTS, 4)
    assert [len(TEXTS[i]) for i in picked] == [1, 4, 7, 10]
    assert sorted(length_spread(TEXTS, 50)) == list(range(len(TEXTS)))  # never more rows than the set has
    assert length_spread(TEXTS, 0) == [] and length_spread([], 5) == []


def test_alone_line_is_bold_when_an_answer_depends_on_its_batch():
    agreeing = {"rows": 3, "max_abs_diff": {"phase2": 0.0, "fused": PARITY_TOLERANCE}, "labels_differ": 0}
    assert alone_line(agreeing).startswith("Alone against batched: 3 of these comments")
    drifting = dict(agreeing, max_abs_diff={"phase2": 2 * PARITY_TOLERANCE, "fused": 0.0})
    assert alone_line(drifting).startswith("**") and "phase2 0.0002" in alone_line(drifting)
    assert alone_line(dict(agreeing, labels_differ=1)).startswith("**")
    assert "not compared" in alone_line({"rows": 0, "max_abs_diff": {}, "labels_differ": 0})
