"""A readable order for label lists in plots: by family, then by frequency."""

from __future__ import annotations

from collections.abc import Sequence

#: Label families in display order; labels of one family stay together, most frequent first.
FAMILIES = ("no_relation", "org", "per")


def _family(label: str) -> int:
    prefix = label.split(":", 1)[0]
    return FAMILIES.index(prefix) if prefix in FAMILIES else len(FAMILIES)


def family_frequency_order(names: Sequence[str], counts: Sequence[float]) -> list[int]:
    """Indexes of `names` grouped by family (no_relation, org:*, per:*, others), most frequent first within each."""
    return sorted(range(len(names)), key=lambda i: (_family(names[i]), -counts[i], names[i]))
