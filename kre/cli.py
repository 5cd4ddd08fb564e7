"""The `kre` console script: one Typer app, one subcommand per phase."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__
from .commands import augment, eda, ensemble, errors, gc, pipeline, predict, runs, show, split, sweep, tapt, train

#: Prefix pydantic puts before the message of a validator's ValueError (Typer shows it verbatim).
_PYDANTIC_PREFIX = "Value error, "


def clean_usage_message(message: str) -> str:
    """A bad-parameter message without the "Value error, " prefix that pydantic adds."""
    return message.removeprefix(_PYDANTIC_PREFIX)


#: A choice list longer than this moves from the option column into the help text.
_MAX_CHOICES_WIDTH = 28
_CHOICES_RE = re.compile(r"<(?:list\[)?([^<>|\[\]\s]+(?:\|[^<>|\[\]\s]+)+)\]?>")


def fold_long_choices(record: tuple[str, str]) -> tuple[str, str]:
    """An option's help row with a long `<a|b|c>` list moved into the help text, where it wraps by word."""
    names, help_text = record
    match = _CHOICES_RE.search(names)
    if match is None or len(match.group(0)) <= _MAX_CHOICES_WIDTH:
        return record
    options = match.group(1).split("|")
    names = names[: match.start()] + "<choice>" + names[match.end() :]
    if all(option in help_text for option in options):
        return names, help_text  # the help already names them
    choices = f"Choices: {', '.join(options)}."
    text, bracket, tail = help_text.partition("  [")  # keep "[default: ...]" last
    return names, f"{text}  {choices}{bracket}{tail}".strip()


def write_definitions(formatter: Any, rows: list[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
    """Like Click's `write_dl`, but never breaks a word at a hyphen (`entity-mask`, `label-smoothing`)."""
    import textwrap

    first_width = min(max(len(name) for name, _ in rows), col_max)
    indent = " " * formatter.current_indent
    text_width = max(formatter.width - first_width - col_spacing - formatter.current_indent, 10)
    wrapper = textwrap.TextWrapper(width=text_width, break_on_hyphens=False, break_long_words=False)
    pad = " " * (formatter.current_indent + first_width + col_spacing)
    for name, help_text in rows:
        lines = wrapper.wrap(help_text) if help_text else []
        if len(name) <= first_width:
            formatter.write(f"{indent}{name:<{first_width}}{' ' * col_spacing}{lines[0] if lines else ''}".rstrip() + "\n")
            lines = lines[1:]
        else:
            formatter.write(f"{indent}{name}\n")
        for line in lines:
            formatter.write(f"{pad}{line}\n")


class _CleanUsageMessages:
    """Mixin: bad-parameter messages without pydantic's "Value error, " prefix."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except typer.BadParameter as exc:
            exc.message = clean_usage_message(exc.message)
            raise


class KreCommand(_CleanUsageMessages, TyperCommand):
    """A subcommand whose help fits narrow terminals and whose bad-value messages read like kre's errors."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                key = "Arguments" if param.param_type_name == "argument" else "Options"
                sections[key].append(fold_long_choices(record))
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    write_definitions(formatter, records)


class KreGroup(_CleanUsageMessages, TyperGroup):
    """The top-level group, with the same message clean-up as `KreCommand`."""


# Plain (Click-style) help: it wraps at word boundaries at any terminal width, shows flags
# without a value placeholder and never cuts a default; rich panels did all three badly at 80 columns.
app = typer.Typer(
    name="kre",
    help="Korean relation extraction (KLUE-RE) experiments: each phase reads and writes versioned artifact folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=KreGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kre {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Artifact root for the subcommand (same as $KRE_ROOT; the subcommand's own --root wins)."),
    ] = None,
) -> None:
    """Korean relation extraction (KLUE-RE) experiments."""
    from .console import set_verbosity

    set_verbosity(quiet=quiet, verbose=verbose)
    if root is not None:
        _set_root_for_subcommand(ctx, root)


def _set_root_for_subcommand(ctx: typer.Context, root: Path) -> None:
    """Pass `kre --root X` to the subcommand through $KRE_ROOT (read by every --root), restored afterwards."""
    previous = os.environ.get("KRE_ROOT")
    os.environ["KRE_ROOT"] = str(root)

    def restore() -> None:
        if previous is None:
            os.environ.pop("KRE_ROOT", None)
        else:
            os.environ["KRE_ROOT"] = previous

    ctx.call_on_close(restore)


app.command("eda", cls=KreCommand)(eda.eda_cli)
app.command("split", cls=KreCommand)(split.split_cli)
app.command("augment", cls=KreCommand)(augment.augment_cli)
app.command("tapt", cls=KreCommand)(tapt.tapt_cli)
app.command("train", cls=KreCommand)(train.train_cli)
app.command("predict", cls=KreCommand)(predict.predict_cli)
app.command("ensemble", cls=KreCommand)(ensemble.ensemble_cli)
app.command("errors", cls=KreCommand)(errors.errors_cli)
app.command("runs", cls=KreCommand)(runs.runs_cli)
app.command("show", cls=KreCommand)(show.show_cli)
app.command("gc", cls=KreCommand)(gc.gc_cli)
app.command("run", cls=KreCommand)(pipeline.run_cli)
app.command("sweep", cls=KreCommand)(sweep.sweep_cli)
app.command("demo", cls=KreCommand)(pipeline.demo_cli)


def main() -> None:
    """Console-script entry point."""
    from .artifacts import set_command_line

    set_command_line(["kre", *sys.argv[1:]])
    app()


if __name__ == "__main__":
    main()
