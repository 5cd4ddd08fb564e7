"""Shared pieces of the augmentation methods: per-method counts, span edits, row checks."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ..data import Entity, Example
from ..korean import fix_particle
from ..labels import OBJECT_TYPES, SUBJECT_TYPES, LabelSet

AUG_METHOD = "aug_method"
AUG_PARENT = "aug_parent"


@dataclass
class MethodStats:
    """What one method tried, kept and dropped (with reasons)."""

    tried: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += n

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tried": self.tried,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": sum(self.dropped.values()),
            "seconds": round(self.seconds, 3),
        }
        out.update(self.notes)
        return out


def row_rng(seed: int, method: str, example_id: str) -> random.Random:
    """A random generator for one row: results do not depend on row order or other rows."""
    return random.Random(f"{seed}:{method}:{example_id}")


def root_id(example: Example) -> str:
    """The original row an example descends from (itself for an original)."""
    return example.extra.get(AUG_PARENT) or example.id


def derived(parent: Example, method: str, k: int, sentence: str, subject: Entity, obj: Entity) -> Example:
    """A new row made from `parent` by `method` (its k-th candidate)."""
    extra = {**parent.extra, AUG_METHOD: method, AUG_PARENT: root_id(parent)}
    return replace(parent, id=f"{parent.id}-{method}-{k}", sentence=sentence, subject=subject, object=obj, extra=extra)


def entities_overlap(example: Example) -> bool:
    """True when the subject and object spans share characters."""
    s, o = example.subject, example.object
    return not (s.end < o.start or o.end < s.start)


def replace_entity(example: Example, role: str, word: str) -> tuple[str, Entity, Entity]:
    """Sentence and entities after replacing the subject or object span with `word`.

    A particle right after the span is switched to the form the new word needs (은/는, 이/가 ...).

    The entities must not overlap. The other entity shifts when it comes after the span.
    """
    target = example.subject if role == "subject" else example.object
    other = example.object if role == "subject" else example.subject
    rest = example.sentence[target.end + 1 :]
    if other.start != target.end + 1:  # a particle right after the word follows its final consonant
        rest = fix_particle(word, rest)
    sentence = example.sentence[: target.start] + word + rest
    delta = len(sentence) - len(example.sentence)
    new_target = replace(target, word=word, end=target.start + len(word) - 1)
    new_other = other.shifted(delta) if other.start > target.end else other
    if role == "subject":
        return sentence, new_target, new_other
    return sentence, new_other, new_target


def insert_text(sentence: str, subject: Entity, obj: Entity, pos: int, text: str) -> tuple[str, Entity, Entity]:
    """Insert `text` at character `pos` (not inside an entity), shifting the entities after it."""
    for e in (subject, obj):
        if e.start < pos <= e.end:
            raise ValueError(f"position {pos} is inside entity {e.word!r}")
    new = sentence[:pos] + text + sentence[pos:]
    shift = len(text)
    return (
        new,
        subject.shifted(shift) if subject.start >= pos else subject,
        obj.shifted(shift) if obj.start >= pos else obj,
    )


def row_problem(example: Example, labels: LabelSet) -> str | None:
    """Why a row is not valid (offsets, types, label), or None."""
    if not example.sentence.strip():
        return "empty_sentence"
    if not example.subject.matches(example.sentence) or not example.object.matches(example.sentence):
        return "offsets_mismatch"
    if example.subject.type not in SUBJECT_TYPES or example.object.type not in OBJECT_TYPES:
        return "bad_entity_type"
    if example.label is None or example.label not in labels:
        return "bad_label"
    return None
