"""Collect the task's sentences for masked-LM training: split artifacts, data files, text files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import KINDS, Artifact, ArtifactStore
from ..errors import ArtifactError, DataError

#: Artifact kinds whose `train.csv` (and `valid.csv`) hold task sentences.
TEXT_KINDS = ("splits", "augments")
DATA_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt", ".text")


@dataclass
class TextSource:
    """One input that contributed texts."""

    role: str
    path: Path
    texts: int
    artifact: Artifact | None = None
    skipped_rows: int = 0


@dataclass
class TextCollection:
    """Deduplicated texts (first occurrence order) and where they came from."""

    texts: list[str]
    sources: list[TextSource] = field(default_factory=list)
    read: int = 0

    @property
    def duplicates(self) -> int:
        return self.read - len(self.texts)


def read_text_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file (one text per line)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, "not valid UTF-8 text", row=line, hint="save the file as UTF-8") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s]


def read_sentences(path: Path) -> tuple[list[str], int]:
    """Texts of one file and the number of rows skipped as invalid.

    `.txt` files hold one text per line; `.csv/.json/.jsonl` files are read with the
    relation-data reader (not strict: rows with bad entities or labels are skipped,
    their count returned, but a file with no usable row is refused).
    """
    from ..data import read_dataset
    from ..data.hub import is_hub_source

    if is_hub_source(path):
        return _usable_sentences(read_dataset(path, strict=False), path)
    if not path.exists():
        raise DataError(path, "file not found")
    if not path.is_file():
        raise DataError(path, "not a file", hint="pass a splits/ or augments/ artifact folder, or data files")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        lines = read_text_lines(path)
        if not lines:
            raise DataError(path, "file has no text", hint="a text file holds one sentence per line")
        return lines, 0
    if suffix not in DATA_SUFFIXES:
        raise DataError(path, f"unknown file type '{path.suffix}'", hint="use .csv, .json, .jsonl or .txt (one text per line)")
    return _usable_sentences(read_dataset(path, strict=False), path)


def _usable_sentences(data: Any, path: Path) -> tuple[list[str], int]:
    """The sentences of a data set read leniently, and how many rows were skipped; refused when none is usable."""
    if not data.examples:
        first = data.problems[0] if data.problems else None
        if first is not None:
            raise DataError(first.path, f"no usable rows; first problem: {first.message}", row=first.row, field=first.field)
        raise DataError(path, "file has no rows")
    return [e.sentence.strip() for e in data.examples if e.sentence.strip()], len(data.problems)


def _looks_like_ref(text: str) -> bool:
    parts = text.rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] in KINDS


def resolve_source(source: str | Path, store: ArtifactStore) -> Artifact | Path:
    """A source is a data file, or a splits/augments artifact (folder path or `kind/latest`)."""
    from ..data.hub import is_hub_source

    path = Path(source)
    if path.is_file() or is_hub_source(source):
        return path
    if path.is_dir() or _looks_like_ref(str(source)):
        artifact = store.resolve(str(source))
        if artifact.kind not in TEXT_KINDS:
            raise ArtifactError(
                f"{source}: is a '{artifact.kind}' artifact; tapt reads sentences from {' or '.join(TEXT_KINDS)}",
                hint="pass a split, an augmented split, or data files",
            )
        return artifact
    raise DataError(path, "file not found", hint="pass a splits/ artifact, or .csv/.json/.jsonl/.txt files")


def collect_texts(
    sources: Sequence[str | Path],
    *,
    store: ArtifactStore,
    extra: Iterable[str | Path] = (),
    include_valid: bool = False,
) -> TextCollection:
    """Read every source, strip and deduplicate the texts (order of first occurrence kept).

    From an artifact only `train.csv` is read, plus `valid.csv` with `include_valid`.
    Raises DataError / ArtifactError on a missing or unreadable input.
    """
    if not sources:
        raise DataError("<sources>", "no input given", hint="pass a splits/ artifact or data files")
    collected: list[tuple[str, Path, list[str], int, Artifact | None]] = []
    for source in sources:
        resolved = resolve_source(source, store)
        if isinstance(resolved, Artifact):
            names = ["train.csv"] + (["valid.csv"] if include_valid else [])
            for name in names:
                texts, skipped = read_sentences(resolved.file(name))
                role = "split_train" if name == "train.csv" else "split_valid"
                collected.append((role, resolved.path / name, texts, skipped, resolved))
        else:
            texts, skipped = read_sentences(resolved)
            collected.append(("data", resolved, texts, skipped, None))
    for item in extra:
        path = Path(item)
        texts, skipped = read_sentences(path)
        collected.append(("extra", path, texts, skipped, None))

    seen: dict[str, None] = {}
    read = 0
    out_sources: list[TextSource] = []
    for role, path, texts, skipped, artifact in collected:
        read += len(texts)
        seen.update(dict.fromkeys(texts))
        out_sources.append(TextSource(role, path, len(texts), artifact, skipped))
    return TextCollection(list(seen), out_sources, read)


def source_summary(collection: TextCollection) -> list[dict[str, Any]]:
    """JSON-able description of the sources (for tapt_metrics.json)."""
    return [
        {"role": s.role, "path": str(s.path), "texts": s.texts, "skipped_rows": s.skipped_rows}
        for s in collection.sources
    ]
