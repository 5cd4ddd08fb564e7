"""The augment PNG: a similarity histogram, or kept/dropped counts per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .common import MethodStats


def plot_summary(path: Path, *, scores: Sequence[float], threshold: float | None, stats: Mapping[str, MethodStats]) -> None:
    """Histogram of back-translation similarity with the threshold line when there are scores, else counts."""
    import matplotlib.pyplot as plt

    fig = summary_figure(scores=scores, threshold=threshold, stats=stats)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_figure(*, scores: Sequence[float], threshold: float | None, stats: Mapping[str, MethodStats]) -> Any:
    """The matplotlib figure `plot_summary` saves (tests check that nothing overlaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if scores:
        kept = sum(1 for s in scores if threshold is None or s >= threshold)
        ax.hist(list(scores), bins=40, color="#4C72B0", edgecolor="white")
        if threshold is not None:
            ax.axvline(threshold, color="#C44E52", linestyle="--", label=f"threshold {threshold:g}")
            ax.legend()
        ax.set_xlabel("cosine similarity to the original sentence")
        ax.set_ylabel("back-translated rows")
        ax.set_title(f"Back-translation similarity: {kept} of {len(scores)} kept")
    else:
        names = list(stats)
        kept = [stats[n].kept for n in names]
        dropped = [sum(stats[n].dropped.values()) for n in names]
        ax.bar(names, kept, color="#55A868", label="kept")
        ax.bar(names, dropped, bottom=kept, color="#C44E52", label="dropped")
        for i, (k, d) in enumerate(zip(kept, dropped)):
            ax.text(i, k + d, f"{k} / {k + d}", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0, max([k + d for k, d in zip(kept, dropped)] + [1]) * 1.15)
        ax.set_ylabel("rows")
        ax.set_title("Augmentation: kept / tried per method (no similarity scores)")
        # outside the axes, so it never covers a bar's "kept / tried" label
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig
