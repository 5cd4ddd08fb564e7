"""`kre predict`: class probabilities for a data file from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..phases.predict import HELP
from ._common import RootOpt, SlugOpt, cli_errors


@cli_errors
def predict_cli(
    run: Annotated[str, typer.Argument(help=HELP["run"])],
    data: Annotated[Path, typer.Argument(help=HELP["data"], dir_okay=False)],
    batch_size: Annotated[int, typer.Option(help=HELP["batch_size"])] = 128,
    restrict_types: Annotated[
        bool | None,
        typer.Option("--restrict-types/--no-restrict-types", help=HELP["restrict_types"]),
    ] = None,
    name: SlugOpt = None,
    root: RootOpt = Path("."),
) -> None:
    """Write predictions/<id>/probs.csv (submission format; fold models averaged for k-fold runs)."""
    from ..console import result
    from ..phases.predict import PredictConfig, predict

    artifact = predict(PredictConfig(run=run, data=data, batch_size=batch_size, restrict_types=restrict_types, name=name, root=root))
    if artifact.metrics:
        m = artifact.metrics
        result(f"micro F1 {m['micro_f1']:.2f}  AUPRC {m['auprc']:.2f}  accuracy {m['accuracy']:.2f}")
    result(str(artifact.path / "probs.csv"))
