"""Plot layouts: sorted classes, counts in the cells, every logged step, sensible axes, no hidden labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kre.label_order import family_frequency_order
from kre.labels import LabelSet
from kre.training.plots import confusion_layout, curve_layout, plot_confusion, plot_learning_curve


def test_family_frequency_order() -> None:
    names = ["per:title", "org:members", "no_relation", "per:origin", "org:founded"]
    counts = [5, 1, 9, 7, 3]
    assert [names[i] for i in family_frequency_order(names, counts)] == [
        "no_relation", "org:founded", "org:members", "per:origin", "per:title",
    ]  # fmt: skip


def _labels() -> LabelSet:
    return LabelSet(("no_relation", "org:members", "per:title", "per:origin"))


def test_confusion_layout_sorts_and_counts() -> None:
    labels = _labels()
    gold = np.array([2, 2, 2, 3, 0, 0, 1])  # per:title 3, per:origin 1, no_relation 2, org:members 1
    pred = np.array([2, 2, 3, 3, 0, 2, 1])
    probs = np.eye(4)[pred]
    layout = confusion_layout(gold, probs, labels)
    assert layout.order == ["no_relation", "org:members", "per:title", "per:origin"]
    title = layout.order.index("per:title")
    origin = layout.order.index("per:origin")
    assert layout.counts[title, title] == 2 and layout.counts[title, origin] == 1
    assert layout.cell_texts[title][title] == "2" and layout.cell_texts[title][0] == ""
    assert np.isclose(layout.shares[title, title], 2 / 3) and np.allclose(layout.shares.sum(axis=1), 1.0)
    assert layout.counts.sum() == len(gold)


def _history(steps: int, evals: list[int]) -> dict:
    train = [{"step": s, "epoch": s / steps, "loss": 3.0 - 0.1 * s, "learning_rate": 1e-4} for s in range(1, steps + 1)]
    ev = [{"step": s, "epoch": 1.0, "loss": 2.5, "micro_f1": 5.0, "auprc": 4.0, "accuracy": 30.0} for s in evals]
    return {"train": train, "eval": ev}


def test_curve_layout_every_step_and_sane_axes() -> None:
    layout = curve_layout({"model": _history(5, [5])})  # the 5-step run with one evaluation
    steps, losses = layout.train_loss["model"]
    assert steps == [1.0, 2.0, 3.0, 4.0, 5.0] and np.isclose(losses[0], 2.9)
    assert layout.metrics["model"]["micro_f1"] == ([5.0], [5.0])
    assert layout.step_limits[0] == 0.0 and layout.step_limits[1] >= 5.0
    assert layout.score_limits == (0.0, 100.0) and layout.loss_limits[0] == 0.0 and layout.loss_limits[1] >= 2.9
    folds = curve_layout({"fold-0": _history(4, [2, 4]), "fold-1": _history(6, [3, 6])})
    assert set(folds.metrics) == {"fold-0", "fold-1"} and folds.step_limits[1] >= 6.0


def test_plots_write_pngs(tmp_path: Path) -> None:
    from kre.labels import DEFAULT_LABELS

    labels = DEFAULT_LABELS
    rng = np.random.default_rng(0)
    gold = rng.integers(0, len(labels), 200)
    probs = rng.dirichlet(np.ones(len(labels)), 200)
    plot_confusion(tmp_path / "confusion.png", gold, probs, labels)
    plot_learning_curve(tmp_path / "curve.png", {"model": _history(5, [5])})
    for name in ("confusion.png", "curve.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_count_order() -> None:
    from kre.split.report import class_count_order

    counts = {"train": {"per:title": 10, "no_relation": 50, "org:members": 2, "org:founded": 8}, "valid": {"per:title": 1, "no_relation": 5, "org:members": 9, "org:founded": 1}}
    assert class_count_order(counts) == ["no_relation", "org:members", "org:founded", "per:title"]


def test_similarity_legend_does_not_cover_counts() -> None:
    import matplotlib.pyplot as plt

    from kre.augment.common import MethodStats
    from kre.augment.plots import summary_figure

    stats = {"entity-swap": MethodStats(), "aeda": MethodStats()}
    stats["entity-swap"].kept, stats["aeda"].kept = 385, 656
    stats["entity-swap"].dropped["no_candidate"] = 271
    fig = summary_figure(scores=[], threshold=None, stats=stats)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    texts = [t for t in ax.texts if "/" in t.get_text()]
    assert {t.get_text() for t in texts} == {"385 / 656", "656 / 656"}
    assert not any(legend.overlaps(t.get_window_extent(renderer)) for t in texts)
    plt.close(fig)
