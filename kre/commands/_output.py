"""Output helpers for the runs/show/ensemble commands: raw JSON and tables that stay readable when piped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console

#: Width used when stdout is not a terminal (rich would otherwise squeeze tables and trees into 80 columns).
PIPE_WIDTH = 240


def stdout_console() -> Console:
    """The stdout console, or a wide twin of it writing to the same stream when stdout is not a terminal."""
    from ..console import console

    if console.is_terminal:
        return console
    return Console(file=console.file, width=PIPE_WIDTH, highlight=False, soft_wrap=False, color_system=None)


def emit_json(text: str) -> None:
    """Print JSON text on stdout verbatim (no markup, no wrapping)."""
    from ..console import console

    console.print(text, markup=False, highlight=False, emoji=False, end="" if text.endswith("\n") else "\n")


def print_renderable(renderable: Any) -> None:
    """Print a rich renderable (a tree, a table) on stdout."""
    stdout_console().print(renderable)


def print_wide_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, left: int = 1) -> None:
    """A rich table on stdout; the first `left` columns are left-aligned, the others right-aligned."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i < left else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    print_renderable(table)
