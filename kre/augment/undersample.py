"""`undersample`: cap one label (by default `no_relation`) at a count or a share of the data."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from ..data import Example
from ..errors import ConfigError
from .common import MethodStats

METHOD = "undersample"


def cap_for(n_label: int, n_rest: int, *, max_count: int | None, max_ratio: float | None) -> int:
    """How many rows of the label to keep.

    `max_ratio` is the label's largest share of the resulting data:
    keep k with k / (k + n_rest) <= max_ratio.
    """
    if max_count is None and max_ratio is None:
        raise ConfigError("undersample needs --max-count or --max-ratio")
    cap = n_label
    if max_count is not None:
        if max_count < 0:
            raise ConfigError("--max-count must be 0 or more")
        cap = min(cap, max_count)
    if max_ratio is not None:
        if not 0 <= max_ratio < 1:
            raise ConfigError("--max-ratio must be at least 0 and below 1")
        cap = min(cap, math.floor(max_ratio * n_rest / (1 - max_ratio) + 1e-9))
    return cap


def undersample(
    examples: Sequence[Example],
    *,
    label: str = "no_relation",
    max_count: int | None = None,
    max_ratio: float | None = None,
    seed: int = 0,
    stats: MethodStats | None = None,
) -> list[Example]:
    """The examples with the label's rows cut down to the cap (a seeded random choice), order kept."""
    stats = stats if stats is not None else MethodStats()
    of_label = [i for i, e in enumerate(examples) if e.label == label]
    cap = cap_for(len(of_label), len(examples) - len(of_label), max_count=max_count, max_ratio=max_ratio)
    stats.tried += len(of_label)
    stats.kept += cap
    stats.drop("over_cap", len(of_label) - cap)
    stats.notes.update(label=label, before=len(of_label), after=cap)
    if cap >= len(of_label):
        return list(examples)
    keep = set(random.Random(f"{seed}:{METHOD}:{label}").sample(of_label, cap))
    return [e for i, e in enumerate(examples) if e.label != label or i in keep]
