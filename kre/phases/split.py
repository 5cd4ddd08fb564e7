"""The split phase: a stratified, sentence-grouped train/valid split (and folds) -> `splits/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..artifacts import Artifact
from ..errors import ConfigError

CONFLICT_POLICIES = ("keep-first", "drop-all")


@dataclass
class SplitConfig:
    """Options of `kre split` (pipeline keys are these names)."""

    data: str | Path = ""
    valid_size: float = 0.1
    seed: int = 42
    folds: int = 0
    dedupe: bool = False
    conflicts: str = "keep-first"
    like: str | Path | None = None
    labels: str | Path | None = None
    root: str | Path = "."
    name: str | None = None

    def __post_init__(self) -> None:
        if self.conflicts not in CONFLICT_POLICIES:
            raise ConfigError(f"--conflicts must be one of {', '.join(CONFLICT_POLICIES)}, got '{self.conflicts}'")


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "data": "Labeled data: competition CSV, KLUE-RE JSON, JSONL, or hub:NAME[:CONFIG[:SPLIT]].",
    "valid_size": "Share of rows for validation (0-1).",
    "folds": "Also write folds.csv with K group-aware stratified folds (0: none).",
    "dedupe": "Drop exact duplicate rows and resolve conflicting labels.",
    "conflicts": "With --dedupe: keep the first of conflicting rows, or drop them all.",
    "like": "Test data (labels not needed): validation takes the sentences that look most like it.",
}


def split(config: SplitConfig) -> Artifact:
    """Split the labeled data and publish train.csv / valid.csv (and folds.csv)."""
    from ..split import make_split

    if not str(config.data):
        raise ConfigError("split needs a data file")
    return make_split(path=config.data, root=Path(config.root), valid_size=float(config.valid_size), seed=int(config.seed),
                      folds=int(config.folds), dedupe=bool(config.dedupe), conflicts=config.conflicts,
                      labels=config.labels, name=config.name, like=config.like)
