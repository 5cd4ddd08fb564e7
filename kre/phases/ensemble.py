"""The ensemble phase: combine members' probabilities (voting or stacking) -> `ensembles/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import Artifact
from ..errors import ConfigError

METHODS = ("soft", "weighted", "hard", "rank", "stack")


@dataclass
class EnsembleConfig:
    """Options of `kre ensemble` (pipeline keys are these names)."""

    members: list[str] = field(default_factory=list)
    method: str | None = None
    weights: str | None = None
    force_weights: bool = False
    cv_folds: int = 5
    stack_c: float = 20.0
    calibrate: bool = False
    use_valid: bool = True
    folds: bool = False
    root: str | Path = "."
    name: str | None = None
    labels: str | Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got '{self.method}'")


def ensemble(config: EnsembleConfig) -> Artifact:
    """Combine the members and publish probs.csv, weights.json (and validation metrics)."""
    from ..ensemble import run_ensemble
    from ..ensemble.voting import parse_weights
    from ..labels import LabelSet

    method = config.method or ("weighted" if config.weights is not None else "soft")
    weights: list[float] | str | None = None
    if config.weights is not None:
        weights = "auto" if str(config.weights).strip().lower() == "auto" else parse_weights(str(config.weights))
    return run_ensemble(
        members=[str(m) for m in config.members], root=config.root, method=method, weights=weights, name=config.name,
        seed=config.seed, labels=LabelSet.load(config.labels) if config.labels is not None else None,
        cv_folds=config.cv_folds, force_weights=config.force_weights, use_valid=config.use_valid, folds=config.folds,
        stack_c=config.stack_c, calibrate=config.calibrate,
    )
