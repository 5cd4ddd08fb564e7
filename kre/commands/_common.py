"""Shared option types, error handling and config-file support for the subcommands."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..errors import ConfigError, KreError

F = TypeVar("F", bound=Callable[..., Any])

RootOpt = Annotated[
    Path,
    typer.Option("--root", help="Artifact root folder (eda/, splits/, runs/ ... live here).", envvar="KRE_ROOT"),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
LabelsOpt = Annotated[
    Path | None,
    typer.Option("--labels", help="Label map JSON ({label: id}); default: the 30 KLUE-RE labels.", exists=True, dir_okay=False),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML or JSON file of option values; flags given on the command line win.", exists=True, dir_okay=False),
]
SlugOpt = Annotated[str | None, typer.Option("--name", help="Name part of the new artifact folder (NNNN-<name>).")]


def cli_errors(func: F) -> F:
    """Turn KreError into a one-line 'Error: ...' on stderr and exit code 1 (traceback with KRE_DEBUG=1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KreError as exc:
            if os.environ.get("KRE_DEBUG"):
                raise
            report_error(exc)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            from ..console import err_console

            err_console.print("[red]Interrupted[/red]: nothing was published.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def report_error(exc: KreError) -> None:
    """Print a KreError (and its hint) on stderr."""
    from rich.markup import escape

    from ..console import err_console

    # messages quote file content and paths: never read them as rich markup
    err_console.print(f"[bold red]Error:[/bold red] {escape(exc.message)}", markup=True, highlight=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"[dim]Hint: {escape(exc.hint)}[/dim]")


def not_built(phase: str, issue: str) -> None:
    """Say clearly that a phase is not available yet, and exit non-zero."""
    raise KreError(f"`kre {phase}` is not built yet in this version", hint=f"see the {issue} issue; CHANGELOG.md lists what works")


def load_config(path: Path | None) -> dict[str, Any]:
    """Read a TOML or JSON options file into a dict with kebab-case keys turned into snake_case."""
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import tomllib

            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes one line
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: config must be a table of option values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def merge_config(ctx: typer.Context, config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Option values with config-file values filling in every option not given on the command line."""
    known = set(values)
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"config has unknown option(s): {', '.join(unknown)}", hint=f"options: {', '.join(sorted(known))}")
    merged = dict(values)
    for key, value in config.items():
        source = ctx.get_parameter_source(key)
        # Compared by name: the enum lives in Typer's private vendored Click.
        if source is None or getattr(source, "name", "") in ("DEFAULT", "DEFAULT_MAP"):
            merged[key] = value
    return merged


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
