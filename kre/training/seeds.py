"""`kre train --seeds 1,2,3`: one run per seed, grouped, and their spread.

Each seed trains a normal run (its own `runs/<id>/`, `seed` set, `seeds` empty) whose manifest
holds the same `seed_group` id; the spread is the mean and sample standard deviation (ddof=1)
of validation micro F1 and AUPRC over the seeds. `kre runs --group-seeds` rebuilds such groups
from any runs that differ only by seed (kre.runs_table.seed_groups).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import Artifact
from .config import TrainConfig
from .options import parse_seeds

SPREAD_METRICS = ("micro_f1", "auprc")


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def format_spread(values: list[float]) -> str:
    """`61.23 ± 0.84` (or the single value)."""
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


@dataclass
class SeedSpread:
    """The runs of one `--seeds` call and the spread of their validation scores."""

    group: str
    runs: list[Artifact]

    def values(self, metric: str) -> list[float]:
        return [float(r.metrics.get(metric, float("nan"))) for r in self.runs]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "n": len(self.runs), "runs": [r.id for r in self.runs]}
        for metric in SPREAD_METRICS:
            out[f"{metric}_mean"], out[f"{metric}_std"] = mean_std(self.values(metric))
        return out


def train_seeds(*, config: TrainConfig, **train_args: Any) -> SeedSpread | None:
    """Train one run per seed of `config.seeds` (same options otherwise); None on ranks other than 0."""
    from .. import console
    from .training_run import train

    seeds = parse_seeds(config.seeds)
    group = f"seeds-{uuid.uuid4().hex[:10]}"
    runs: list[Artifact] = []
    for k, seed in enumerate(seeds):
        console.info(f"seed {seed} ({k + 1}/{len(seeds)}), group {group}")
        art = train(config=replace(config, seed=seed, seeds=""), seed_group=group, **train_args)
        if art is None:  # not rank 0 under torchrun
            continue
        runs.append(art)
    return SeedSpread(group, runs) if runs else None


def print_spread(spread: SeedSpread) -> None:
    """One row per seed, then mean ± std."""
    from ..console import print_table, result

    rows: list[list[Any]] = [[str(r.manifest.get("seed")), r.id, f"{r.metrics.get('micro_f1', 0.0):.2f}",
                              f"{r.metrics.get('auprc', 0.0):.2f}"] for r in spread.runs]
    rows.append([f"mean ± std (n={len(spread.runs)})", spread.group, format_spread(spread.values("micro_f1")),
                 format_spread(spread.values("auprc"))])
    print_table(f"Seed spread {spread.group}", ["seed", "run", "valid micro F1", "AUPRC"], rows)
    result(" ".join(str(r.path) for r in spread.runs))


def seeds_or_lr_finder_cli(config: TrainConfig, values: dict[str, Any]) -> None:
    """The CLI paths of `kre train --seeds` and `kre train --find-lr` (values: the command's parsed options)."""
    common = dict(data=values["data"], root=Path(values["root"]), labels=values.get("labels"))
    if values.get("find_lr"):
        from .lr_finder import find_lr, print_finding

        if config.seeds:
            from ..errors import ConfigError

            raise ConfigError("--find-lr and --seeds exclude each other", hint="find the learning rate first, then train with --seeds")
        finding = find_lr(config=config, slug=values.get("name"), **common)
        if finding is not None:
            print_finding(finding, values)
        return
    test = Path(values["test"]) if values.get("test") else None
    spread = train_seeds(config=config, test=test, resume=bool(values["resume"]), slug=values.get("name"), **common)
    if spread is not None:
        print_spread(spread)
