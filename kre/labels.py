"""The relation label set: names in label-id order, loading and type constraints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

NO_RELATION = "no_relation"

#: The competition's label -> id map (dict_label_to_num), names in id order.
KLUE_RE_LABELS: tuple[str, ...] = (
    "no_relation",
    "org:top_members/employees",
    "org:members",
    "org:product",
    "per:title",
    "org:alternate_names",
    "per:employee_of",
    "org:place_of_headquarters",
    "per:product",
    "org:number_of_employees/members",
    "per:children",
    "per:place_of_residence",
    "per:alternate_names",
    "per:other_family",
    "per:colleagues",
    "per:origin",
    "per:siblings",
    "per:spouse",
    "org:founded",
    "org:political/religious_affiliation",
    "org:member_of",
    "per:parents",
    "org:dissolved",
    "per:schools_attended",
    "per:date_of_death",
    "per:date_of_birth",
    "per:place_of_birth",
    "per:place_of_death",
    "org:founded_by",
    "per:religion",
)

SUBJECT_TYPES = ("PER", "ORG")
OBJECT_TYPES = ("PER", "ORG", "POH", "DAT", "LOC", "NOH")


@dataclass(frozen=True)
class LabelSet:
    """Relation labels in label-id order."""

    names: tuple[str, ...] = KLUE_RE_LABELS

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError("label names must be unique")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def id(self, name: str) -> int:
        """The id of a label name (KeyError if unknown)."""
        return self._index[name]

    def ids(self, names: Iterable[str]) -> list[int]:
        """Ids of several label names."""
        index = self._index
        return [index[n] for n in names]

    def name(self, label_id: int) -> str:
        """The name of a label id."""
        return self.names[label_id]

    @property
    def no_relation_id(self) -> int | None:
        """Id of `no_relation`, or None when the set has none."""
        return self._index.get(NO_RELATION)

    def to_dict(self) -> dict[str, int]:
        """The label -> id map."""
        return dict(self._index)

    def allowed_for_subject(self, subject_type: str) -> list[bool]:
        """Which labels a subject of this type can take (org:* needs ORG, per:* needs PER)."""
        prefix = {"ORG": "org:", "PER": "per:"}.get(subject_type)
        return [
            prefix is None or not (n.startswith("org:") or n.startswith("per:")) or n.startswith(prefix)
            for n in self.names
        ]

    def save(self, path: Path) -> None:
        """Write the label -> id map as JSON."""
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "LabelSet":
        return cls(tuple(names))

    @classmethod
    def load(cls, path: str | Path) -> "LabelSet":
        """Read a label -> id JSON map (as in dict_label_to_num.json) or a JSON list of names."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(path, "file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(path, f"not a valid JSON label map ({exc})") from None
        if isinstance(data, list) and all(isinstance(n, str) for n in data):
            names = list(data)
        elif isinstance(data, dict) and all(isinstance(v, int) for v in data.values()):
            ids = sorted(data.values())
            if ids != list(range(len(ids))):
                raise DataError(path, "label ids must be 0..N-1 without gaps")
            names = [n for n, _ in sorted(data.items(), key=lambda kv: kv[1])]
        else:
            raise DataError(path, "expected a JSON object {label: id} or a list of label names")
        if len(set(names)) != len(names):
            raise DataError(path, "label names must be unique")
        return cls(tuple(names))


DEFAULT_LABELS = LabelSet()
