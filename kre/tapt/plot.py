"""The MLM loss curve as a PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def plot_loss_curve(path: Path, log: Sequence[dict[str, float]], before: float, after: float) -> None:
    """Training loss per logging step, with the held-out loss before and after as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [entry["step"] for entry in log]
    ax.plot(steps, [entry["loss"] for entry in log], label="training loss", color="tab:blue")
    last = steps[-1] if steps else 1
    if math.isfinite(before):
        ax.scatter([0], [before], color="tab:red", zorder=3, label=f"held-out before ({before:.3f})")
    if math.isfinite(after):
        ax.scatter([last], [after], color="tab:green", zorder=3, label=f"held-out after ({after:.3f})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("masked-LM loss")
    ax.set_title("TAPT masked-LM loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
