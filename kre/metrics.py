"""KLUE-RE metrics: micro F1 without no_relation, AUPRC over all classes, per-class scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from .labels import LabelSet


def micro_f1(gold: np.ndarray, pred: np.ndarray, labels: LabelSet) -> float:
    """Micro F1 (x100) over every label except no_relation, as the KLUE-RE leaderboard computes it."""
    from sklearn.metrics import f1_score

    scored = [i for i in range(len(labels)) if i != labels.no_relation_id]
    return float(f1_score(gold, pred, average="micro", labels=scored, zero_division=0) * 100.0)


def auprc(gold: np.ndarray, probs: np.ndarray, num_labels: int) -> float:
    """Mean over all classes of one-vs-rest `auc(recall, precision)` (x100), as KLUE's `klue_re_auprc`.

    Every class counts, also one absent from `gold`: sklearn (>= 1.1) then gives a
    curve from (recall 1, precision 0) to (recall 0, precision 1), an area of 0.5,
    exactly what the reference implementation scores with the same sklearn.
    """
    import warnings

    from sklearn.metrics import auc, precision_recall_curve

    gold = np.asarray(gold, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(num_labels)[gold]
    scores = np.zeros(num_labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No positive class found in y_true"
        for c in range(num_labels):
            precision, recall, _ = precision_recall_curve(onehot[:, c], probs[:, c])
            scores[c] = auc(recall, precision)
    return float(np.average(scores) * 100.0)


def per_class(gold: np.ndarray, pred: np.ndarray, labels: LabelSet) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every label."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        gold, pred, labels=list(range(len(labels))), zero_division=0
    )
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(labels.names)
    }


def evaluate(gold: np.ndarray, probs: np.ndarray, labels: LabelSet, *, detail: bool = True) -> dict[str, Any]:
    """All headline metrics for gold label ids and class probabilities."""
    gold = np.asarray(gold)
    probs = np.asarray(probs, dtype=np.float64)
    pred = probs.argmax(axis=1)
    out: dict[str, Any] = {
        "micro_f1": micro_f1(gold, pred, labels),
        "auprc": auprc(gold, probs, len(labels)),
        "accuracy": float((pred == gold).mean() * 100.0) if len(gold) else 0.0,
        "n": int(len(gold)),
    }
    if detail:
        out["per_class"] = per_class(gold, pred, labels)
    return out


def confusion(gold: np.ndarray, pred: np.ndarray, num_labels: int) -> np.ndarray:
    """Confusion counts, rows = gold, columns = predicted."""
    m = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(m, (np.asarray(gold), np.asarray(pred)), 1)
    return m
