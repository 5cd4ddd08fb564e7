"""Data layer: reading, validation errors naming file/row/field, writing back."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.data import Entity, Example, parse_entity_string, read_dataset, read_examples, write_csv, write_jsonl
from kre.data.entities import EntityParseError, format_entity_string
from kre.errors import DataError
from kre.labels import LabelSet

HEADER = "id,sentence,subject_entity,object_entity,label,source\n"
GOOD_ROW = "0,이순신은 1545년에 태어났다.,\"{'word': '이순신', 'start_idx': 0, 'end_idx': 2, 'type': 'PER'}\",\"{'word': '1545년', 'start_idx': 5, 'end_idx': 9, 'type': 'DAT'}\",per:date_of_birth,wikipedia\n"


def _csv(tmp_path: Path, body: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_parse_entity_string_is_literal_only() -> None:
    e = parse_entity_string("{'word': '비틀즈', 'start_idx': 24, 'end_idx': 26, 'type': 'ORG'}")
    assert e == Entity("비틀즈", 24, 26, "ORG")
    # words with quotes and commas, as Python's repr writes them
    tricky = Entity("O'Neil, Jr.", 3, 13, "PER")
    assert parse_entity_string(format_entity_string(tricky)) == tricky
    for bad in ["__import__('os').system('echo hi')", "{'word': f(1)}", "[1, 2]", "{'word': 'a'}", "", "{'word': 1, 'start_idx': 0, 'end_idx': 0, 'type': 'PER'}"]:
        with pytest.raises(EntityParseError):
            parse_entity_string(bad)


def test_read_good_csv(tmp_path: Path) -> None:
    ds = read_dataset(_csv(tmp_path, GOOD_ROW))
    (ex,) = ds.examples
    assert ex.id == "0" and ex.label == "per:date_of_birth" and ex.source == "wikipedia"
    assert ex.subject == Entity("이순신", 0, 2, "PER") and ex.object.word == "1545년"
    assert ds.is_labeled and not ds.problems


@pytest.mark.parametrize(
    ("body", "row", "field", "fragment"),
    [
        (GOOD_ROW.replace("'end_idx': 9", "'end_idx': 8"), 1, "object_entity", "not the word '1545년'"),
        (GOOD_ROW.replace("per:date_of_birth", "per:favourite_food"), 1, "label", "unknown label 'per:favourite_food'"),
        (GOOD_ROW.replace("'type': 'PER'", "'type': 'LOC'"), 1, "subject_entity", "subject type 'LOC'"),
        (GOOD_ROW.replace("'type': 'DAT'", "'type': 'XYZ'"), 1, "object_entity", "object type 'XYZ'"),
        (GOOD_ROW + GOOD_ROW, 2, "id", "duplicate id"),
        (GOOD_ROW.replace("\"{'word': '이순신'", "\"{'wrd': '이순신'"), 1, "subject_entity", "missing key"),
        (GOOD_ROW.replace(",wikipedia", ",wikipedia,extra"), 1, None, "fields"),
        (GOOD_ROW.replace("이순신은 1545년에 태어났다.", ""), 1, "sentence", "empty sentence"),
    ],
)
def test_bad_rows_name_file_row_field(tmp_path: Path, body: str, row: int, field: str | None, fragment: str) -> None:
    path = _csv(tmp_path, body)
    with pytest.raises(DataError) as info:
        read_dataset(path)
    err = info.value
    assert err.path == str(path) and err.row == row and err.field == field
    assert fragment in str(err) and str(path) in str(err) and f"row {row}" in str(err)
    assert "\n" not in str(err)
    # non-strict mode reports the same problem and keeps going
    ds = read_dataset(path, strict=False)
    assert ds.problems and ds.problems[0].row == row


def test_file_level_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_dataset(empty)
    with pytest.raises(DataError, match="header but no rows"):
        read_dataset(_csv(tmp_path, ""))
    cols = tmp_path / "cols.csv"
    cols.write_text("id,text,label\n0,abc,no_relation\n")
    with pytest.raises(DataError, match="missing column.*sentence"):
        read_dataset(cols)
    with pytest.raises(DataError, match="file not found"):
        read_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown file type"):
        read_dataset(tmp_path / "x.parquet")


def test_bad_encoding_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    second = GOOD_ROW.replace("0,", "1,", 1).encode("utf-8").replace(b"wikipedia", b"wiki\xe9")
    path.write_bytes((HEADER + GOOD_ROW).encode("utf-8") + second)
    with pytest.raises(DataError) as info:
        read_dataset(path)
    assert info.value.row == 2 and info.value.field == "source" and "UTF-8" in str(info.value)


def test_unlabeled_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, GOOD_ROW.replace("per:date_of_birth", "100"))
    ds = read_dataset(path)
    assert ds.examples[0].label is None and not ds.is_labeled
    with pytest.raises(DataError, match="missing label"):
        read_dataset(path, require_labels=True)
    # unknown subject types are kept (with a warning) in unlabeled test rows only
    odd = _csv(tmp_path, GOOD_ROW.replace("per:date_of_birth", "100").replace("'type': 'PER'", "'type': 'LOC'"), "odd.csv")
    ds = read_dataset(odd)
    assert len(ds.examples) == 1 and ds.warnings and "LOC" in ds.warnings[0].message


def test_custom_label_map(tmp_path: Path) -> None:
    labels_json = tmp_path / "labels.json"
    labels_json.write_text(json.dumps({"no_relation": 0, "per:likes": 1}))
    labels = LabelSet.load(labels_json)
    assert labels.names == ("no_relation", "per:likes") and labels.no_relation_id == 0
    ds = read_dataset(_csv(tmp_path, GOOD_ROW.replace("per:date_of_birth", "per:likes")), labels=labels)
    assert ds.examples[0].label == "per:likes"
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 0, "b": 2}')
    with pytest.raises(DataError, match="without gaps"):
        LabelSet.load(bad)


def test_csv_round_trip_is_byte_identical(tmp_path: Path) -> None:
    examples = synth_examples(40, seed=5)
    examples[3] = replace(examples[3], sentence=examples[3].sentence)  # unchanged
    first = write_examples(tmp_path / "a.csv", examples)
    second = tmp_path / "b.csv"
    write_csv(second, read_examples(first))
    assert first.read_bytes() == second.read_bytes()
    assert read_examples(first) == examples


def test_extra_columns_survive(tmp_path: Path) -> None:
    ex = synth_examples(2)
    ex = [replace(ex[0], extra={"aug_method": "", "aug_parent": ""}), replace(ex[1], id="1-aeda-0", extra={"aug_method": "aeda", "aug_parent": "1"})]
    path = write_examples(tmp_path / "aug.csv", ex)
    assert path.read_text().splitlines()[0] == "id,sentence,subject_entity,object_entity,label,source,aug_method,aug_parent"
    back = read_examples(path)
    assert back[1].extra == {"aug_method": "aeda", "aug_parent": "1"}


def test_klue_json_and_jsonl(tmp_path: Path) -> None:
    examples = synth_examples(10, seed=2)
    write_jsonl(tmp_path / "d.jsonl", examples)
    assert read_examples(tmp_path / "d.jsonl") == examples
    from kre.data.io import example_to_json

    (tmp_path / "klue.json").write_text(json.dumps([example_to_json(e) for e in examples], ensure_ascii=False))
    assert read_examples(tmp_path / "klue.json") == examples
    (tmp_path / "broken.jsonl").write_text(json.dumps(example_to_json(examples[0]), ensure_ascii=False) + "\n{not json\n")
    with pytest.raises(DataError) as info:
        read_dataset(tmp_path / "broken.jsonl")
    assert info.value.row == 2


def test_unlabeled_written_as_100(tmp_path: Path) -> None:
    path = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(3)))
    assert all(line.split(",")[-2] == "100" for line in path.read_text().splitlines()[1:])
    assert all(e.label is None for e in read_examples(path))


def test_example_is_hashable_key() -> None:
    ex = synth_examples(2, pairs_per_sentence=1)
    assert isinstance(ex[0], Example) and ex[0].input_key() != ex[1].input_key()


def test_file_content_in_errors_is_escaped_and_shortened(tmp_path: Path, kre) -> None:
    esc = tmp_path / "esc.csv"
    esc.write_text("id,\x1b[31mRED\x1b[0m,[bold]x[/],sentence\n1,a,b,c\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column") as info:
        read_dataset(esc)
    assert "\x1b" not in str(info.value) and "\\x1b[31mRED" in str(info.value)
    res = kre("split", esc, "--root", tmp_path / "art", ok=False)
    assert res.exit_code == 1 and "\x1b[31mRED" not in res.output and "[bold]x[/]" in res.output
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 20)
    with pytest.raises(DataError) as info:
        read_dataset(binary)
    assert "\x00" not in str(info.value) and "binary" in str(info.value) and len(str(info.value)) < 200
    long_label = tmp_path / "long.csv"
    long_label.write_text(HEADER + GOOD_ROW.replace("per:date_of_birth", "\x07" + "x" * 500), encoding="utf-8")
    with pytest.raises(DataError, match="unknown label") as info:
        read_dataset(long_label)
    assert "\x07" not in str(info.value) and len(str(info.value)) < 250


def test_printable() -> None:
    from kre.fileio import printable

    assert printable("이순신 abc") == "이순신 abc"
    assert printable("a\x00b\x1b[0m\udce9\u200b") == "a\\x00b\\x1b[0m\\xe9\\u200b"
    assert printable("x" * 100, 10) == "x" * 9 + "…"
    assert len(printable("\x00" * 100, 12)) <= 12
