"""Labelled files of your own (stacked-fusion rows, report sets): .tsv, .csv or .jsonl, labels as 0 / 1 or the spec's
names, or a corpus's own layout read by its label rule; a bad file is refused naming the file, the line and the
problem."""

import csv
import json

import pytest

from kotox_build import data
from kotox_build.spec import SpecError
from kotox_build.labelled_rows import read_labelled_rows
from kotox_build.stacking import read_fusion_rows

LABELS = ("clean", "toxic")
LAYOUTS = data.CORPORA["toxicity"].layouts


def test_tsv_takes_numbers_or_label_names_and_ignores_other_columns(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text('id\ttext\tlabel\n1\t좋은 하루\t0\n2\t"꺼져" 라니\ttoxic\n'
                    '3\t고마워\tclean\n4\t닥쳐\t1\n', encoding="utf-8")
    texts = ["좋은 하루", '"꺼져" 라니', "고마워", "닥쳐"]
    assert read_labelled_rows(path, LABELS) == (texts, [0, 1, 0, 1])


def test_csv_as_spreadsheets_write_it_quoted_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "rows.csv"
    rows = [("좋은 하루, 고마워", "clean"), ('"꺼져" 라니\n두 줄', 1), ("닥쳐", "toxic")]
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([("text", "label", "id"), *((t, y, i) for i, (t, y) in enumerate(rows))])
    assert read_labelled_rows(path, LABELS) == ([t for t, _ in rows], [0, 1, 1])


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
    ("rows.csv", 'text,label\n"안녕, 친구",0\n바보,bad\n', ":3: label must be 0, 1, 'clean' or 'toxic', got 'bad'"),
    ("rows.xlsx", "text,label\n안녕,0\n", "must be a .tsv, .txt, .csv, .jsonl file"),
    ("test.txt", "document\tlabel\n안녕\t8\n바보\t9\n", ":3: K-MHaS `label` must be K-MHaS class ids 0 - 8"),
    ("test.txt", "document\tlabel\n안녕\t8\n바보\n", ":3: K-MHaS `label` is missing"),
    ("test.tsv", "comments\thate\n안녕\tnone\n바보\tmaybe\n", ":3: BEEP! `hate` must be none, offensive or hate"),
    ("both.tsv", "comments\thate\tdocument\tlabel\n안녕\tnone\t안녕\t8\n", ":1: the header fits BEEP! and K-MHaS's layouts"),
])
def test_bad_rows_are_refused_naming_file_line_and_problem(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        read_labelled_rows(path, LABELS, LAYOUTS)
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


def test_corpus_layouts_read_by_their_label_rules(tmp_path):
    kmhas = tmp_path / "kmhas_test.txt"  # K-MHaS: class ids, 8 alone is not hate speech; 0 (origin) is hate
    kmhas.write_text("document\tlabel\n좋은 하루\t8\n어디 출신이냐\t0\n꺼져라\t1,3\n", encoding="utf-8")
    assert read_labelled_rows(kmhas, LABELS, LAYOUTS) == (["좋은 하루", "어디 출신이냐", "꺼져라"], [0, 1, 1])
    kmhas_csv = tmp_path / "kmhas_test.csv"  # the same rows saved as CSV: the class ids are quoted
    kmhas_csv.write_text('document,label\n좋은 하루,8\n어디 출신이냐,0\n꺼져라,"1,3"\n', encoding="utf-8")
    assert read_labelled_rows(kmhas_csv, LABELS, LAYOUTS) == (["좋은 하루", "어디 출신이냐", "꺼져라"], [0, 1, 1])
    beep = tmp_path / "beep_test.tsv"
    beep.write_text("comments\tcontain_gender_bias\tbias\thate\n좋다\tFalse\tnone\tnone\n"
                    "별로\tFalse\tnone\toffensive\n꺼져\tTrue\tgender\thate\n", encoding="utf-8")
    assert read_labelled_rows(beep, LABELS, LAYOUTS) == (["좋다", "별로", "꺼져"], [0, 1, 1])
    with pytest.raises(SpecError, match="the header must name the columns"):
        read_labelled_rows(kmhas, LABELS)  # a caller without the task's layouts reads `text` / `label` only


def test_sentiment_task_reads_nsmc_layout(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("id\tdocument\tlabel\n1\t최고의 영화\t1\n2\t지루하다\t0\n", encoding="utf-8")
    assert read_labelled_rows(path, ("negative", "positive"), data.CORPORA["nsmc"].layouts) == (
        ["최고의 영화", "지루하다"], [1, 0])


@pytest.mark.parametrize("name, rows", [("beep/dev.tsv", lambda: data.beep("dev")),
                                        ("kmhas/valid.txt", data.kmhas_valid)])
def test_the_data_folders_own_files_read_as_the_trainer_reads_them(name, rows):
    assert read_labelled_rows(data.data_dir() / name, LABELS, LAYOUTS) == data.columns(rows())
