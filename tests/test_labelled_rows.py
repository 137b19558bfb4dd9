"""Labelled files of your own (stacked-fusion rows, report sets): .tsv or .jsonl, labels as 0 / 1 or the spec's names;
a bad file is refused naming the file, the line and the problem."""

import json

import pytest

from kotox_build.spec import SpecError
from kotox_build.labelled_rows import read_labelled_rows
from kotox_build.stacking import read_fusion_rows

LABELS = ("clean", "toxic")


def test_tsv_takes_numbers_or_label_names_and_ignores_other_columns(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text('id\ttext\tlabel\n1\t좋은 하루\t0\n2\t"꺼져" 라니\ttoxic\n'
                    '3\t고마워\tclean\n4\t닥쳐\t1\n', encoding="utf-8")
    texts = ["좋은 하루", '"꺼져" 라니', "고마워", "닥쳐"]
    assert read_labelled_rows(path, LABELS) == (texts, [0, 1, 0, 1])


def test_jsonl_rows_skip_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"text": "안녕", "label": 0}, {"text": "미친놈아", "label": "toxic"}, {"text": "ㅋ", "label": "0"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    assert read_labelled_rows(path, LABELS) == (["안녕", "미친놈아", "ㅋ"], [0, 1, 0])


@pytest.mark.parametrize("name, text, problem", [
    ("rows.tsv", "text\tlabel\n안녕\t0\n바보\tbad\n", ":3: label must be 0, 1, 'clean' or 'toxic', got 'bad'"),
    ("rows.tsv", "comment\tlabel\n안녕\t0\n", ":1: the header must name the columns"),
    ("rows.tsv", "text\tlabel\n", "no labelled rows"),
    ("rows.jsonl", '{"text": "안녕", "label": 0}\n{"text": "바보", "label": true}\n', ":2: label must be"),
    ("rows.jsonl", '{"text": "안녕", "label": 0}\n{"text": "바보"\n', ":2: not valid JSON"),
    ("rows.jsonl", '{"text": 7, "label": 1}\n', ":1: text must be a string"),
    ("rows.jsonl", '["안녕", 0]\n', ":1: each line must be an object"),
    ("rows.csv", "text,label\n안녕,0\n", "must be a .tsv or .jsonl file"),
])
def test_bad_rows_are_refused_naming_file_line_and_problem(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        read_labelled_rows(path, LABELS)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_fusion_rows_need_both_labels(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("text\tlabel\n안녕\t0\n좋아\tclean\n", encoding="utf-8")
    assert read_labelled_rows(path, LABELS) == (["안녕", "좋아"], [0, 0])  # fine to score, not to fit on
    with pytest.raises(SpecError, match="need both labels"):
        read_fusion_rows(path, LABELS)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        read_labelled_rows(tmp_path / "rows.tsv", LABELS)
