"""`kre runs`: the data column, default columns, --columns, and rows that fit the terminal."""

from __future__ import annotations

import pytest
from test_runs_show import art  # noqa: F401 - the fixture

from kre.errors import ConfigError
from kre.runs_table import DEFAULT_COLUMNS, parse_columns


def test_default_columns_show_the_training_data(kre, art) -> None:  # noqa: F811
    root, _, _ = art
    out = kre("runs", "--root", root, ok=True).stdout
    header = next(line for line in out.splitlines() if " id " in line or line.startswith("┃ id"))
    assert "data" in header and "batch" not in header and "epochs" not in header
    assert "augments/0001" in out and "splits/0001" in out  # base/large trained on the augment, small on the split


def test_columns_option_chooses_and_orders(kre, art) -> None:  # noqa: F811
    root, _, _ = art
    out = kre("runs", "--root", root, "--columns", "seed,lr,f1,dropout", ok=True).stdout
    header = next(line for line in out.splitlines() if "seed" in line)
    assert header.index("seed") < header.index("lr") < header.index("valid F1") < header.index("dropout")
    assert "model" not in header and "2e-05" in out and "72.50" in out


def test_rows_fit_the_terminal(art) -> None:  # noqa: F811
    from typer.testing import CliRunner

    from kre.cli import app

    root, _, _ = art
    for width in (80, 120):
        result = CliRunner().invoke(app, ["runs", "--root", str(root), "--columns", "all"], env={"COLUMNS": str(width)}, terminal_width=width)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert max(len(line) for line in lines) <= width
        assert sum("72.50" in line for line in lines) == 1  # one line per run, scores never cut


def test_parse_columns() -> None:
    assert parse_columns(None) == list(DEFAULT_COLUMNS)
    assert parse_columns("id, f1,batch") == ["id", "micro_f1", "batch_size"]
    assert "folds" in parse_columns("all")
    with pytest.raises(ConfigError):
        parse_columns(",")


def test_artifact_references_are_shortened() -> None:
    from kre.runs_table import format_value

    assert format_value("data", "augments/0002-entity-swap-aeda") == "augments/0002"
    assert format_value("model", "kre-demo/tapt/0001-scratch") == "tapt/0001"
    assert format_value("model", "klue/roberta-large") == "klue/roberta-large"
