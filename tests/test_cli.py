"""The console script: help, version, import cost, error reporting."""

from __future__ import annotations

import subprocess
import sys

PHASES = ("eda", "split", "augment", "tapt", "train", "predict", "ensemble")


def test_help_lists_every_phase(kre) -> None:
    result = kre("--help", ok=True)
    for phase in PHASES:
        assert phase in result.output


def test_version(kre) -> None:
    from kre import __version__

    assert kre("--version", ok=True).output.strip() == f"kre {__version__}"


def test_cli_import_stays_light() -> None:
    """`kre --help` must not import the heavy libraries (it answers in well under a second)."""
    code = "import sys, kre.cli; heavy = [m for m in ('torch', 'transformers', 'datasets', 'pandas', 'matplotlib', 'sklearn', 'sentence_transformers') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_console_script_reports_errors_in_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,x\n")
    proc = subprocess.run([sys.executable, "-m", "kre", "split", str(bad), "--root", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and str(bad) in errors[0] and "missing column" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "splits").exists() or not any(p.name[0].isdigit() for p in (tmp_path / "splits").iterdir())


def _help(kre, *args: str) -> str:
    from typer.testing import CliRunner

    from kre.cli import app

    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_help_fits_80_columns(kre) -> None:
    text = _help(kre, "train")
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "<bool>" not in text and "…" not in text
    flat = " ".join(text.split())
    # choices and defaults are whole words, never broken or cut
    assert "typed-marker-punct" in flat and "[default: typed-marker-punct]" in flat
    assert "--query / --no-query" in text and "--fp16 " in text
    assert "[required]" in flat.split("--model", 1)[1].split("--", 1)[0]


def test_dash_m_means_only_method(kre) -> None:
    assert "-m, --method" in _help(kre, "augment")
    assert "-m," not in _help(kre, "train")


def test_bad_choice_has_no_pydantic_prefix(kre, tmp_path) -> None:
    result = kre("train", str(tmp_path), "--head", "nope", ok=False)
    assert result.exit_code == 2
    assert "Value error" not in result.output and "'nope' is not one of" in result.output


def test_raw_data_file_where_artifact_expected(kre, train_csv, tmp_path) -> None:
    result = kre("train", str(train_csv), "--model", "x", "--root", str(tmp_path), ok=False)
    assert result.exit_code == 1
    assert f"run `kre split {train_csv}` first" in result.output
    assert "no such artifact" not in result.output


def test_root_before_subcommand_and_env(kre, train_csv, tmp_path, monkeypatch) -> None:
    import os

    monkeypatch.delenv("KRE_ROOT", raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    kre("--root", str(a), "split", str(train_csv), ok=True)
    assert (a / "splits").is_dir() and "KRE_ROOT" not in os.environ  # restored after the command
    kre("show", "splits/latest", ok=False)  # nothing under the current folder
    assert "splits/0001" in kre("--root", str(a), "show", "splits/latest", ok=True).output
    # the subcommand's own --root wins over the global one and over $KRE_ROOT
    monkeypatch.setenv("KRE_ROOT", str(tmp_path / "elsewhere"))
    kre("--root", str(tmp_path / "nowhere"), "split", str(train_csv), "--root", str(b), ok=True)
    assert (b / "splits").is_dir() and not (tmp_path / "nowhere").exists()
    assert "splits/0001" in kre("show", "splits/latest", "--root", str(a), ok=True).output


def test_plural() -> None:
    from kre.console import plural

    assert plural(1, "sentence") == "1 sentence" and plural(2, "sentence") == "2 sentences"
    assert plural(0, "identical input") == "0 identical inputs"


def test_progress_bar_removed_on_error() -> None:
    import pytest

    from kre.console import err_console, progress

    with err_console.capture() as captured, pytest.raises(RuntimeError):
        with progress("working", total=30) as task:
            task.advance()  # under a tenth: no plain progress line either (no terminal here)
            raise RuntimeError("boom")
    assert "working" not in captured.get()


def test_progress_without_a_terminal_prints_a_line_each_tenth() -> None:
    from kre.console import err_console, progress

    assert not err_console.is_terminal  # pytest captures stderr
    with err_console.capture() as captured:
        with progress("predict", total=95) as task:
            for _ in range(19):
                task.advance(5)
    lines = [line for line in captured.get().splitlines() if line.strip()]
    assert len(lines) == 10 and lines[0].startswith("predict: 10/95 (10%) elapsed 0:00:00 remaining")
    assert lines[-1] == "predict: 95/95 (100%) elapsed 0:00:00"
