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


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "members": "Members: probs.csv files, run / prediction folders, refs like runs/latest, or quoted globs ('runs/*/probs.csv').",
    "method": "soft (mean), weighted, hard (majority vote), rank (rank average) or stack (logistic-regression meta-model on the validation log-probabilities, cross-validated against soft). Default: weighted with --weights, else soft.",
    "weights": "Member weights for weighted voting, e.g. 0.5,0.3,0.2 (normalised), or 'auto' (fitted on valid_probs.csv, cross-validated).",
    "force_weights": "Keep auto-fitted weights even when cross-validation shows no gain over equal weights.",
    "cv_folds": "Folds of the cross-validation of --weights auto, --method stack and --calibrate.",
    "stack_c": "--method stack: inverse L2 regularisation strength of the meta-model (smaller = stronger).",
    "calibrate": "Fit one temperature on the validation probabilities (minimum NLL) and apply it to the test probabilities; reports NLL, ECE and AUPRC before/after.",
    "use_valid": "Use the members' valid_probs.csv for validation metrics (and --weights auto).",
    "folds": "Members are the fold runs of one k-fold training (kre train --folds K --fold i): average test probabilities, join validation rows out-of-fold.",
}


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
