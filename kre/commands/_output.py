"""Output helpers for the runs/show/ensemble commands: raw JSON and tables that stay readable when piped."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from rich.console import Console

#: Width used when stdout is not a terminal and $COLUMNS is unset (rich would otherwise squeeze tables and trees into 80 columns).
PIPE_WIDTH = 240


def stdout_console() -> Console:
    """The stdout console, or a wide twin of it writing to the same stream when stdout is not a terminal."""
    from ..console import console

    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return Console(file=console.file, width=width, highlight=False, soft_wrap=False, color_system=None)


def emit_json(text: str) -> None:
    """Print JSON text on stdout verbatim (no markup, no wrapping)."""
    from ..console import console

    console.print(text, markup=False, highlight=False, emoji=False, end="" if text.endswith("\n") else "\n")


def print_renderable(renderable: Any) -> None:
    """Print a rich renderable (a tree, a table) on stdout."""
    stdout_console().print(renderable)


def print_wide_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    left: int | Collection[int] = 1,
    fit: bool = False,
    protected: Collection[int] = (0,),
    whole: Collection[int] = (),
) -> None:
    """A rich table on stdout; the first `left` columns (or those indexes) are left-aligned, the others right-aligned.

    With `fit`, cells never wrap: on a narrow terminal the widest texts are cut with an ellipsis
    (numbers keep their width), so each row stays one line; columns that still do not fit are
    hidden from the right, except the `protected` ones, and a note says which. Text columns in
    `whole` are never cut.
    """
    from rich.table import Table

    left_columns = set(range(left)) if isinstance(left, int) else set(left)
    cells = [[str(v) for v in row] for row in rows]
    keep = list(range(len(columns)))
    if fit:
        keep = fitting_columns(columns, cells, left_columns - set(whole), stdout_console().width, keep=protected)
        if len(keep) < len(columns):
            from ..console import info

            hidden = [columns[i] for i in range(len(columns)) if i not in keep]
            info(f"{len(hidden)} column(s) hidden to fit the terminal ({', '.join(hidden)}); choose with --columns")
    table = Table(title=title, title_justify="left")
    caps = _text_caps(columns, cells, keep, left_columns - set(whole), stdout_console().width) if fit else {}
    for i in keep:
        justify = "left" if i in left_columns else "right"
        if fit:
            table.add_column(columns[i], justify=justify, no_wrap=True, overflow="ellipsis", max_width=caps.get(i))
        else:
            table.add_column(columns[i], justify=justify, no_wrap=i == 0)
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    print_renderable(table)


#: Text columns shrink down to this many characters (with an ellipsis) before columns are hidden.
_MIN_TEXT_WIDTH = 8


def _min_width(header: str, cells: list[list[str]], i: int, text: bool) -> int:
    """Narrowest a column may get: numbers never shrink, text down to `_MIN_TEXT_WIDTH`."""
    widest = max([len(header), *(len(row[i]) for row in cells)])
    return min(widest, _MIN_TEXT_WIDTH) if text else widest


def _text_caps(
    columns: Sequence[str], cells: list[list[str]], keep: list[int], text_columns: Collection[int], width: int
) -> dict[int, int]:
    """Widths for the text columns so that the whole row fits: the widest are cut first (numbers keep theirs)."""
    natural = {i: max([len(columns[i]), *(len(row[i]) for row in cells)]) for i in keep}
    texts = [i for i in keep if i in text_columns]
    available = width - 1 - 3 * len(keep) - sum(natural[i] for i in keep if i not in text_columns)
    cap = max([natural[i] for i in texts], default=0)
    while cap > _MIN_TEXT_WIDTH and sum(min(natural[i], cap) for i in texts) > available:
        cap -= 1
    return {i: min(natural[i], cap) for i in texts}


def fitting_columns(
    columns: Sequence[str], cells: list[list[str]], text_columns: Collection[int], width: int, *, keep: Collection[int] = (0,)
) -> list[int]:
    """Indexes of the columns that fit in `width` at their narrowest; the rightmost unprotected ones go first."""
    chosen = list(range(len(columns)))

    def needed() -> int:
        return 1 + sum(_min_width(columns[i], cells, i, i in text_columns) + 3 for i in chosen)

    while needed() > width and any(i not in keep for i in chosen):
        chosen.remove(max(i for i in chosen if i not in keep))
    return chosen
