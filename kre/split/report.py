"""Checks, class-count tables and the class-count plot of a split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..data import Example
from ..label_order import family_frequency_order
from .assign import group_key


def class_counts(examples: Sequence[Example], order: Sequence[str]) -> dict[str, int]:
    """Rows per label, in `order` (labels absent from the examples count 0)."""
    counts = Counter(e.label for e in examples)
    return {label: counts.get(label, 0) for label in order}


def leaked_sentences(parts: Sequence[Sequence[Example]]) -> int:
    """Number of (whitespace-normalised) sentences that occur in more than one part."""
    seen: Counter[str] = Counter()
    for part in parts:
        seen.update({group_key(e.sentence) for e in part})
    return sum(1 for n in seen.values() if n > 1)


def n_groups(examples: Sequence[Example]) -> int:
    """Number of distinct (normalised) sentences."""
    return len({group_key(e.sentence) for e in examples})


def class_count_order(counts: dict[str, dict[str, int]]) -> list[str]:
    """Labels in plot order: by family (no_relation, org:*, per:*), most rows (over all sides) first."""
    labels = list(next(iter(counts.values())))
    totals = [sum(side.get(label, 0) for side in counts.values()) for label in labels]
    return [labels[i] for i in family_frequency_order(labels, totals)]


def plot_class_counts(path: Path, counts: dict[str, dict[str, int]], title: str) -> None:
    """Horizontal grouped bars (log scale) of rows per class for each side or fold, sorted, with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sides = list(counts)
    labels = class_count_order(counts)
    height = 0.8 / len(sides)
    fig, ax = plt.subplots(figsize=(10, 0.36 * len(labels) * max(1, len(sides) / 2) + 1.6), dpi=100)
    top = max([1, *(counts[side][label] for side in sides for label in labels)])
    for k, side in enumerate(sides):
        ys = [i + (k - (len(sides) - 1) / 2) * height for i in range(len(labels))]
        values = [max(counts[side][label], 0) for label in labels]
        ax.barh(ys, values, height=height, label=side)
        if len(sides) <= 3:
            for y, v in zip(ys, values):
                ax.text(max(v, 1) * 1.05, y, str(v), va="center", fontsize=8 if len(sides) == 1 else 7)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=10)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xscale("log")
    ax.set_xlim(0.8, top * 3)
    ax.set_xlabel("rows (log scale)", fontsize=10)
    ax.set_title(title + " (classes by family, most rows first)", fontsize=11)
    ax.legend(fontsize=9, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
