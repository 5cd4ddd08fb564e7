"""Submission-format probability files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kre.data.probs import read_probs, write_probs
from kre.errors import DataError
from kre.labels import LabelSet

LABELS = LabelSet(("no_relation", "per:a", "org:b"))


def test_round_trip_with_gold(tmp_path: Path) -> None:
    probs = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    path = tmp_path / "valid_probs.csv"
    write_probs(path, ["7", "8"], probs, LABELS, gold=["per:a", "org:b"])
    assert path.read_text().splitlines()[0] == "id,pred_label,probs,label"
    table = read_probs(path, LABELS)
    assert table.ids == ["7", "8"] and table.pred_labels == ["per:a", "no_relation"] and table.gold == ["per:a", "org:b"]
    np.testing.assert_array_equal(table.probs, probs)


def test_submission_format(tmp_path: Path) -> None:
    path = tmp_path / "probs.csv"
    write_probs(path, ["0"], np.array([[0.25, 0.25, 0.5]]), LABELS)
    assert path.read_text() == 'id,pred_label,probs\n0,org:b,"[0.25, 0.25, 0.5]"\n'
    assert read_probs(path, LABELS).gold is None


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ('1,per:a,"[0.5, 0.5]"', "probs", "has 2 probabilities"),
        ('1,per:a,"[0.5, NaN, 0.5]"', "probs", "finite"),
        ('1,per:a,"[0.5, -0.1, 0.6]"', "probs", "finite"),
        ('1,per:a,"[0.5, true, 0.5]"', "probs", "not a list of numbers"),
        ('1,per:a,"[0.5, ""x"", 0.5]"', "probs", "not a list of numbers"),
        ("1,per:a,oops", "probs", "not a list of numbers"),
        ('0,per:a,"[0.1, 0.1, 0.8]"', "id", "duplicate id"),
    ],
)
def test_bad_rows(tmp_path: Path, line: str, field: str, fragment: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,pred_label,probs\n0,per:a,"[0.1, 0.8, 0.1]"\n' + line + "\n")
    with pytest.raises(DataError) as info:
        read_probs(path, LABELS)
    assert info.value.row == 2 and info.value.field == field and fragment in str(info.value)


def test_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,probs\n")
    with pytest.raises(DataError, match="missing column"):
        read_probs(path, LABELS)


def test_rows_must_sum_to_one(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,pred_label,probs\n0,per:a,"[0.1, 0.8, 0.1]"\n1,per:a,"[0.3, 2.4, 0.3]"\n')
    with pytest.raises(DataError) as info:
        read_probs(path, LABELS)
    assert info.value.row == 2 and info.value.field == "probs" and "sum to 3" in str(info.value)
    path.write_text('id,pred_label,probs\n0,per:a,"[0.1, 0.8, 0.1000004]"\n')  # rounding is fine
    read_probs(path, LABELS)


def test_file_content_in_errors_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,\x1b[31mpred\x1b[0m,probs\n")
    with pytest.raises(DataError) as info:
        read_probs(path, LABELS)
    assert "\x1b" not in str(info.value) and "\\x1b[31mpred" in str(info.value)
    path.write_bytes(b"\x7fELF\x02\x01\x00\x00" * 40)
    with pytest.raises(DataError) as info:
        read_probs(path, LABELS)
    assert "\x00" not in str(info.value) and len(str(info.value)) < 300
    path.write_text('id,pred_label,probs\n\x1b]0;x\x07,per:a,"[0.1, 0.8, 0.1]"\n\x1b]0;x\x07,per:a,"[0.1, 0.8, 0.1]"\n')
    with pytest.raises(DataError, match="duplicate id") as info:
        read_probs(path, LABELS)
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)
