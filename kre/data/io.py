"""Read and write relation data: competition CSV, official KLUE-RE JSON and JSONL.

Every problem found is reported with the file, the row (1-based data row) and the field.
With `strict=True` the first problem raises `DataError`; with `strict=False` bad rows are
collected as `Problem`s and left out (this is what `kre eda` uses).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..fileio import atomic_open, printable
from ..labels import DEFAULT_LABELS, OBJECT_TYPES, SUBJECT_TYPES, LabelSet
from .entities import EntityParseError, entity_from_mapping, format_entity_string, parse_entity_string
from .hub import is_hub_source, read_hub_dataset
from .records import Entity, Example

CSV_COLUMNS = ("id", "sentence", "subject_entity", "object_entity", "label", "source")
REQUIRED_COLUMNS = ("id", "sentence", "subject_entity", "object_entity")
#: Label values that mark an unlabeled (test) row.
UNLABELED_VALUES = ("100", "")
FORMATS = ("csv", "json", "jsonl")

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Problem:
    """One invalid row or field."""

    path: str
    row: int | None
    field: str | None
    message: str
    id: str | None = None

    def __str__(self) -> str:
        return str(_error(self))


@dataclass
class Dataset:
    """Examples read from one file, with the problems found (only when not strict)."""

    path: Path
    format: str
    examples: list[Example]
    problems: list[Problem] = field(default_factory=list)
    #: Accepted oddities, e.g. a test row whose subject type is neither PER nor ORG.
    warnings: list[Problem] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows_read: int = 0

    @property
    def is_labeled(self) -> bool:
        """True when every example has a label."""
        return bool(self.examples) and all(e.is_labeled for e in self.examples)


def _error(p: Problem) -> DataError:
    msg = p.message if p.id is None else f"{p.message} (id {printable(p.id)})"
    return DataError(p.path, msg, row=p.row, field=p.field)


def detect_format(path: Path) -> str:
    """The data format from the file name (.csv, .json, .jsonl)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in FORMATS:
        return suffix
    raise DataError(path, f"unknown file type '{path.suffix}'", hint="use a .csv, .json (KLUE) or .jsonl file")


