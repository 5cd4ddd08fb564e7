"""`kre predict`: class probabilities for a data file from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import RootOpt, SlugOpt, cli_errors


@cli_errors
def predict_cli(
    run: Annotated[str, typer.Argument(help="A runs/ artifact: folder, runs/latest or runs/NNNN.")],
    data: Annotated[Path, typer.Argument(help="Data file (competition CSV, KLUE JSON or JSONL); labels optional.", dir_okay=False)],
    batch_size: Annotated[int, typer.Option(help="Inference batch size.")] = 128,
    restrict_types: Annotated[
        bool | None,
        typer.Option("--restrict-types/--no-restrict-types", help="Mask labels impossible for the subject type (default: as the run was trained)."),
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
