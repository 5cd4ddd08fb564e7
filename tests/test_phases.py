"""Phases: one config dataclass and one function each; the CLI, pipelines and sweeps share them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from kre.artifacts import ArtifactStore
from kre.errors import ConfigError
from kre.phases import PHASES, build_config, option_names
from kre.training.config import TrainConfig

PACKAGE = Path(__file__).resolve().parents[1] / "kre"
#: options of a command that are not phase options (how the command reads them)
CLI_ONLY = {"config"}


def test_nothing_imports_the_cli_but_its_entry_point() -> None:
    pattern = re.compile(r"^\s*(from\s+(kre|\.+)\.?cli\s+import|import\s+kre\.cli)|\bkre\.cli\b", re.M)
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in ("cli.py", "__main__.py") and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert not (PACKAGE / "invoke.py").exists()


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if value in ([], {}, (), None):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _dataclass_defaults(phase: str) -> dict[str, Any]:
    p = PHASES[phase]
    out: dict[str, Any] = {}
    classes = [p.config, TrainConfig] if p.nested else [p.config]
    for cls in classes:
        for f in fields(cls):
            if f.default is not MISSING:
                out[f.name] = f.default
            elif f.default_factory is not MISSING:  # type: ignore[misc]
                out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_command_options_equal_the_phase_config(phase: str) -> None:
    """Every `kre PHASE` option is a config field with the same default, and every field is an option."""
    import typer

    from kre.cli import app

    command = typer.main.get_command(app).commands[phase]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params if p.name not in CLI_ONLY}
    names = set(option_names(phase))
    assert set(params) == names, f"only in the command: {set(params) - names}; only in the config: {names - set(params)}"
    defaults = _dataclass_defaults(phase)
    for name, param in params.items():
        if param.param_type_name == "argument":
            continue
        default = param.default
        if isinstance(defaults[name], float) and isinstance(default, str):  # `--lr` is text: a number or auto:LRFIND
            default = float(default)
        assert _plain(default) == _plain(defaults[name]), f"kre {phase} --{name}: {param.default!r} != {defaults[name]!r}"
    for name, param in params.items():  # help: the command reads it from the phase's HELP (shared options: _common.py)
        help_table = _help_table(phase)
        if help_table is not None and name not in SHARED:
            assert param.help == help_table[name], f"kre {phase} --{name}: help differs from the phase's HELP"
    for name, param in params.items():  # choices: the command's must be accepted by the config, others refused
        choices = _choices(param)
        for choice in choices:
            build_config(phase, [], {name: [choice] if isinstance(defaults[name], list) else choice})
        if choices:
            with pytest.raises(ConfigError, match="must be one of"):
                build_config(phase, [], {name: ["no-such-choice"] if isinstance(defaults[name], list) else "no-such-choice"})


#: options whose help lives in kre/commands/_common.py (the same for every command)
SHARED = {"root", "labels", "seed", "name"}


def _help_table(phase: str) -> dict[str, str] | None:
    """The phase's HELP table."""
    import importlib

    module = importlib.import_module("kre.augment.config" if phase == "augment" else f"kre.phases.{phase}")
    return getattr(module, "HELP", None)


def _choices(param: Any) -> list[str]:
    """An option's choices (an Enum annotation, or a list of one), from Typer's type descriptor or Click's type."""
    import typing

    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    for candidate in [annotation, *typing.get_args(annotation)]:
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return [m.value for m in candidate]
    return list(getattr(getattr(param, "type", None), "choices", None) or [])


def test_choice_options_are_checked() -> None:
    import typer

    from kre.cli import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    head = next(p for p in command.params if p.name == "head")
    assert _choices(head) == ["cls", "entity", "lstm"]  # the parametrized test above really walks choices


def test_build_config_names_the_closest_option() -> None:
    with pytest.raises(ConfigError, match="unknown option 'valid-siz'") as info:
        build_config("split", ["x.csv"], {"valid-siz": 0.2})
    assert "valid-size" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="--head must be one of"):
        build_config("train", ["splits/latest"], {"head": "nope"})
    job = build_config("train", ["splits/latest"], {"max_steps": 3, "batch-size": 4, "test": "t.csv"}, root="r")
    assert (job.config.max_steps, job.config.batch_size, job.test, job.root) == (3, 4, "t.csv", "r")


def _kre(*args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "kre", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def test_two_train_jobs_and_a_pipeline_publish_into_one_root(kre, tiny_model: Path, tmp_path: Path, train_csv: Path) -> None:
    """Concurrent publishers of runs/ in one root: each gets its own artifact back, none fails."""
    root = tmp_path / "root"
    kre("split", train_csv, "--root", root, "--valid-size", "0.25", ok=True)
    common = ["--model", tiny_model, "--root", root, "--max-steps", "2", "--max-length", "64", "--batch-size", "8"]
    pipe = tmp_path / "p.toml"
    pipe.write_text(
        f'[[step]]\nname = "train"\nphase = "train"\nargs = ["splits/latest"]\n[step.options]\n'
        f'model = "{tiny_model}"\nmax-steps = 2\nmax-length = 64\nbatch-size = 8\nseed = 3\n'
    )
    procs = [_kre("train", "splits/latest", *common, "--seed", "1"), _kre("train", "splits/latest", *common, "--seed", "2"),
             _kre("run", pipe, "--root", root)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n---\n".join(outputs)
    runs = ArtifactStore(root).load_all("runs")
    assert sorted(r.params["seed"] for r in runs) == [1, 2, 3]
    pipeline_run = next(r for r in runs if r.params["seed"] == 3)
    assert pipeline_run.id in outputs[2]
