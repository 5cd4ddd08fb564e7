"""Run kre phases programmatically (in-process), as pipelines and sweeps do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .artifacts import ArtifactStore, set_command_line
from .errors import KreError

#: The artifact kind each phase publishes.
PHASE_KINDS = {
    "eda": "eda",
    "split": "splits",
    "augment": "augments",
    "tapt": "tapt",
    "train": "runs",
    "predict": "predictions",
    "ensemble": "ensembles",
}

Invoker = Callable[[list[str]], int]


def invoke_kre(argv: list[str]) -> int:
    """Run one kre command line in this process (no re-import of torch per step); return its exit code."""
    import typer

    from .cli import app
    from .console import verbosity_flags

    set_command_line(["kre", *argv])
    command = typer.main.get_command(app)
    try:  # the nested command keeps this process's -q / -v
        code = command.main(args=[*verbosity_flags(), *argv], prog_name="kre", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - defensive
        return int(exc.code or 0)
    except Exception as exc:  # usage errors: Click's own exception types, shown as Click shows them
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        raise
    return int(code or 0)


def option_flags(phase: str, options: dict[str, Any]) -> list[str]:
    """Command-line flags for option values: True -> --flag, False -> --no-flag (if it exists), list -> repeated."""
    flags: list[str] = []
    negatable = _negatable_flags(phase)
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                flags.append(flag)
            elif flag in negatable:
                flags.append("--no-" + flag[2:])
        elif isinstance(value, list):
            for v in value:
                flags += [flag, str(v)]
        elif value is not None:
            flags += [flag, str(value)]
    return flags


def _negatable_flags(phase: str) -> set[str]:
    import typer

    from .cli import app

    command = typer.main.get_command(app).commands.get(phase)  # type: ignore[attr-defined]
    if command is None:
        return set()
    return {opt for p in command.params if getattr(p, "secondary_opts", None) for opt in p.opts}


def run_phase(
    phase: str,
    args: list[Any],
    options: dict[str, Any],
    root: Path,
    *,
    invoke: Invoker | None = None,
    label: str | None = None,
) -> str:
    """Run a phase and return the id (`kind/NNNN-slug`) of the one artifact it published."""
    from .console import info

    store = ArtifactStore(root)
    kind = PHASE_KINDS[phase]
    before = {p.name for p in store.list(kind)}
    argv = [phase, *[str(a) for a in args], *option_flags(phase, options), "--root", str(root)]
    label = label or phase
    info(f"[bold]{label}[/bold]: kre {' '.join(argv)}")
    code = (invoke or invoke_kre)(argv)
    if code != 0:
        raise KreError(f"{label} failed (kre {phase} exited with {code})", hint="fix it and run again; finished steps are kept")
    new = [p for p in store.list(kind) if p.name not in before]
    if len(new) != 1:
        raise KreError(f"{label}: expected one new {kind} artifact, found {len(new)}")
    return f"{kind}/{new[0].name}"
