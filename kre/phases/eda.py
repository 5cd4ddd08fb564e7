"""The eda phase: statistics, plots and a report of data files -> `eda/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import Artifact


@dataclass
class EdaConfig:
    """Options of `kre eda` (pipeline keys are these names)."""

    data: list[str | Path] = field(default_factory=list)
    model: str | None = None
    adversarial: bool = True
    seed: int = 0
    labels: str | Path | None = None
    root: str | Path = "."
    name: str | None = None


def eda(config: EdaConfig) -> Artifact:
    """Explore the data files and publish the report."""
    from ..eda import run_eda

    return run_eda(paths=list(config.data), root=config.root, labels=config.labels, model=config.model,
                   name=config.name, adversarial=config.adversarial, seed=config.seed)
