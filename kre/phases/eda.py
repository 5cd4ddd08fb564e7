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


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "data": "Data files (CSV, KLUE JSON, JSONL) or hub:NAME[:CONFIG[:SPLIT]] sources: e.g. train.csv test_data.csv.",
    "model": "Tokenizer for lengths in tokens: a local model folder, tapt/<id>, or a hub id.",
    "adversarial": "Tell each compared file from the reference with a classifier (ROC AUC, n-grams, sources).",
}


def eda(config: EdaConfig) -> Artifact:
    """Explore the data files and publish the report."""
    from ..eda import run_eda

    return run_eda(paths=list(config.data), root=config.root, labels=config.labels, model=config.model,
                   name=config.name, adversarial=config.adversarial, seed=config.seed)
