"""`kre train --curriculum`: the first epoch from easy to hard, later epochs as usual.

Difficulty of a training row: `length` = its token count; `confidence:RUN` = 1 - the
probability RUN gave its gold label, read from RUN's `valid_probs.csv`. Only out-of-fold
probabilities are honest there, so RUN must be a k-fold run (`--folds K`) on the same split
whose `valid_probs.csv` covers every training row; anything else is refused. Confidence ranks rows
within their gold label (`easy_to_hard` with groups), so the label mix stays the data's.
`CurriculumSampler` yields rows by increasing difficulty in epoch 0 and defers to the usual sampler
(kre's length-grouped one, or Trainer's shuffling) from epoch 1 on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..artifacts import ArtifactStore
from ..data import Example
from ..data.probs import read_probs
from ..errors import ConfigError
from ..labels import LabelSet
from .options import check_curriculum


def gold_confidence(store: ArtifactStore, ref: str, labels: LabelSet) -> dict[str, float]:
    """Example id -> probability of its gold label, from a finished run's out-of-fold `valid_probs.csv`."""
    run = store.resolve(ref, kind="runs")
    hint = "train a k-fold run on the same split first (kre train SPLIT --folds 5 ...) and pass it"
    if not run.params.get("folds"):
        raise ConfigError(f"--curriculum confidence:{ref}: {run.id} is not a k-fold run, so it has no out-of-fold "
                          "probabilities for the training rows", hint=hint)
    if not run.has("valid_probs.csv"):
        raise ConfigError(f"--curriculum confidence:{ref}: {run.id} has no valid_probs.csv", hint=hint)
    table = read_probs(run.path / "valid_probs.csv", labels)
    gold = table.gold_ids
    if gold is None:
        raise ConfigError(f"--curriculum confidence:{ref}: {run.id}/valid_probs.csv has no gold labels", hint=hint)
    return {i: float(table.probs[k, gold[k]]) for k, i in enumerate(table.ids)}


def difficulty(spec: str, examples: Sequence[Example], lengths: Sequence[int],
               confidence: dict[str, float] | None) -> np.ndarray:
    """One difficulty per training row (low = easy) for `--curriculum spec`."""
    kind, ref = check_curriculum(spec)
    if kind == "length":
        return np.asarray(lengths, dtype=np.float64)
    assert confidence is not None
    missing = [e.id for e in examples if e.id not in confidence]
    if missing:
        raise ConfigError(f"--curriculum confidence:{ref}: its valid_probs.csv has no probability for {len(missing)} of "
                          f"{len(examples)} training rows (e.g. id {missing[0]})",
                          hint="use a k-fold run trained on the same split (augmented rows are not covered)")
    return np.asarray([1.0 - confidence[e.id] for e in examples], dtype=np.float64)


def easy_to_hard(scores: np.ndarray, groups: Sequence[Any] | None = None) -> np.ndarray:
    """Row indices by increasing difficulty (stable: ties keep the data order).

    With `groups` (each row's gold label) a row's place is its difficulty rank within its own
    label (a percentile): every stretch of the epoch keeps the data's label mix and goes from the
    easiest rows of every label to the hardest. Plain sorting by confidence puts whole labels
    together (the common, well-learned ones first, the rare ones at the end of the epoch).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if groups is None:
        return np.argsort(scores, kind="stable")
    keys = np.asarray([str(g) for g in groups])
    percentile = np.empty(len(scores))
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        ranks = np.argsort(np.argsort(scores[rows], kind="stable"), kind="stable")
        percentile[rows] = (ranks + 0.5) / len(rows)
    return np.lexsort((np.arange(len(scores)), scores, percentile))


class CurriculumSampler:
    """Epoch 0: `order`; later epochs: `fallback` (Trainer's sampler). Trainer calls `set_epoch` each epoch;
    without it, the first iteration is epoch 0 and every later iteration a later epoch."""

    def __init__(self, order: np.ndarray, fallback: Any) -> None:
        self.order = [int(i) for i in order]
        self.fallback = fallback
        self.epoch: int | None = None
        self.iterations = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.fallback, "set_epoch"):
            self.fallback.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch if self.epoch is not None else self.iterations
        self.iterations += 1
        return iter(self.order) if epoch == 0 else iter(self.fallback)
