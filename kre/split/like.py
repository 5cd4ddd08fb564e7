"""Test-like validation: pick the validation sentences that look most like a test set.

`kre split TRAIN --like TEST` scores every training sentence with the adversarial
classifier of `kre.adversarial` (out of fold: P(test)), then fills the validation side with
the highest-scoring sentence groups while keeping each class near its share (the same
per-class quotas as the plain split). How close the result is to the test set is measured
and compared with the plain split of the same seed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import Example
from .assign import Group


def assign_like(groups: Sequence[Group], scores: Sequence[float], valid_size: float, seed: int) -> list[int]:
    """The side of every group (0 train, 1 valid): the most test-like groups go to valid, class by class.

    1. Coverage: every class with 2+ groups gets its highest-scoring group in valid (rarest
       classes first), as long as train keeps at least one group of every class it had.
    2. Quotas: groups in descending score go to valid while each of their classes stays within
       its quota (valid_size x the class's rows, rounded) and the valid side within its size.
    3. Fill: if valid is still short of its size, the next most test-like groups go in with a
       looser quota (25% over, plus one row), so the total reaches `valid_size` as far as possible.

    Ties in score are broken by a seeded shuffle, so the same inputs and seed give the same split.
    """
    n_rows = sum(len(g.rows) for g in groups)
    row_total: Counter[str] = Counter()
    group_total: Counter[str] = Counter()
    for g in groups:
        row_total.update(g.labels)
        group_total.update(set(g.labels))
    quota = {c: valid_size * n for c, n in row_total.items()}
    size_quota = valid_size * n_rows
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda gi: -scores[gi])  # stable: the shuffle orders equal scores

    side = [0] * len(groups)
    counts: Counter[str] = Counter()
    train_groups = Counter(group_total)
    size = 0

    def move(gi: int) -> None:
        nonlocal size
        side[gi] = 1
        size += len(groups[gi].rows)
        counts.update(groups[gi].labels)
        train_groups.subtract(set(groups[gi].labels))

    def keeps_train_coverage(gi: int) -> bool:
        return all(train_groups[c] > 1 for c in set(groups[gi].labels))

    def fits(gi: int, slack: float, extra: float) -> bool:
        g = groups[gi]
        if size + len(g.rows) > size_quota + 0.5 + extra:
            return False
        need = Counter(g.labels)
        return all(counts[c] + k <= quota[c] * slack + 0.5 + extra for c, k in need.items())

    for c in sorted(group_total, key=lambda c: (group_total[c], c)):
        if group_total[c] < 2 or counts[c]:
            continue
        for gi in order:
            if not side[gi] and c in groups[gi].labels and keeps_train_coverage(gi):
                move(gi)
                break
    for slack, extra in ((1.0, 0.0), (1.25, 1.0)):
        for gi in order:
            if size >= size_quota - 0.5:
                break
            if not side[gi] and keeps_train_coverage(gi) and fits(gi, slack, extra):
                move(gi)
    return side


def closeness(
    part: Sequence[Example], test: Sequence[Example], part_scores: np.ndarray, auc_vs_test: float | None
) -> dict[str, Any]:
    """How close a set of rows is to the test rows: classifier AUC, source and type-pair shares and distances."""
    from ..eda.stats import shares, total_variation, type_pair

    src, test_src = shares(Counter(e.source or "(none)" for e in part)), shares(Counter(e.source or "(none)" for e in test))
    tp, test_tp = shares(Counter(type_pair(e) for e in part)), shares(Counter(type_pair(e) for e in test))
    return {
        "rows": len(part),
        "auc_vs_test": auc_vs_test,
        "mean_test_score": round(float(np.mean(part_scores)), 4) if len(part_scores) else None,
        "source_shares": src,
        "source_tvd": total_variation(src, test_src),
        "type_pair_shares": tp,
        "type_pair_tvd": total_variation(tp, test_tp),
    }


def test_like_sides(
    rows: Sequence[Example], groups: Sequence[Group], test: Sequence[Example], valid_size: float, seed: int
) -> tuple[list[int], dict[str, Any]]:
    """The side of every group for a test-like split, and the `like` section of report.json.

    The report holds the train-vs-test classifier's AUC, and for the test-like valid set and
    the plain split's valid set (same seed, for comparison): the AUC of a classifier telling
    that valid set from the test set (0.5 = indistinguishable), the mean test-likeness score,
    and the source and entity-type-pair shares with their total variation distance to the test set.
    """
    import time

    from ..adversarial import SentenceFeatures, adversarial_validation
    from ..console import progress
    from ..errors import ConfigError
    from .assign import assign_groups

    started = time.perf_counter()
    train_texts, test_texts = [e.sentence for e in rows], [e.sentence for e in test]
    with progress("Test-like split", total=4) as task:
        task.status("character n-grams")
        features = SentenceFeatures(train_texts + test_texts)
        task.advance()
        task.status("train vs test classifier")
        adv = adversarial_validation(train_texts, test_texts, seed=seed, features=features)
        task.advance()
        group_scores = [float(adv.scores_a[g.rows[0]]) for g in groups]
        sides = {"test_like": assign_like(groups, group_scores, valid_size, seed),
                 "plain": assign_groups(groups, (1.0 - valid_size, valid_size), seed)}
        report: dict[str, Any] = {"train_vs_test": {k: v for k, v in adv.summary().items() if k != "features"},
                                  "separating_ngrams": {"test": adv.features["b"][:10], "train": adv.features["a"][:10]}}
        for name, side in sides.items():
            task.status(f"{name.replace('_', '-')} valid vs test classifier")
            idx = [i for g, s in zip(groups, side) if s == 1 for i in g.rows]
            part = [rows[i] for i in idx]
            try:
                auc: float | None = adversarial_validation([e.sentence for e in part], test_texts, seed=seed, features=features).auc
            except ConfigError:  # too few valid sentences for the folds
                auc = None
            report[name] = closeness(part, test, adv.scores_a[idx], auc)
            task.advance()
    from ..eda.stats import shares, type_pair

    report["test"] = {
        "rows": len(test),
        "source_shares": shares(Counter(e.source or "(none)" for e in test)),
        "type_pair_shares": shares(Counter(type_pair(e) for e in test)),
    }
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["method"] = ("valid = the most test-like sentence groups (out-of-fold P(test) of a character n-gram logistic "
                        "regression), within per-class quotas; 'plain' = the default split of the same seed, for comparison")
    return sides["test_like"], report
