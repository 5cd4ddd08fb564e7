"""The errors phase: validation mistakes of a run or ensemble, grouped -> `errors/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..artifacts import Artifact


@dataclass
class ErrorsConfig:
    """Options of `kre errors` (pipeline keys are these names)."""

    source: str | Path = ""
    label: list[str] | None = None
    min_count: int = 1
    max_examples: int = 5
    data: str | None = None
    root: str | Path = "."
    name: str | None = None
    labels: str | Path | None = None


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "source": "A run, ensemble or prediction (on a labeled file): folder, runs/latest, ensembles/NNNN.",
    "label": "Show only confusions whose gold or predicted label is this (repeat for more).",
    "min_count": "Show only confusions with at least this many rows.",
    "max_examples": "Sentences shown per confusion.",
    "data": "Data file or splits/augments artifact holding the sentences (default: the one in the manifests).",
}


def errors(config: ErrorsConfig) -> Artifact:
    """Group the validation mistakes and publish report.html / report.md / errors.json."""
    from ..errors_report import run_errors
    from ..labels import LabelSet

    return run_errors(source=config.source, root=config.root, data=config.data, labels=config.label,
                      min_count=config.min_count, max_examples=config.max_examples,
                      label_set=LabelSet.load(config.labels) if config.labels is not None else None, name=config.name)
