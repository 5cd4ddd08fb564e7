"""The augment phase: more training rows (back-translation, entity swap, AEDA), undersampling -> `augments/<id>/`."""

from __future__ import annotations

from ..artifacts import Artifact
from ..augment.config import AugmentConfig

__all__ = ["AugmentConfig", "augment"]


def augment(config: AugmentConfig) -> Artifact:
    """Augment the split's training rows and publish the new split (valid.csv copied untouched)."""
    from ..augment import run_augment

    return run_augment(config)
