"""The `kre` console script: one Typer app, one subcommand per phase."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import __version__
from .commands import augment, eda, ensemble, gc, predict, run, runs, show, split, sweep, tapt, train

app = typer.Typer(
    name="kre",
    help="Korean relation extraction (KLUE-RE) experiments: each phase reads and writes versioned artifact folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kre {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Korean relation extraction (KLUE-RE) experiments."""
    from .console import set_verbosity

    set_verbosity(quiet=quiet, verbose=verbose)


app.command("eda")(eda.eda_cli)
app.command("split")(split.split_cli)
app.command("augment")(augment.augment_cli)
app.command("tapt")(tapt.tapt_cli)
app.command("train")(train.train_cli)
app.command("predict")(predict.predict_cli)
app.command("ensemble")(ensemble.ensemble_cli)
app.command("runs")(runs.runs_cli)
app.command("show")(show.show_cli)
app.command("gc")(gc.gc_cli)
app.command("run")(run.run_cli)
app.command("sweep")(sweep.sweep_cli)
app.command("demo")(run.demo_cli)


def main() -> None:
    """Console-script entry point."""
    from .artifacts import set_command_line

    set_command_line(["kre", *sys.argv[1:]])
    app()


if __name__ == "__main__":
    main()
