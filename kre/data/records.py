"""The in-memory record type shared by every phase."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Entity:
    """An entity mention: `sentence[start:end + 1] == word` (end is inclusive)."""

    word: str
    start: int
    end: int
    type: str

    def matches(self, sentence: str) -> bool:
        """True when the offsets point at the word in the sentence."""
        return 0 <= self.start <= self.end < len(sentence) and sentence[self.start : self.end + 1] == self.word

    def shifted(self, delta: int) -> "Entity":
        """The same entity moved by delta characters."""
        return replace(self, start=self.start + delta, end=self.end + delta)


@dataclass(frozen=True)
class Example:
    """One relation instance. `label` is None for unlabeled (test) rows."""

    id: str
    sentence: str
    subject: Entity
    object: Entity
    label: str | None
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_labeled(self) -> bool:
        return self.label is not None

    def input_key(self) -> tuple:
        """What the model sees: sentence and both entities (label and id excluded)."""
        return (self.sentence, self.subject, self.object)
