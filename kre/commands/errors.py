"""`kre errors`: which validation mistakes a run or ensemble makes, as an HTML page and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..phases.errors import HELP
from ._common import LabelsOpt, RootOpt, SlugOpt, cli_errors
from ._output import print_wide_table


@cli_errors
def errors_cli(
    source: Annotated[str, typer.Argument(help=HELP["source"])],
    label: Annotated[
        list[str] | None, typer.Option("--label", help=HELP["label"])
    ] = None,
    min_count: Annotated[int, typer.Option("--min-count", min=1, help=HELP["min_count"])] = 1,
    max_examples: Annotated[int, typer.Option("--max-examples", min=0, help=HELP["max_examples"])] = 5,
    data: Annotated[
        str | None, typer.Option("--data", help=HELP["data"])
    ] = None,
    root: RootOpt = Path("."),
    name: SlugOpt = None,
    labels: LabelsOpt = None,
) -> None:
    """Group validation mistakes by (gold, predicted) label and write errors/<NNNN>-<name>/.

    report.html (self-contained) and report.md list the costliest confusions first (count and
    micro F1 points lost), per-class precision/recall/F1, F1 by source and by entity-type pair,
    and the sentences of each confusion with both entities highlighted; errors.json has the numbers.
    """
    import json

    from rich.markup import escape

    from ..console import result
    from ..phases.errors import ErrorsConfig, errors

    artifact = errors(ErrorsConfig(source=source, label=label, min_count=min_count, max_examples=max_examples, data=data,
                                   root=root, name=name, labels=labels))
    report = json.loads(artifact.file("errors.json").read_text(encoding="utf-8"))
    top = sorted(report["confusions"], key=lambda c: (-c["f1_cost"], -c["count"]))[:10]
    rows = [[escape(c["gold"]), escape(c["pred"]), c["count"], f"{c['f1_cost']:.3f}"] for c in top]
    print_wide_table(
        f"{artifact.params['source']}: {report['errors']} mistakes in {report['n']} rows, "
        f"micro F1 {report['micro_f1']:.2f} (costliest confusions)",
        ["gold", "predicted", "count", "F1 cost"], rows, left=2,
    )
    result(str(artifact.path / "report.html"))
