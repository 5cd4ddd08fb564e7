"""`kre sweep`: an Optuna search over train options, each trial a normal run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import RootOpt, SeedOpt, cli_errors


@cli_errors
def sweep_cli(
    data: Annotated[str, typer.Argument(help="Split or augment artifact to train on (e.g. splits/latest).")],
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (TOML) with sweep, fixed and space tables.", exists=True, dir_okay=False)],
    trials: Annotated[int | None, typer.Option("--trials", help="Finished trials wanted in the study (default: the file's).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Study name (default: the sweep file's name); reuse it to resume.")] = None,
    pruner: Annotated[
        str, typer.Option("--pruner", help="Stop unpromising trials early on their validation micro F1 at each evaluation: median (Optuna's MedianPruner) or none.")
    ] = "median",
    root: RootOpt = Path("."),
    seed: SeedOpt = 42,
) -> None:
    """Search train options with Optuna; each trial is a normal `kre train` run.

    The study is stored in ROOT/.kre/sweeps/NAME.db, so running the same command
    again resumes: finished trials are kept and only the missing ones run; several
    processes can work on one study at once. Trials report validation micro F1 at each
    evaluation (set --eval-every in [fixed] for more than one per epoch); a pruned trial
    publishes nothing.
    """
    from ..console import print_table, result
    from ..sweep import load_sweep, run_sweep

    spec = load_sweep(sweep_file)
    outcome = run_sweep(data=data, spec=spec, root=root, name=name or sweep_file.stem, trials=trials, seed=seed, pruner=pruner)
    rows = [
        (t.number, t.state, "-" if t.value is None else f"{t.value:.2f}", t.run or "-", ", ".join(f"{k}={v}" for k, v in t.params.items()))
        for t in outcome.trials
    ]
    print_table(f"Sweep {outcome.name} ({outcome.metric})", ["trial", "state", outcome.metric, "run", "params"], rows)
    best = outcome.best
    if best is None:
        result("No trial finished.")
        raise typer.Exit(1)
    result(f"Best: trial {best.number}, {outcome.metric} {best.value:.2f}, run {best.run}")
