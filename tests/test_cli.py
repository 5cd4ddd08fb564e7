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
