"""Run outputs besides the model: confusion matrix and learning-curve plots; the `--report-to` check."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..labels import LabelSet
from ..metrics import confusion


def plot_confusion(path: Path, gold: np.ndarray, probs: np.ndarray, labels: LabelSet) -> None:
    """Row-normalised confusion matrix (gold rows, predicted columns) with label names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = confusion(gold, np.asarray(probs).argmax(axis=1), len(labels)).astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(6.0, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels.names, rotation=90, fontsize=7)
    ax.set_yticklabels(labels.names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Validation confusion matrix (rows normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    # fixed margins for the long label names (tight_layout costs seconds on 30x30 ticks)
    fig.subplots_adjust(left=0.25, bottom=0.25, right=0.97, top=0.95)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_learning_curve(path: Path, histories: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    """Training loss at every logged step and validation loss / micro F1 / AUPRC at every evaluation.

    `histories` = {"model" or "fold-0": {"train": [{"step", "epoch", "loss", "learning_rate"}, ...],
    "eval": [{"step", "epoch", "loss", "micro_f1", "auprc", "accuracy"}, ...]}}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        prefix = f"{name} " if len(histories) > 1 else ""
        train = [h for h in history.get("train", []) if h.get("loss") is not None]
        evals = history.get("eval", [])
        if train:
            ax_loss.plot([h["step"] for h in train], [h["loss"] for h in train], linewidth=1, label=f"{prefix}train")
        if evals:
            steps = [h["step"] for h in evals]
            marker = "o" if len(evals) < 30 else None
            losses = [(h["step"], h["loss"]) for h in evals if h.get("loss") is not None]
            if losses:
                ax_loss.plot(*zip(*losses), marker="s", linestyle="--", label=f"{prefix}valid")
            ax_f1.plot(steps, [h["micro_f1"] for h in evals], marker=marker, label=f"{prefix}micro F1")
            ax_f1.plot(steps, [h["auprc"] for h in evals], marker=marker, linestyle="--", label=f"{prefix}AUPRC")
    for ax, title, ylabel in ((ax_loss, "Loss", "loss"), (ax_f1, "Validation", "score (x100)")):
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.92, wspace=0.22)
    fig.savefig(path, dpi=80)
    plt.close(fig)


# -- experiment trackers (--report-to) ---------------------------------------------
_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}


def check_report_to(name: str) -> None:
    """Refuse a tracker whose package is not installed (before any work starts); Trainer does the reporting."""
    if name == "none":
        return
    package = _PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"--report-to {name}: the '{package}' package is not installed",
            hint=f"pip install {package}, or use --report-to none (metrics.json is always written)",
        )
