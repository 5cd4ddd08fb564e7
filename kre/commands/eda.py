"""`kre eda`: statistics, plots and a report of data files, as an `eda/` artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..phases.eda import HELP
from ._common import LabelsOpt, RootOpt, SeedOpt, SlugOpt, cli_errors


@cli_errors
def eda_cli(
    data: Annotated[
        list[Path],
        typer.Argument(help=HELP["data"], show_default=False),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help=HELP["model"]),
    ] = None,
    adversarial: Annotated[
        bool,
        typer.Option("--adversarial/--no-adversarial", help=HELP["adversarial"]),
    ] = True,
    seed: SeedOpt = 0,
    labels: LabelsOpt = None,
    root: RootOpt = Path("."),
    name: SlugOpt = None,
) -> None:
    """Explore data files: labels, sources, entity types, lengths, duplicates, conflicts, overlap and shift.

    Invalid rows are reported (file, row, field), not fatal. Writes eda/<NNNN>-<name>/ with report.md, stats.json and PNG plots.

    Every other file is compared with the first labeled one: shared sentences, distribution shift,
    and how well a classifier tells them apart (ROC AUC, n-grams, sources; --no-adversarial skips it).
    """
    from ..console import info, warn
    from ..phases.eda import EdaConfig, eda
    from ..eda.report import print_summary

    artifact = eda(EdaConfig(data=list(data), model=model, adversarial=adversarial, seed=seed, labels=labels, root=root, name=name))
    stats = json.loads(artifact.file("stats.json").read_text(encoding="utf-8"))
    print_summary(stats, artifact.id)
    if stats["totals"]["problems"]:
        warn(f"{stats['totals']['problems']} invalid rows were left out of the statistics (listed in report.md)")
    info(f"Wrote {artifact.path}")
