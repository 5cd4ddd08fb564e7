"""The choice sets of the modeling options (no torch import, so the CLI can use them)."""

from __future__ import annotations

from enum import Enum


class HeadName(str, Enum):
    """Classifier heads (`--head`)."""

    cls = "cls"
    entity = "entity"
    lstm = "lstm"


class LossName(str, Enum):
    """Training losses (`--loss`)."""

    ce = "ce"
    label_smoothing = "label-smoothing"
    focal = "focal"
    ldam = "ldam"


class ClassWeights(str, Enum):
    """Per-class loss weights from training counts (`--class-weights`)."""

    none = "none"
    inverse = "inverse"
    sqrt_inverse = "sqrt-inverse"


def values(enum: type[Enum]) -> tuple[str, ...]:
    """The string values of an Enum, in order."""
    return tuple(str(m.value) for m in enum)
