"""Adversarial validation in EDA: how well a classifier tells each compared file from the reference file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..adversarial import adversarial_validation, by_source, score_histogram
from ..data import Dataset
from .stats import EdaStats


def add_adversarial(stats: EdaStats, datasets: Sequence[Dataset], *, seed: int = 0, folds: int = 5) -> None:
    """Add `adversarial` (AUC, separating n-grams and sources, score histogram, ROC) to every comparison.

    A comparison whose files are too small for the folds gets `adversarial: {"skipped": reason}`.
    """
    from ..errors import ConfigError

    for comp in stats.data["comparisons"]:
        ref, other = datasets[comp["reference_file"]], datasets[comp["other_file"]]
        try:
            res = adversarial_validation(
                [e.sentence for e in ref.examples], [e.sentence for e in other.examples], folds=folds, seed=seed
            )
        except ConfigError as exc:
            comp["adversarial"] = {"skipped": exc.message}
            continue
        out: dict[str, Any] = res.summary()
        out["sources"] = by_source(
            [e.source or "(none)" for e in ref.examples], [e.source or "(none)" for e in other.examples],
            res.scores_a, res.scores_b,
        )
        out["score_histogram"] = score_histogram(res.scores_a, res.scores_b)
        out["roc"] = res.roc
        comp["adversarial"] = out
