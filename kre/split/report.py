"""Checks, class-count tables and the class-count plot of a split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..data import Example
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


def plot_class_counts(path: Path, counts: dict[str, dict[str, int]], title: str) -> None:
    """Horizontal grouped bars (log scale) of rows per class for each side or fold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sides = list(counts)
    labels = list(next(iter(counts.values())))
    height = 0.8 / len(sides)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(labels) + 1.5), dpi=80)
    for k, side in enumerate(sides):
        ys = [i + (k - (len(sides) - 1) / 2) * height for i in range(len(labels))]
        ax.barh(ys, [max(counts[side][label], 0) for label in labels], height=height, label=side)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("rows (log scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
