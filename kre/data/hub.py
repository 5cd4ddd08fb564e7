"""Relation data from the Hugging Face hub (or a local `datasets` folder): `hub:NAME[:CONFIG[:SPLIT]]`.

Examples: `hub:klue/klue:re` (the train split), `hub:klue/klue:re:validation`, and for a local
copy `hub:/data/klue_re:validation` (a folder written by `DatasetDict.save_to_disk`, or data files
such as parquet that `datasets.load_dataset` reads from a folder; `hub:PATH:CONFIG:SPLIT` names a config).

Rows are read with `datasets` and checked by the same validator as CSV/JSON files, so errors
name the source, the row (1-based within the split) and the field. The official KLUE-RE layout
(guid, sentence, subject_entity/object_entity dicts, integer label of a `ClassLabel`, source) is
mapped through the `ClassLabel` names to kre's label names. A label of -1 marks an unlabeled row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..labels import LabelSet

PREFIX = "hub:"
DEFAULT_SPLIT = "train"
LOCAL_HINT = (
    "on a machine with network: python -c \"import datasets; datasets.load_dataset('klue/klue', 're')"
    ".save_to_disk('klue_re')\", copy the folder here and use hub:/path/to/klue_re:validation"
)


@dataclass(frozen=True)
class HubSource:
    """A parsed `hub:` source: dataset name (hub id or local folder), config and split."""

    text: str
    name: str
    config: str | None
    split: str
    local: bool


def is_hub_source(value: str | Path | None) -> bool:
    """True for a `hub:...` data source."""
    return value is not None and str(value).startswith(PREFIX)


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def parse_hub_source(value: str | Path) -> HubSource:
    """Split `hub:NAME[:CONFIG[:SPLIT]]` (hub id) or `hub:PATH[:SPLIT]` / `hub:PATH:CONFIG:SPLIT` (local folder)."""
    text = str(value)
    parts = text[len(PREFIX):].split(":")
    name = parts[0].strip()
    fmt = "use hub:NAME[:CONFIG[:SPLIT]], e.g. hub:klue/klue:re:validation, or hub:/path/to/folder[:SPLIT]"
    if not name or len(parts) > 3:
        raise DataError(text, "not a hub data source", hint=fmt)
    local = _looks_local(name)
    rest = [p.strip() for p in parts[1:]]
    if local and len(rest) == 1:
        config, split = None, rest[0]
    else:
        config = rest[0] if rest else None
        split = rest[1] if len(rest) > 1 else ""
    return HubSource(text, str(Path(name).expanduser()) if local else name, config or None, split or DEFAULT_SPLIT, local)


def _load(src: HubSource) -> Any:
    """The `datasets.Dataset` of the source's split, without datasets' own progress bars."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return _load_split(src)
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _load_split(src: HubSource) -> Any:
    """`_load` without the progress-bar handling; every failure becomes a one-line DataError."""
    import datasets

    try:
        if src.local:
            folder = Path(src.name)
            if not folder.exists():
                raise DataError(src.text, f"no such folder: {folder}", hint="give a folder written by save_to_disk, or of data files")
            if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
                loaded = datasets.load_from_disk(str(folder))
                if isinstance(loaded, datasets.DatasetDict):
                    if src.split not in loaded:
                        raise DataError(src.text, f"no split '{src.split}'; the folder has {', '.join(loaded)}")
                    return loaded[src.split]
                return loaded
            return datasets.load_dataset(str(folder), src.config, split=src.split)
        return datasets.load_dataset(src.name, src.config, split=src.split)
    except DataError:
        raise
    except ConnectionError as exc:
        raise DataError(src.text, f"cannot reach the Hugging Face hub to load '{src.name}' ({exc})", hint=LOCAL_HINT) from None
    except FileNotFoundError as exc:
        raise DataError(src.text, f"dataset not found ({exc})", hint=LOCAL_HINT) from None
    except ValueError as exc:  # unknown split or config
        raise DataError(src.text, f"cannot load this split ({str(exc).splitlines()[0]})",
                        hint="check the config and split names, e.g. hub:klue/klue:re:validation") from None
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; the user gets one line
        raise DataError(src.text, f"cannot load the dataset ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                        hint=LOCAL_HINT) from None


def _label_names(ds: Any) -> list[str] | None:
    feature = ds.features.get("label") if hasattr(ds, "features") else None
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _row(raw: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    row = dict(raw)
    if "id" not in row and "guid" in row:
        row["id"] = row.pop("guid")
    label = row.get("label")
    if isinstance(label, int) and not isinstance(label, bool):
        if label < 0:
            row["label"] = ""
        elif names is not None and label < len(names):
            row["label"] = names[label]
    return row


def _record_key(text: str) -> str:
    return str(Path(text))  # the same key whether a command got the source as text or as a Path


#: Content hash, fingerprint and row count of every source read in this process, for manifests.
_RECORDS: dict[str, dict[str, Any]] = {}


def read_hub_dataset(
    value: str | Path,
    *,
    labels: LabelSet,
    strict: bool = True,
    require_labels: bool = False,
) -> Any:
    """Read and validate a `hub:` source; returns a `kre.data.io.Dataset` (format "hub")."""
    from .io import Dataset, _RowValidator

    src = parse_hub_source(value)
    ds = _load(src)
    names = _label_names(ds)
    columns = ["id" if c == "guid" and "id" not in ds.column_names else c for c in ds.column_names]
    validator = _RowValidator(Path(src.text), labels, strict, require_labels)
    validator.check_columns(columns)
    digest = hashlib.sha256()
    examples = []
    for n, raw in enumerate(ds, start=1):
        digest.update(json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
        ex = validator.example(n, _row(raw, names))
        if ex is not None:
            examples.append(ex)
    if not examples and not validator.problems:
        raise DataError(src.text, "the split has no rows")
    _RECORDS[_record_key(src.text)] = {
        "dataset": src.name,
        "config": src.config,
        "split": src.split,
        "fingerprint": getattr(ds, "_fingerprint", None),
        "sha256": digest.hexdigest(),
        "rows": len(ds),
        "label_names": "ClassLabel" if names is not None else "strings",
    }
    return Dataset(Path(src.text), "hub", examples, validator.problems, validator.warnings, columns, validator.rows_read)


def hub_input_record(value: str | Path, role: str) -> dict[str, Any]:
    """The manifest `inputs` entry of a hub source: dataset, config, split, fingerprint and content hash.

    The content hash (sha256 over the rows as read) is what artifact fingerprints compare; a source
    not read yet in this process is read first.
    """
    text = str(value)
    if _record_key(text) not in _RECORDS:
        from ..labels import DEFAULT_LABELS

        read_hub_dataset(text, labels=DEFAULT_LABELS, strict=False)
    return {"role": role, "ref": text, **_RECORDS[_record_key(text)]}


def data_sha256(path: str | Path) -> str:
    """The content hash of a data file, or of the rows of a `hub:` source."""
    if is_hub_source(path):
        return str(hub_input_record(path, "data")["sha256"])
    from ..fileio import sha256_file

    return sha256_file(path)