def read_dataset(
    path: str | Path,
    *,
    labels: LabelSet | None = None,
    strict: bool = True,
    require_labels: bool = False,
) -> Dataset:
    """Read and validate a data file.

    Args:
        path: a competition CSV, an official KLUE-RE JSON file, a JSONL file, or a `hub:NAME[:CONFIG[:SPLIT]]`
            source read with `datasets` (see kre.data.hub).
        labels: the label set (default: the 30 KLUE-RE labels).
        strict: raise `DataError` on the first problem instead of collecting problems.
        require_labels: refuse unlabeled rows (training data).
    """
    labels = labels or DEFAULT_LABELS
    if is_hub_source(path):
        return read_hub_dataset(path, labels=labels, strict=strict, require_labels=require_labels)
    path = Path(path)
    fmt = detect_format(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(path, "file is empty")
    if b"\x00" in raw:
        raise DataError(
            path,
            "not a text file (it holds NUL bytes: a binary file, or UTF-16 text)",
            hint="pass a UTF-8 .csv, .json or .jsonl file",
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = raw.decode("utf-8", errors="surrogateescape")
    reader = _RowValidator(path, labels, strict, require_labels)
    if fmt == "csv":
        rows, columns = _csv_rows(path, text)
    elif fmt == "json":
        rows, columns = _json_rows(path, text)
    else:
        rows, columns = _jsonl_rows(path, text)
    reader.check_columns(columns)
    examples = [ex for ex in (reader.example(n, row) for n, row in rows) if ex is not None]
    if not examples and not reader.problems:
        raise DataError(path, "file has a header but no rows")
    return Dataset(path, fmt, examples, reader.problems, reader.warnings, list(columns), reader.rows_read)


def read_examples(path: str | Path, *, labels: LabelSet | None = None, require_labels: bool = False) -> list[Example]:
    """Read a data file strictly and return its examples."""
    return read_dataset(path, labels=labels, strict=True, require_labels=require_labels).examples


def _csv_rows(path: Path, text: str) -> tuple[Iterator[tuple[int, dict[str, Any]]], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(path, "file is empty") from None
    except csv.Error as exc:
        raise DataError(path, f"not valid CSV ({printable(str(exc), 80)})", row=0) from None
    header = [h.strip() for h in header]
    if header and header[0] == "":
        header[0] = "_index"  # pandas' unnamed index column

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        n = 0
        try:
            for n, values in enumerate(reader, start=1):
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) != len(header):
                    yield n, {"__error__": ("", f"has {len(values)} fields, the header has {len(header)}")}
                    continue
                yield n, dict(zip(header, values))
        except csv.Error as exc:
            raise DataError(path, f"not valid CSV ({printable(str(exc), 80)})", row=n + 1) from None

    return rows(), header


def _load_json(path: Path, text: str, row: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if row is None else ""
        raise DataError(path, f"not valid JSON{where} ({exc.msg})", row=row) from None


def _json_rows(path: Path, text: str) -> tuple[Iterator[tuple[int, dict[str, Any]]], list[str]]:
    data = _load_json(path, text)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(path, "expected a JSON list of relation objects (KLUE-RE format)")
    if not data:
        raise DataError(path, "file has no rows")
    columns = _json_columns(data[0])
    return ((n, _json_row(r)) for n, r in enumerate(data, start=1)), columns


def _jsonl_rows(path: Path, text: str) -> tuple[Iterator[tuple[int, dict[str, Any]]], list[str]]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataError(path, "file is empty")
    first = _load_json(path, lines[0][1], row=lines[0][0])
    columns = _json_columns(first)
    return ((n, _json_row(_load_json(path, line, row=n))) for n, line in lines), columns


def _json_columns(obj: Any) -> list[str]:
    if not isinstance(obj, dict):
        return []
    return ["id" if k == "guid" and "id" not in obj else k for k in obj]


def _json_row(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        return {"__error__": ("", "expected a JSON object")}
    row = dict(obj)
    if "id" not in row and "guid" in row:
        row["id"] = row.pop("guid")
    return row


class _RowValidator:
    """Turns raw rows into Examples, checking every field."""

    def __init__(self, path: Path, labels: LabelSet, strict: bool, require_labels: bool) -> None:
        self.path = path
        self.labels = labels
        self.strict = strict
        self.require_labels = require_labels
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.seen_ids: dict[str, int] = {}
        self.rows_read = 0

    def check_columns(self, columns: Sequence[str]) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if self.require_labels and "label" not in columns:
            missing.append("label")
        if missing:
            raise DataError(
                self.path,
                f"missing column(s) {', '.join(missing)}; found {printable(', '.join(columns), 120) or 'none'}",
                hint=f"expected columns: {', '.join(CSV_COLUMNS)}",
            )

    def _fail(self, row: int, fld: str | None, message: str, ex_id: str | None = None) -> None:
        problem = Problem(str(self.path), row, fld, message, ex_id)
        if self.strict:
            raise _error(problem)
        self.problems.append(problem)

    def example(self, n: int, row: dict[str, Any]) -> Example | None:
        self.rows_read += 1
        if "__error__" in row:
            self._fail(n, None, row["__error__"][1])
            return None
        for key, value in row.items():
            if isinstance(value, str) and _has_surrogates(value):
                self._fail(n, key, "not valid UTF-8 text")
                return None
        ex_id = _text(row.get("id"))
        if not ex_id:
            self._fail(n, "id", "empty id")
            return None
        if ex_id in self.seen_ids:
            self._fail(n, "id", f"duplicate id (first seen in row {self.seen_ids[ex_id]})", ex_id)
            return None
        self.seen_ids[ex_id] = n
        sentence = row.get("sentence")
        if not isinstance(sentence, str) or not sentence.strip():
            self._fail(n, "sentence", "empty sentence", ex_id)
            return None
        label_value = _text(row.get("label"))
        label: str | None
        if label_value in UNLABELED_VALUES:
            if self.require_labels:
                self._fail(n, "label", "missing label (unlabeled rows cannot be used here)", ex_id)
                return None
            label = None
        elif label_value in self.labels:
            label = label_value
        else:
            self._fail(n, "label", f"unknown label '{printable(label_value)}'", ex_id)
            return None
        # Unknown entity types are refused in labeled data; in unlabeled (test) rows they
        # are kept with a warning, since a submission must cover every test id.
        lenient = label is None
        subject = self._entity(n, row, "subject_entity", sentence, SUBJECT_TYPES, ex_id, lenient)
        obj = self._entity(n, row, "object_entity", sentence, OBJECT_TYPES, ex_id, lenient)
        if subject is None or obj is None:
            return None
        extra = {
            k: _text(v)
            for k, v in row.items()
            if k not in CSV_COLUMNS and k != "_index" and k != "__error__"
        }
        return Example(ex_id, sentence, subject, obj, label, _text(row.get("source")), extra)

    def _entity(
        self,
        n: int,
        row: dict[str, Any],
        fld: str,
        sentence: str,
        types: Sequence[str],
        ex_id: str,
        lenient: bool,
    ) -> Entity | None:
        value = row.get(fld)
        try:
            if isinstance(value, dict):
                entity = entity_from_mapping(value)
            elif isinstance(value, str):
                entity = parse_entity_string(value)
            else:
                raise EntityParseError("missing")
        except EntityParseError as exc:
            self._fail(n, fld, f"bad entity: {printable(str(exc), 120)}", ex_id)
            return None
        if entity.type not in types:
            kind = "subject" if fld.startswith("subject") else "object"
            message = f"{kind} type '{printable(entity.type)}' is not one of {', '.join(types)}"
            if not lenient:
                self._fail(n, fld, message, ex_id)
                return None
            self.warnings.append(Problem(str(self.path), n, fld, message + " (kept: unlabeled row)", ex_id))
        if not entity.matches(sentence):
            found = sentence[entity.start : entity.end + 1] if 0 <= entity.start <= entity.end else ""
            self._fail(
                n,
                fld,
                f"offsets {entity.start}..{entity.end} give '{printable(found)}', not the word '{printable(entity.word)}'",
                ex_id,
            )
            return None
        return entity


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def example_to_row(example: Example, extra_columns: Sequence[str] = ()) -> list[str]:
    """The competition CSV fields of an example."""
    row = [
        example.id,
        example.sentence,
        format_entity_string(example.subject),
        format_entity_string(example.object),
        example.label if example.label is not None else "100",
        example.source,
    ]
    row.extend(example.extra.get(c, "") for c in extra_columns)
    return row


def write_csv(path: str | Path, examples: Iterable[Example], extra_columns: Sequence[str] | None = None) -> None:
    """Write examples as a competition CSV (atomically). Extra columns follow the standard six.

    With `extra_columns=None` every extra key found on the examples is written, in first-seen order.
    """
    examples = list(examples)
    if extra_columns is None:
        seen: dict[str, None] = {}
        for ex in examples:
            for key in ex.extra:
                seen.setdefault(key, None)
        extra_columns = list(seen)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*CSV_COLUMNS, *extra_columns])
        for ex in examples:
            writer.writerow(example_to_row(ex, extra_columns))


def example_to_json(example: Example) -> dict[str, Any]:
    """An example as a KLUE-RE JSON object."""
    from .entities import entity_to_mapping

    obj: dict[str, Any] = {
        "guid": example.id,
        "sentence": example.sentence,
        "subject_entity": entity_to_mapping(example.subject),
        "object_entity": entity_to_mapping(example.object),
        "label": example.label if example.label is not None else "100",
        "source": example.source,
    }
    obj.update(example.extra)
    return obj


def write_jsonl(path: str | Path, examples: Iterable[Example]) -> None:
    """Write examples as JSONL (one KLUE-RE object per line), atomically."""
    with atomic_open(path, "w") as fh:
        for ex in examples:
            fh.write(json.dumps(example_to_json(ex), ensure_ascii=False) + "\n")
