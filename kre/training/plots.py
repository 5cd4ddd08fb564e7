"""Run plots: a sorted, annotated confusion matrix and a learning curve with every logged step.

The layout of each plot (class order, cell texts, series and axis limits) is computed by a
plain function that tests read; the `plot_*` functions only draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..label_order import family_frequency_order
from ..labels import LabelSet
from ..metrics import confusion

#: Validation metrics drawn on the right panel (all x100).
EVAL_METRICS = (("micro_f1", "micro F1"), ("auprc", "AUPRC"), ("accuracy", "accuracy"))

History = dict[str, list[dict[str, float]]]


@dataclass(frozen=True)
class ConfusionLayout:
    """What the confusion plot shows: class order, counts and row shares in that order, cell texts."""

    order: list[str]
    counts: np.ndarray  # gold rows x predicted columns, reordered
    shares: np.ndarray  # counts / gold row total (0 for empty rows)
    cell_texts: list[list[str]]  # the count, or "" for 0


def confusion_layout(gold: np.ndarray, probs: np.ndarray, labels: LabelSet) -> ConfusionLayout:
    """The confusion matrix of argmax predictions, classes sorted by family and gold frequency."""
    counts = confusion(np.asarray(gold), np.asarray(probs).argmax(axis=1), len(labels)).astype(np.int64)
    index = family_frequency_order(labels.names, counts.sum(axis=1).tolist())
    counts = counts[np.ix_(index, index)]
    rows = counts.sum(axis=1, keepdims=True).astype(np.float64)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    texts = [[str(int(c)) if c else "" for c in row] for row in counts]
    return ConfusionLayout([labels.names[i] for i in index], counts, shares, texts)


def plot_confusion(path: Path, gold: np.ndarray, probs: np.ndarray, labels: LabelSet) -> None:
    """Confusion matrix PNG: counts in the cells, colour = share of the gold row, classes sorted.

    Tick labels carry the gold count (`per:title (210)`), so rare classes are easy to spot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout = confusion_layout(gold, probs, labels)
    n = len(layout.order)
    totals = layout.counts.sum(axis=1)
    size = max(6.0, 0.42 * n + 3.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), dpi=100)
    image = ax.imshow(layout.shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = [f"{name} ({int(t)})" for name, t in zip(layout.order, totals)]
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(layout.order, rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
    ax.set_yticklabels(ticks, fontsize=9)
    font = 8 if n <= 30 else 6
    for r in range(n):
        for c in range(n):
            if layout.cell_texts[r][c]:
                dark = layout.shares[r, c] > 0.55
                ax.text(c, r, layout.cell_texts[r][c], ha="center", va="center", fontsize=font, color="white" if dark else "#222222")
    ax.set_xlabel("predicted", fontsize=10)
    ax.set_ylabel("gold (rows in valid)", fontsize=10)
    ax.set_title("Validation confusion matrix: counts; colour = share of the gold row", fontsize=11)
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    bar.set_label("share of gold row", fontsize=9)
    # fixed margins for the long label names (tight_layout costs seconds on 30x30 ticks)
    fig.subplots_adjust(left=0.24, bottom=0.2, right=0.98, top=0.95)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


@dataclass(frozen=True)
class CurveLayout:
    """What the learning-curve plot shows: one series per model and quantity, and the axis limits."""

    train_loss: dict[str, tuple[list[float], list[float]]]  # name -> (steps, loss) at every logged step
    eval_loss: dict[str, tuple[list[float], list[float]]]
    metrics: dict[str, dict[str, tuple[list[float], list[float]]]]  # name -> metric -> (steps, values)
    step_limits: tuple[float, float]
    loss_limits: tuple[float, float]
    score_limits: tuple[float, float]


def _series(records: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(float(r["step"]), float(r[key])) for r in records if r.get(key) is not None and np.isfinite(r[key])]
    return [s for s, _ in pairs], [v for _, v in pairs]


def curve_layout(histories: dict[str, History]) -> CurveLayout:
    """Series and axis limits: steps from 0, loss from 0, scores from 0 to 100 (never a 4.8-5.2 axis)."""
    train_loss = {name: _series(h.get("train", []), "loss") for name, h in histories.items()}
    eval_loss = {name: _series(h.get("eval", []), "loss") for name, h in histories.items()}
    metrics = {name: {key: _series(h.get("eval", []), key) for key, _ in EVAL_METRICS} for name, h in histories.items()}
    steps = [s for d in (train_loss, eval_loss) for xs, _ in d.values() for s in xs]
    steps += [s for m in metrics.values() for xs, _ in m.values() for s in xs]
    losses = [v for d in (train_loss, eval_loss) for _, ys in d.values() for v in ys]
    top_step = max(steps, default=1.0)
    top_loss = max(losses, default=1.0)
    return CurveLayout(
        train_loss,
        eval_loss,
        metrics,
        step_limits=(0.0, max(top_step * 1.03, 1.0)),
        loss_limits=(0.0, max(top_loss * 1.08, 1e-3)),
        score_limits=(0.0, 100.0),
    )


def plot_learning_curve(path: Path, histories: dict[str, History]) -> None:
    """Learning-curve PNG: training loss at every logged step (and validation loss), validation
    micro F1 / AUPRC / accuracy at every evaluation, one colour per model (fold).

    `histories` maps a model name ("model", "fold-0", ...) to {"train": [{"step", "epoch", "loss",
    "learning_rate"}, ...], "eval": [{"step", "epoch", "loss", "micro_f1", "auprc", "accuracy"}, ...]}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout = curve_layout(histories)
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    many = len(histories) > 1
    for k, name in enumerate(histories):
        color = colors[k % len(colors)]
        prefix = f"{name}: " if many else ""
        xs, ys = layout.train_loss[name]
        if xs:
            ax_loss.plot(xs, ys, color=color, linewidth=1.2, marker="." if len(xs) < 50 else None, label=f"{prefix}train loss")
        xs, ys = layout.eval_loss[name]
        if xs:
            ax_loss.plot(xs, ys, color=color, linestyle="--", marker="o", markersize=5, label=f"{prefix}valid loss")
        for (key, title), marker in zip(EVAL_METRICS, ("o", "s", "^")):
            xs, ys = layout.metrics[name][key]
            if xs:
                style = "-" if key == "micro_f1" else ":"
                ax_score.plot(xs, ys, color=color, linestyle=style, marker=marker, markersize=5, label=f"{prefix}{title}")
    ax_loss.set(xlim=layout.step_limits, ylim=layout.loss_limits, xlabel="optimizer step", ylabel="loss", title="Loss")
    ax_score.set(xlim=layout.step_limits, ylim=layout.score_limits, xlabel="optimizer step", ylabel="score (x100)", title="Validation")
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12, top=0.92, wspace=0.18)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
