"""`--weights auto`: fit member weights on validation probabilities, cross-validated.

The objective is validation micro F1 (no_relation excluded, as the leaderboard scores it),
ties broken by AUPRC. The search covers the probability simplex: equal weights, every
single member, Dirichlet samples (fixed seed), then coordinate ascent from the best
point. Because weights fitted on the validation set flatter themselves there, the fit
is itself cross-validated: k folds over the validation rows, fit on k-1, score the
held-out fold; the pooled out-of-fold score is compared with equal weights (soft voting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import LabelSet

_EPS = 1e-9


def fast_micro_f1(gold: np.ndarray, pred: np.ndarray, no_relation: int | None) -> float:
    """Micro F1 (x100) over all labels except no_relation; equal to `kre.metrics.micro_f1`."""
    if no_relation is None:
        return float((gold == pred).mean() * 100.0) if len(gold) else 0.0
    tp = np.sum((pred == gold) & (gold != no_relation))
    denom = np.sum(pred != no_relation) + np.sum(gold != no_relation)
    return float(200.0 * tp / denom) if denom else 0.0


def fast_auprc(gold: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest area under the precision-recall curve (x100); equal to `kre.metrics.auprc`.

    The same curve as sklearn's `precision_recall_curve` + `auc` (a class absent from
    `gold` scores 0.5), without sklearn's per-call overhead: the weight search calls it often.
    """
    gold = np.asarray(gold, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n_labels = probs.shape[1]
    scores = np.empty(n_labels)
    for c in range(n_labels):
        order = np.argsort(probs[:, c], kind="mergesort")[::-1]
        s = probs[order, c]
        y = (gold[order] == c).astype(np.float64)
        idx = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
        tps = np.cumsum(y)[idx]
        ps = idx + 1.0
        precision = tps / ps
        recall = np.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
        precision = np.r_[precision[::-1], 1.0]
        recall = np.r_[recall[::-1], 0.0]
        scores[c] = -np.trapezoid(precision, recall)
    return float(scores.mean() * 100.0)


@dataclass
class Fit:
    """Weights found by one search and their (training-rows) scores."""

    weights: np.ndarray
    micro_f1: float
    auprc: float


@dataclass
class FitReport:
    """Weights fitted on all validation rows and the cross-validation evidence for them."""

    weights: np.ndarray  # fitted on all validation rows
    train_micro_f1: float
    train_auprc: float
    folds: int
    cv_fitted: dict[str, float]
    cv_equal: dict[str, float]
    per_fold: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gain(self) -> bool:
        """True when the cross-validated fitted weights beat equal weights (F1, then AUPRC)."""
        df1 = self.cv_fitted["micro_f1"] - self.cv_equal["micro_f1"]
        if abs(df1) > _EPS:
            return df1 > 0
        return self.cv_fitted["auprc"] - self.cv_equal["auprc"] > _EPS

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": "micro_f1 (tie-break auprc)",
            "fitted_weights_all_rows": [float(w) for w in self.weights],
            "fitted_all_rows": {"micro_f1": self.train_micro_f1, "auprc": self.train_auprc},
            "cv_folds": self.folds,
            "cv_fitted": self.cv_fitted,
            "cv_equal": self.cv_equal,
            "cv_gain_micro_f1": self.cv_fitted["micro_f1"] - self.cv_equal["micro_f1"],
            "gain": self.gain,
            "per_fold": self.per_fold,
        }


