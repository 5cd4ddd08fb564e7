"""Voting rules: combine member probability matrices (rows = examples, columns = labels).

Each rule returns a `Vote`: a probability list per row (rows sum to 1 for `rank`, and for
the others whenever the members' rows do) and the predicted label id per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..errors import ConfigError


class Method(str, Enum):
    """How members are combined."""

    soft = "soft"
    weighted = "weighted"
    hard = "hard"
    rank = "rank"
    stack = "stack"  # a fitted meta-model (kre.ensemble.stack), not a voting rule


@dataclass
class Vote:
    """Combined probabilities and predicted label ids."""

    probs: np.ndarray
    pred: np.ndarray


def _stack(members: Sequence[np.ndarray]) -> np.ndarray:
    if not members:
        raise ConfigError("no members to combine")
    arr = np.stack([np.asarray(m, dtype=np.float64) for m in members])
    if arr.ndim != 3:
        raise ConfigError("member probabilities must be 2-D (rows x labels)")
    return arr


def normalise_weights(weights: Sequence[float], n: int) -> np.ndarray:
    """Check `n` non-negative weights with a positive sum and scale them to sum 1."""
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (n,):
        raise ConfigError(f"--weights has {w.size} value(s) for {n} member(s)", hint="give one weight per member, in member order")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError("--weights must be finite and non-negative")
    if w.sum() <= 0:
        raise ConfigError("--weights must not all be zero")
    return w / w.sum()


def parse_weights(text: str) -> list[float]:
    """Parse '0.5,0.3,0.2' into floats."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--weights '{text}': expected comma-separated numbers or 'auto'") from None


def soft(members: Sequence[np.ndarray]) -> Vote:
    """Mean of the members' probabilities; prediction = argmax."""
    probs = _stack(members).mean(axis=0)
    return Vote(probs, probs.argmax(axis=1))


def weighted(members: Sequence[np.ndarray], weights: Sequence[float]) -> Vote:
    """Weighted mean of the members' probabilities (weights normalised to sum 1)."""
    arr = _stack(members)
    w = normalise_weights(weights, arr.shape[0])
    probs = np.tensordot(w, arr, axes=1)
    return Vote(probs, probs.argmax(axis=1))


def hard(members: Sequence[np.ndarray]) -> Vote:
    """Majority vote of the members' argmax labels; ties go to the highest mean probability.

    The probability list is the mean probability; the prediction is the vote.
    """
    arr = _stack(members)
    mean = arr.mean(axis=0)
    n_labels = arr.shape[2]
    votes = arr.argmax(axis=2)  # (members, rows)
    counts = np.zeros((arr.shape[1], n_labels), dtype=np.int64)
    for member_votes in votes:
        counts[np.arange(arr.shape[1]), member_votes] += 1
    top = counts == counts.max(axis=1, keepdims=True)
    pred = np.where(top, mean, -np.inf).argmax(axis=1)
    return Vote(mean, pred)


def rank_normalise(probs: np.ndarray) -> np.ndarray:
    """Per label column, each row's score replaced by its rank / n (average ranks for ties), in (0, 1]."""
    from scipy.stats import rankdata

    probs = np.asarray(probs, dtype=np.float64)
    return rankdata(probs, method="average", axis=0) / probs.shape[0]


def rank(members: Sequence[np.ndarray]) -> Vote:
    """Average of the members' per-label rank-normalised scores, renormalised to sum 1 per row."""
    arr = _stack(members)
    ranks = np.mean([rank_normalise(m) for m in arr], axis=0)
    probs = ranks / ranks.sum(axis=1, keepdims=True)
    return Vote(probs, probs.argmax(axis=1))


def combine(method: Method | str, members: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> Vote:
    """Apply a voting rule; `weights` only with `weighted`."""
    method = Method(method)
    if method is Method.stack:
        raise ConfigError("stacking is fitted on validation probabilities: use kre.ensemble.stack.stack_members")
    if method is Method.weighted:
        if weights is None:
            raise ConfigError("--method weighted needs --weights (numbers or 'auto')")
        return weighted(members, weights)
    if weights is not None:
        raise ConfigError(f"--weights only applies to --method weighted, not {method.value}")
    if method is Method.soft:
        return soft(members)
    if method is Method.hard:
        return hard(members)
    return rank(members)
