"""Group-aware stratified assignment of sentence groups to bins (train/valid, or K folds).

The algorithm is deterministic for a given seed:

1. Rows are grouped by their sentence (whitespace-normalised), so a sentence never
   lands in two bins.
2. Groups are shuffled with the seed, then stably ordered by rarity: the group whose
   rarest label has the fewest groups comes first (the seed orders each tier, so
   sentences with one pair and with several pairs mix on both sides).
3. Each group goes to the bin that most needs its labels: for every label of the
   group, the bin's remaining quota of that label (target minus count, the target being
   the bin's fraction of the label's rows) divided by the label's total; ties go to the
   bin with the larger remaining row quota. This is largest-remainder apportionment per
   class, so each class (and hence the total) ends close to its target share.
4. Coverage comes first: when a label has no more unplaced groups than there are bins
   still lacking it, the group must go to one of those bins. So a label with at least
   as many groups as bins appears in every bin (e.g. every class with 2+ sentences
   appears in both train and valid), unless a rarer label of the same group forces
   otherwise; such cases are reported, not hidden.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


def group_key(sentence: str) -> str:
    """The grouping key of a sentence: its words joined by single spaces."""
    return " ".join(sentence.split())


@dataclass(frozen=True)
class Group:
    """Rows (indices into a row list) that share one sentence, with their labels."""

    key: str
    rows: tuple[int, ...]
    labels: tuple[str, ...]


def build_groups(sentences: Sequence[str], labels: Sequence[str]) -> list[Group]:
    """Groups of rows sharing a sentence, in order of first appearance."""
    rows: dict[str, list[int]] = {}
    for i, sentence in enumerate(sentences):
        rows.setdefault(group_key(sentence), []).append(i)
    return [Group(k, tuple(r), tuple(labels[i] for i in r)) for k, r in rows.items()]


def assign_groups(groups: Sequence[Group], fractions: Sequence[float], seed: int) -> list[int]:
    """The bin of every group: stratified by label, proportional to `fractions`.

    Args:
        groups: the groups (each with its rows' labels).
        fractions: target share of rows per bin, e.g. (0.9, 0.1) or (0.2,) * 5.
        seed: shuffles the order of groups that are equally rare.

    Returns:
        One bin index per group, in the order of `groups`.
    """
    n_bins = len(fractions)
    if n_bins < 2:
        raise ValueError("need at least two bins")
    total_frac = float(sum(fractions))
    fractions = [f / total_frac for f in fractions]
    n_rows = sum(len(g.rows) for g in groups)
    row_total: Counter[str] = Counter()
    group_total: Counter[str] = Counter()
    for g in groups:
        row_total.update(g.labels)
        group_total.update(set(g.labels))
    classes = sorted(row_total)
    target = [{c: f * row_total[c] for c in classes} for f in fractions]
    size_target = [f * n_rows for f in fractions]
    counts = [dict.fromkeys(classes, 0) for _ in range(n_bins)]
    size = [0] * n_bins
    remaining = dict(group_total)

    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda gi: min(group_total[c] for c in groups[gi].labels))

    out = [-1] * len(groups)
    for gi in order:
        group_counts = Counter(groups[gi].labels)
        allowed = set(range(n_bins))
        for c in sorted(group_counts, key=lambda c: (group_total[c], c)):
            lacking = {b for b in range(n_bins) if counts[b][c] == 0}
            if lacking and remaining[c] <= len(lacking) and allowed & lacking:
                allowed &= lacking

        def need(b: int) -> tuple[float, float]:
            by_class = sum(k * (target[b][c] - counts[b][c]) / target[b][c] for c, k in group_counts.items())
            return round(by_class, 9), size_target[b] - size[b]

        best = max(sorted(allowed), key=need)  # ties: the bin with the larger row quota, then the lowest index
        out[gi] = best
        size[best] += len(groups[gi].rows)
        for c, k in group_counts.items():
            counts[best][c] += k
            remaining[c] -= 1
    return out
