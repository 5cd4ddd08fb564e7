"""`--restrict-types`: rule out labels that the subject's entity type cannot take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..labels import LabelSet


def type_mask(examples: Sequence[Any], labels: LabelSet) -> np.ndarray:
    """Boolean (N, L) matrix: True where label j is possible for example i's subject type.

    Uses `LabelSet.allowed_for_subject` (org:* needs an ORG subject, per:* a PER
    subject; other labels such as no_relation are always allowed; a subject type other
    than PER/ORG allows everything).
    """
    cache: dict[str, list[bool]] = {}
    rows = []
    for e in examples:
        t = e.subject.type
        if t not in cache:
            cache[t] = labels.allowed_for_subject(t)
        rows.append(cache[t])
    return np.asarray(rows, dtype=bool).reshape(len(rows), len(labels))


def apply_type_mask(probs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Zero the impossible labels and renormalise each row to sum to 1.

    A row whose allowed labels all have probability 0 becomes uniform over its allowed
    labels (or is left unchanged when its mask allows nothing).
    """
    probs = np.asarray(probs, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if probs.shape != mask.shape:
        raise ValueError(f"probs {probs.shape} and mask {mask.shape} differ in shape")
    out = np.where(mask, probs, 0.0)
    total = out.sum(axis=1, keepdims=True)
    allowed = mask.sum(axis=1, keepdims=True)
    uniform = np.where(mask, 1.0 / np.maximum(allowed, 1), 0.0)
    out = np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)
    return np.where(allowed > 0, out, probs)
