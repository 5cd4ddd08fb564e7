"""Temperature scaling and calibration measures on plain numpy arrays.

`fit_temperature` finds the one temperature T that minimises the negative log-likelihood
of `softmax(log(p) / T)` on validation rows; `apply_temperature` applies it to any
probabilities (argmax never changes). `calibration_report` measures NLL, expected
calibration error (top-label confidence, 15 equal-width bins) and AUPRC before and after,
with the "after" score both in-sample and cross-validated (T fitted on the other folds).
Used by `kre ensemble --calibrate` (and meant for `kre train --calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

#: Probabilities are clipped here before taking logs (a 0 would make NLL infinite).
EPS = 1e-12
#: Search range of the temperature.
T_MIN, T_MAX = 0.05, 20.0


def _check(probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != gold.shape[0] or probs.shape[0] == 0:
        raise ConfigError(f"calibration needs a (rows x labels) probability matrix and one gold id per row, got {probs.shape} and {gold.shape}")
    if gold.min() < 0 or gold.max() >= probs.shape[1]:
        raise ConfigError("calibration: a gold label id is outside the probability columns")
    return probs, gold


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """`softmax(log(p) / T)` row by row; T > 1 softens, T < 1 sharpens."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"temperature must be a positive number, got {temperature}")
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPS, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-likelihood of the gold labels (natural log)."""
    probs, gold = _check(probs, gold)
    p = probs[np.arange(len(gold)), gold] / np.clip(probs.sum(axis=1), EPS, None)
    return float(-np.log(np.clip(p, EPS, None)).mean())


def expected_calibration_error(probs: np.ndarray, gold: np.ndarray, bins: int = 15) -> float:
    """ECE (x100): bin rows by top-label confidence; weighted mean |accuracy - confidence| over bins."""
    probs, gold = _check(probs, gold)
    if bins < 1:
        raise ConfigError("ECE needs at least one bin")
    conf = probs.max(axis=1) / np.clip(probs.sum(axis=1), EPS, None)
    correct = (probs.argmax(axis=1) == gold).astype(np.float64)
    # Bin k holds confidences in (k/bins, (k+1)/bins]; confidence 0 goes to bin 0.
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for k in range(bins):
        mask = idx == k
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - conf[mask].mean())
    return float(total / len(gold) * 100.0)


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the NLL of the gold labels."""
    from scipy.optimize import minimize_scalar

    probs, gold = _check(probs, gold)
    logp = np.log(np.clip(probs, EPS, None))
    rows = np.arange(len(gold))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z).sum(axis=1)) - z[rows, gold]).mean())

    res = minimize_scalar(loss, bounds=(np.log(T_MIN), np.log(T_MAX)), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(res.x))


def measures(probs: np.ndarray, gold: np.ndarray, bins: int = 15) -> dict[str, float]:
    """NLL, ECE (x100, `bins` bins) and AUPRC (x100, KLUE-RE's definition)."""
    from .metrics import auprc

    probs, gold = _check(probs, gold)
    return {
        "nll": nll(probs, gold),
        "ece": expected_calibration_error(probs, gold, bins),
        "auprc": auprc(gold, probs, probs.shape[1]),
    }


@dataclass
class Calibration:
    """A fitted temperature and the measures before and after applying it."""

    temperature: float
    before: dict[str, float]
    after: dict[str, float]  # in-sample: T fitted on the same rows
    after_cv: dict[str, float] | None  # T fitted on the other folds of each row
    cv_folds: int
    bins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "temperature scaling (one T, minimum NLL of softmax(log p / T))",
            "temperature": self.temperature,
            "before": self.before,
            "after": self.after,
            "after_cv": self.after_cv,
            "cv_folds": self.cv_folds,
            "ece_bins": self.bins,
        }


def calibration_report(
    probs: np.ndarray, gold: np.ndarray, *, bins: int = 15, cv_folds: int = 5, seed: int = 0
) -> Calibration:
    """Fit a temperature on all rows and measure before / after (in-sample and cross-validated)."""
    probs, gold = _check(probs, gold)
    temperature = fit_temperature(probs, gold)
    after_cv = None
    if cv_folds >= 2 and len(gold) >= 2 * cv_folds:
        order = np.random.default_rng(seed).permutation(len(gold))
        held_out = np.empty_like(probs)
        for part in np.array_split(order, cv_folds):
            rest = np.setdiff1d(order, part)
            held_out[part] = apply_temperature(probs[part], fit_temperature(probs[rest], gold[rest]))
        after_cv = measures(held_out, gold, bins)
    return Calibration(
        temperature=temperature,
        before=measures(probs, gold, bins),
        after=measures(apply_temperature(probs, temperature), gold, bins),
        after_cv=after_cv,
        cv_folds=cv_folds if after_cv is not None else 0,
        bins=bins,
    )
