"""The predict phase: class probabilities of a data file from a trained run -> `predictions/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..artifacts import Artifact


@dataclass
class PredictConfig:
    """Options of `kre predict` (pipeline keys are these names)."""

    run: str | Path = ""
    data: str | Path = ""
    batch_size: int = 128
    restrict_types: bool | None = None
    name: str | None = None
    root: str | Path = "."


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "run": "A runs/ artifact: folder, runs/latest or runs/NNNN.",
    "data": "Data file (competition CSV, KLUE JSON or JSONL); labels optional.",
    "batch_size": "Inference batch size.",
    "restrict_types": "Mask labels impossible for the subject type (default: as the run was trained).",
}


def predict(config: PredictConfig) -> Artifact:
    """Predict with every model of the run (fold models averaged) and publish probs.csv."""
    from ..training.predict import predict as predict_run

    return predict_run(run=config.run, data=config.data, root=config.root, batch_size=config.batch_size,
                       restrict_types=config.restrict_types, slug=config.name)
