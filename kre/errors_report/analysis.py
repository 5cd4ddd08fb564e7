"""The numbers of an error analysis: confusions by cost, per-class scores, F1 by source and type pair."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..labels import LabelSet
from .source import Predictions


@dataclass
class Confusion:
    """All validation rows with one (gold, predicted) pair of different labels."""

    gold: str
    pred: str
    rows: list[int]  # positions in Predictions
    f1_cost: float  # micro F1 points gained if exactly these rows were predicted right

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class ErrorAnalysis:
    """What `kre errors` reports."""

    n: int
    errors: int
    micro_f1: float
    auprc: float
    accuracy: float
    confusions: list[Confusion]  # after the filters, most frequent first
    total_confusions: int  # before the filters
    per_class: dict[str, dict[str, float]]
    by_source: list[dict[str, Any]]
    by_type_pair: list[dict[str, Any]]
    filters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, preds: Predictions) -> dict[str, Any]:
        return {
            "n": self.n,
            "errors": self.errors,
            "micro_f1": self.micro_f1,
            "auprc": self.auprc,
            "accuracy": self.accuracy,
            "filters": self.filters,
            "total_confusions": self.total_confusions,
            "confusions": [
                {"gold": c.gold, "pred": c.pred, "count": c.count, "f1_cost": c.f1_cost,
                 "ids": [preds.examples[i].id for i in c.rows]}
                for c in self.confusions
            ],
            "per_class": self.per_class,
            "by_source": self.by_source,
            "by_type_pair": self.by_type_pair,
        }


def type_pair(preds: Predictions, i: int) -> str:
    ex = preds.examples[i]
    return f"{ex.subject.type}-{ex.object.type}"


def _group_scores(preds: Predictions, key: Any) -> list[dict[str, Any]]:
    """micro F1 (x100), accuracy and row count per group, largest group first."""
    from ..ensemble.fit import fast_micro_f1

    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(preds.examples)):
        groups[key(i)].append(i)
    nr = preds.labels.no_relation_id
    out = []
    for name, rows in groups.items():
        idx = np.asarray(rows)
        g, p = preds.gold[idx], preds.pred[idx]
        out.append({
            "group": name or "(none)",
            "n": len(rows),
            "errors": int((g != p).sum()),
            "micro_f1": fast_micro_f1(g, p, nr),
            "accuracy": float((g == p).mean() * 100.0),
        })
    return sorted(out, key=lambda r: (-r["n"], r["group"]))


def analyse(
    preds: Predictions,
    *,
    labels: list[str] | None = None,
    min_count: int = 1,
    max_examples: int = 5,
) -> ErrorAnalysis:
    """Group mistakes by (gold, predicted) pair and score the predictions several ways.

    Args:
        labels: keep only confusions whose gold or predicted label is one of these.
        min_count: keep only confusions with at least this many rows.
        max_examples: kept in `filters`; the renderers show this many rows per confusion.
    """
    from ..ensemble.fit import fast_micro_f1
    from ..metrics import auprc, per_class

    label_set: LabelSet = preds.labels
    unknown = [name for name in labels or [] if name not in label_set]
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"--label '{unknown[0]}' is not in the label set", hint="labels look like org:top_members/employees")
    nr = label_set.no_relation_id
    gold, pred = preds.gold, preds.pred
    base = fast_micro_f1(gold, pred, nr)
    pairs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in np.flatnonzero(gold != pred):
        pairs[(int(gold[i]), int(pred[i]))].append(int(i))
    confusions = []
    for (g, p), rows in pairs.items():
        fixed = pred.copy()
        fixed[rows] = g
        confusions.append(Confusion(label_set.name(g), label_set.name(p), rows, fast_micro_f1(gold, fixed, nr) - base))
    confusions.sort(key=lambda c: (-c.count, -c.f1_cost, c.gold, c.pred))
    wanted = set(labels or [])
    kept = [c for c in confusions if c.count >= min_count and (not wanted or c.gold in wanted or c.pred in wanted)]
    return ErrorAnalysis(
        n=len(gold),
        errors=int((gold != pred).sum()),
        micro_f1=base,
        auprc=auprc(gold, preds.probs, len(label_set)),
        accuracy=float((gold == pred).mean() * 100.0),
        confusions=kept,
        total_confusions=len(confusions),
        per_class=per_class(gold, pred, label_set),
        by_source=_group_scores(preds, lambda i: preds.examples[i].source),
        by_type_pair=_group_scores(preds, lambda i: type_pair(preds, i)),
        filters={"labels": sorted(wanted), "min_count": min_count, "max_examples": max_examples},
    )

