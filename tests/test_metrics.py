"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from kre.labels import DEFAULT_LABELS, LabelSet
from kre.metrics import auprc, confusion, evaluate, micro_f1

LABELS = LabelSet(("no_relation", "per:a", "org:b"))


def test_micro_f1_ignores_no_relation() -> None:
    gold = np.array([0, 1, 1, 2, 0])
    pred = np.array([1, 1, 0, 2, 0])
    # non-no_relation: tp = 2 (rows 1, 3); predicted positives = 3 (rows 0,1,3); gold positives = 3 (rows 1,2,3)
    p, r = 2 / 3, 2 / 3
    assert micro_f1(gold, pred, LABELS) == pytest.approx(100 * 2 * p * r / (p + r))
    # predicting everything as no_relation scores 0 even though accuracy is 40%
    assert micro_f1(gold, np.zeros(5, dtype=int), LABELS) == 0.0


def test_auprc_matches_hand_computation() -> None:
    gold = np.array([0, 1, 2, 1])
    probs = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],
            [0.3, 0.3, 0.4],
            [0.5, 0.4, 0.1],
        ]
    )
    # class 0: scores [.7,.1,.3,.5], positive only row 0 ranked first -> PR curve all precision 1 -> area 1
    # class 1: scores [.2,.8,.3,.4], positives rows 1 (0.8) and 3 (0.4): ranks 1 and 2 -> area 1
    # class 2: scores [.1,.1,.4,.1], positive row 2 top -> area 1
    assert auprc(gold, probs, 3) == pytest.approx(100.0)
    # now make class 1's second positive rank last: scores [.2,.8,.3,.1]
    probs2 = probs.copy()
    probs2[3] = [0.8, 0.1, 0.1]
    # class 1 PR points (sklearn): thresholds .8 -> (r .5, p 1), .3 -> (r .5, p .5), .2 -> (.5, 1/3), .1 -> (1, .5); plus (0, 1)
    # auc over recall: from r=0 to .5 with precision 1 ->.5 ; from .5 to 1 between p=1/3 and .5 -> .5*(1/3+.5)/2
    class1 = 0.5 * 1 + 0.5 * (1 / 3 + 0.5) / 2
    # class 0: scores [.7,.1,.3,.8], positive row 0 second -> points (r1,p.5),(r1,p1)... area = 0.5*(... )
    from sklearn.metrics import auc, precision_recall_curve

    p0, r0, _ = precision_recall_curve([1, 0, 0, 0], probs2[:, 0])
    expected = (auc(r0, p0) + class1 + 1.0) / 3 * 100
    assert auprc(gold, probs2, 3) == pytest.approx(expected)


def test_auprc_counts_absent_classes_like_klue_reference() -> None:
    gold = np.array([0, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    # classes 0 and 1 perfect (1.0); class 2 absent: sklearn's curve (r 1,p 0)->(r 0,p 1) has area 0.5
    assert auprc(gold, probs, 3) == pytest.approx(100 * (1 + 1 + 0.5) / 3)


def test_evaluate_and_confusion() -> None:
    gold = np.array([0, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 2]]
    out = evaluate(gold, probs, LABELS)
    assert out["accuracy"] == 75.0 and out["n"] == 4
    assert out["per_class"]["org:b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    m = confusion(gold, probs.argmax(1), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_default_labels_and_type_constraints() -> None:
    assert len(DEFAULT_LABELS) == 30 and DEFAULT_LABELS.id("per:religion") == 29
    allowed = DEFAULT_LABELS.allowed_for_subject("ORG")
    assert allowed[0] and allowed[DEFAULT_LABELS.id("org:members")] and not allowed[DEFAULT_LABELS.id("per:title")]
