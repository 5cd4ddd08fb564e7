"""Exact duplicate rows and conflicting-label duplicates (same sentence and entity pair)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data import Example

CONFLICT_POLICIES = ("keep-first", "drop-all")


@dataclass
class DedupeResult:
    """What `find_duplicates` found and which rows it keeps.

    Attributes:
        keep: indices (into the input list) of the rows kept, in input order.
        dropped: one record per dropped row: id, label, reason, and the id kept in its place.
        duplicate_groups: groups of rows with the same input and label (ids, label, first id).
        conflicts: groups of rows with the same input but different labels.
    """

    keep: list[int]
    dropped: list[dict[str, Any]] = field(default_factory=list)
    duplicate_groups: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exact_duplicate_rows(self) -> int:
        """Rows that repeat an earlier row exactly (same sentence, entities and label)."""
        return sum(len(g["ids"]) - 1 for g in self.duplicate_groups)


def find_duplicates(examples: Sequence[Example], *, drop: bool = True, conflicts: str = "keep-first") -> DedupeResult:
    """Find exact duplicates and conflicting labels among rows with the same sentence and entity pair.

    Two rows are the same input when sentence, subject and object (word, offsets, type) are equal.
    With `drop`, exact repeats are dropped (the first id is kept) and conflicting groups follow
    `conflicts`: "keep-first" keeps the group's first row, "drop-all" drops every row of the group.
    Without `drop` everything is only reported.
    """
    if conflicts not in CONFLICT_POLICIES:
        raise ValueError(f"unknown conflict policy {conflicts!r}")
    by_input: dict[tuple, list[int]] = {}
    for i, ex in enumerate(examples):
        by_input.setdefault(ex.input_key(), []).append(i)
    dropped_at: dict[int, dict[str, Any]] = {}
    result = DedupeResult(keep=[])
    for rows in by_input.values():
        if len(rows) < 2:
            continue
        first = examples[rows[0]]
        by_label: dict[str, list[int]] = {}
        for i in rows:
            by_label.setdefault(str(examples[i].label), []).append(i)
        for same in by_label.values():
            if len(same) > 1:
                result.duplicate_groups.append(
                    {"ids": [examples[i].id for i in same], "label": examples[same[0]].label, "first": examples[same[0]].id}
                )
        if len(by_label) > 1:
            kept_id = first.id if conflicts == "keep-first" else None
            result.conflicts.append(
                {
                    "ids": [examples[i].id for i in rows],
                    "labels": [examples[i].label for i in rows],
                    "sentence": first.sentence,
                    "subject": first.subject.word,
                    "object": first.object.word,
                    "kept": kept_id if drop else None,
                }
            )
        if not drop:
            continue
        if len(by_label) > 1 and conflicts == "drop-all":
            for i in rows:
                dropped_at[i] = _dropped(examples[i], "conflicting_label", None)
        else:
            for i in rows[1:]:
                reason = "exact_duplicate" if examples[i].label == first.label else "conflicting_label"
                dropped_at[i] = _dropped(examples[i], reason, first.id)
    result.keep = [i for i in range(len(examples)) if i not in dropped_at]
    result.dropped = [dropped_at[i] for i in sorted(dropped_at)]
    return result


def _dropped(ex: Example, reason: str, kept: str | None) -> dict[str, Any]:
    return {"id": ex.id, "label": ex.label, "reason": reason, "kept": kept}
