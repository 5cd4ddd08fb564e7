"""The one place that prints: consoles, verbosity and progress bars."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

T = TypeVar("T")

#: Results and tables go to stdout.
console = Console(highlight=False, soft_wrap=True)
#: Progress, status and warnings go to stderr.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_verbosity = 0  # -1 quiet, 0 normal, 1 verbose


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    """Set the global verbosity from the -q/-v flags."""
    global _verbosity
    _verbosity = -1 if quiet else (1 if verbose else 0)


def verbosity_flags() -> list[str]:
    """The global flags (-q / -v) that reproduce the current verbosity in a nested command."""
    return ["-q"] if _verbosity < 0 else (["-v"] if _verbosity > 0 else [])


def is_quiet() -> bool:
    """True when -q was given."""
    return _verbosity < 0


def info(message: str) -> None:
    """A status line on stderr (hidden with -q)."""
    if _verbosity >= 0:
        err_console.print(message)


def debug(message: str) -> None:
    """A detail line on stderr (shown with -v)."""
    if _verbosity > 0:
        err_console.print(f"[dim]{message}[/dim]")


def warn(message: str) -> None:
    """A warning on stderr (always shown)."""
    err_console.print(f"[yellow]Warning:[/yellow] {message}")


def result(message: str) -> None:
    """A result line on stdout (always shown)."""
    console.print(message)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table of results on stdout."""
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def make_progress(transient: bool = False, disable: bool = False) -> Progress:
    """A rich progress display on stderr, disabled with -q (or `disable`)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        transient=transient,
        disable=disable or is_quiet(),
    )


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator["ProgressTask"]:
    """Context manager yielding a single progress task (advance it, set its status).

    On a terminal: a rich bar. Without one (a log file, CI, a batch job) a plain line
    every tenth of the total, e.g. `predict: 2,330/7,765 (30%) elapsed 0:00:12 remaining 0:00:28`.
    """
    plain = not err_console.is_terminal and not is_quiet()
    with make_progress(disable=plain) as bar:
        task_id = bar.add_task(description, total=total, status="")
        try:
            yield ProgressTask(bar, task_id, description=description, total=total, plain=plain)
        except BaseException:
            bar.remove_task(task_id)  # no half-done bar left above the error message
            raise


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS (progress lines)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressTask:
    """A handle on one rich progress task (with plain tenth-of-the-way lines when there is no terminal)."""

    def __init__(self, bar: Progress, task_id: Any, *, description: str = "", total: float | None = None,
                 plain: bool = False) -> None:
        self._bar = bar
        self._id = task_id
        self._plain = plain
        self._description = description
        self._total = total
        self._done = 0.0
        self._started = time.monotonic()
        self._reported = 0  # tenths of the total already reported

    def advance(self, n: float = 1) -> None:
        self._bar.advance(self._id, n)
        self._done += n
        if self._plain:
            self._report()

    def status(self, text: str) -> None:
        self._bar.update(self._id, status=text)

    def reset(self, total: int | None, description: str | None = None) -> None:
        kwargs: dict[str, Any] = {"total": total, "completed": 0}
        if description is not None:
            kwargs["description"] = description
        self._bar.update(self._id, **kwargs)
        self._total, self._done, self._started, self._reported = total, 0.0, time.monotonic(), 0
        self._description = description if description is not None else self._description

    def _report(self) -> None:
        total, done = self._total, self._done
        if not total or done <= 0:
            return
        tenths = min(10, int(10 * done // total))
        if tenths <= self._reported:
            return
        self._reported = tenths
        elapsed = time.monotonic() - self._started
        line = f"{self._description}: {int(done):,}/{int(total):,} ({100 * done // total:.0f}%) elapsed {clock(elapsed)}"
        if done < total:
            line += f" remaining {clock(elapsed / done * (total - done))}"
        err_console.print(line, markup=False)


def track(items: Sequence[T], description: str) -> Iterator[T]:
    """Iterate over items with a progress bar."""
    with progress(description, total=len(items)) as task:
        for item in items:
            yield item
            task.advance()


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` with the noun in the right number: "1 sentence", "2 sentences", "1 identical input"."""
    noun = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {noun}"
