"""`kre split`: a fixed, stratified, sentence-group-aware train/valid split (and K folds)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..phases.split import HELP
from ._common import ConfigOpt, LabelsOpt, RootOpt, SeedOpt, SlugOpt, cli_errors, load_config, merge_config


class ConflictPolicy(str, Enum):
    """What to do with rows that share sentence and entity pair but disagree on the label."""

    keep_first = "keep-first"
    drop_all = "drop-all"


@cli_errors
def split_cli(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Argument(help=HELP["data"], show_default=False)
    ],
    valid_size: Annotated[float, typer.Option("--valid-size", help=HELP["valid_size"])] = 0.1,
    seed: SeedOpt = 42,
    folds: Annotated[int, typer.Option("--folds", help=HELP["folds"])] = 0,
    dedupe: Annotated[bool, typer.Option("--dedupe", help=HELP["dedupe"])] = False,
    conflicts: Annotated[
        ConflictPolicy, typer.Option("--conflicts", help=HELP["conflicts"])
    ] = ConflictPolicy.keep_first,
    like: Annotated[
        Path | None,
        typer.Option("--like", help=HELP["like"], dir_okay=False),
    ] = None,
    labels: LabelsOpt = None,
    root: RootOpt = Path("."),
    name: SlugOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Split labeled data into train/valid, keeping every sentence on one side, stratified by label.

    Writes splits/NNNN-<name>/ with train.csv, valid.csv, report.json, class_counts.png and,
    with --folds K, folds.csv (id,fold) over all kept rows. Same data and seed: same files.

    With --like TEST, valid takes the sentences a classifier finds most like the test set,
    still grouped and stratified; report.json compares it with the plain split (folds as before).
    """
    values = dict(
        valid_size=valid_size, seed=seed, folds=folds, dedupe=dedupe, conflicts=conflicts, like=like, labels=labels, root=root, name=name
    )
    opts = merge_config(ctx, load_config(config), values)
    from ..phases.split import SplitConfig, split
    from ..split import print_summary

    opts["conflicts"] = ConflictPolicy(opts["conflicts"]).value
    artifact = split(SplitConfig(data=data, **opts))
    print_summary(artifact)