def _mix(stack: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.tensordot(w, stack, axes=1)


class _Mixer:
    """Weighted mixes of a fixed member stack (a scaled sum of contiguous member arrays is the fastest way)."""

    def __init__(self, stack: np.ndarray) -> None:
        m, n, n_labels = stack.shape
        self.n, self.n_labels = n, n_labels
        self.flat = np.ascontiguousarray(stack, dtype=np.float64).reshape(m, n * n_labels)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        acc = w[0] * self.flat[0]
        for j in range(1, len(w)):
            acc += w[j] * self.flat[j]
        return acc.reshape(self.n, self.n_labels)

    def preds(self, weights: np.ndarray) -> list[np.ndarray]:
        """Argmax label per row for each weight vector."""
        return [self(w).argmax(axis=1) for w in weights]


def search_weights(
    stack: np.ndarray, gold: np.ndarray, labels: LabelSet, *, seed: int = 0, samples: int | None = None
) -> Fit:
    """Best simplex weights for `stack` (members x rows x labels) on these gold ids."""
    m = stack.shape[0]
    nr = labels.no_relation_id
    rng = np.random.default_rng(seed)
    samples = samples if samples is not None else 150 + 50 * m
    cands = np.vstack([np.full((1, m), 1.0 / m), np.eye(m), rng.dirichlet(np.ones(m), size=samples)])
    mixer = _Mixer(stack)

    scores = np.array([fast_micro_f1(gold, pred, nr) for pred in mixer.preds(cands)])
    best_f1 = scores.max()
    tied = [cands[i] for i in np.flatnonzero(scores >= best_f1 - _EPS)[:24]]
    ap = [fast_auprc(gold, mixer(w)) for w in tied]
    best = tied[int(np.argmax(ap))]
    best_ap = max(ap)

    # Coordinate ascent: move weight onto / off one member at a time, shrinking steps.
    for step in (0.2, 0.1, 0.05, 0.02):
        improved = True
        while improved:
            improved = False
            moves = []
            for i in range(m):
                for delta in (step, -step):
                    w = best.copy()
                    w[i] = max(0.0, w[i] + delta)
                    if w.sum() > 0:
                        moves.append(w / w.sum())
            f1s = [fast_micro_f1(gold, pred, nr) for pred in mixer.preds(np.array(moves))]
            top = int(np.argmax(f1s))
            if f1s[top] > best_f1 + _EPS:
                best, best_f1, improved = moves[top], f1s[top], True
                best_ap = fast_auprc(gold, mixer(best))
    return Fit(best, float(best_f1), float(best_ap))


def check_cross_validation(what: str, members: int, rows: int, folds: int, *, hint: str) -> None:
    """ConfigError unless `members` models and `rows` validation rows allow `folds`-fold cross-validation."""
    if members < 2:
        raise ConfigError(f"{what} needs at least two members")
    if folds < 2:
        raise ConfigError("--cv-folds must be at least 2")
    if rows < 2 * folds:
        raise ConfigError(f"{what}: {rows} validation rows are too few for {folds}-fold cross-validation", hint=hint)


def _kfold(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def fit_weights(
    valid: list[np.ndarray], gold: np.ndarray, labels: LabelSet, *, seed: int = 0, folds: int = 5
) -> FitReport:
    """Fit weights on all validation rows and cross-validate the fitting procedure itself."""
    from ..console import progress

    stack = np.stack([np.asarray(v, dtype=np.float64) for v in valid])
    gold = np.asarray(gold, dtype=np.int64)
    m, n, n_labels = stack.shape
    check_cross_validation("--weights auto", m, n, folds, hint="give explicit --weights or use --method soft")
    nr = labels.no_relation_id
    parts = _kfold(n, folds, seed)
    oof = np.zeros((n, n_labels))
    per_fold: list[dict[str, Any]] = []
    equal = stack.mean(axis=0)
    with progress("Fitting weights (cross-validated)", total=folds + 1) as task:
        for k, held in enumerate(parts):
            train = np.setdiff1d(np.arange(n), held)
            fit = search_weights(stack[:, train], gold[train], labels, seed=seed + 1 + k)
            oof[held] = _mix(stack[:, held], fit.weights)
            per_fold.append(
                {
                    "fold": k,
                    "n": int(len(held)),
                    "weights": [float(x) for x in fit.weights],
                    "fitted_micro_f1": fast_micro_f1(gold[held], oof[held].argmax(axis=1), nr),
                    "equal_micro_f1": fast_micro_f1(gold[held], equal[held].argmax(axis=1), nr),
                }
            )
            task.advance()
        final = search_weights(stack, gold, labels, seed=seed)
        task.advance()
    cv_fitted = {"micro_f1": fast_micro_f1(gold, oof.argmax(axis=1), nr), "auprc": fast_auprc(gold, oof)}
    cv_equal = {"micro_f1": fast_micro_f1(gold, equal.argmax(axis=1), nr), "auprc": fast_auprc(gold, equal)}
    return FitReport(final.weights, final.micro_f1, final.auprc, folds, cv_fitted, cv_equal, per_fold)
