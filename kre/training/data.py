"""Training inputs: a `splits/` or `augments/` artifact, its folds, and the model reference."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import Artifact, ArtifactStore
from ..data import Example, read_examples
from ..errors import ArtifactError, DataError
from ..labels import LabelSet

DATA_KINDS = ("splits", "augments")


@dataclass
class TrainData:
    """The rows of a data artifact: train.csv, valid.csv and (optionally) the fold of every row."""

    artifact: Artifact
    train: list[Example]
    valid: list[Example]
    folds: dict[str, int] | None = None

    @property
    def num_folds(self) -> int:
        return 0 if self.folds is None else len(set(self.folds.values()))


def resolve_data(store: ArtifactStore, ref: str | Path) -> Artifact:
    """A `splits/` or `augments/` artifact (path, `kind/latest`, `kind/NNNN`)."""
    artifact = store.resolve(ref)
    if artifact.kind not in DATA_KINDS:
        raise ArtifactError(
            f"{ref}: is a '{artifact.kind}' artifact; kre train needs a splits/ or augments/ artifact",
            hint="make one with `kre split DATA` (or `kre augment`)",
        )
    return artifact


def encodings_cache(root: Path) -> Path | None:
    """Where tokenized inputs are cached: $KRE_CACHE when set, else `<root>/.cache/encodings`."""
    return None if os.environ.get("KRE_CACHE") else root / ".cache" / "encodings"


def is_augmented(example: Example) -> bool:
    return bool(example.extra.get("aug_parent") or example.extra.get("aug_method"))


def load_train_data(artifact: Artifact, labels: LabelSet, *, need_folds: bool = False) -> TrainData:
    """Read train.csv/valid.csv (labels required) and folds.csv when present or needed."""
    train = read_examples(artifact.file("train.csv"), labels=labels, require_labels=True)
    valid = read_examples(artifact.file("valid.csv"), labels=labels, require_labels=True)
    folds = None
    if artifact.has("folds.csv"):
        folds = read_folds(artifact.path / "folds.csv")
    elif need_folds:
        raise ArtifactError(
            f"{artifact.path}: has no folds.csv, needed for --folds",
            hint="make the split with `kre split DATA --folds K`",
        )
    return TrainData(artifact, train, valid, folds)


def read_folds(path: Path) -> dict[str, int]:
    """Read `id,fold`; fold values are mapped to 0..K-1 in sorted order."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(path, "not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"id", "fold"} <= set(reader.fieldnames):
        raise DataError(path, f"missing column(s) id, fold; found {', '.join(reader.fieldnames or []) or 'none'}")
    raw: dict[str, int] = {}
    for n, row in enumerate(reader, start=1):
        ex_id = (row.get("id") or "").strip()
        if not ex_id:
            raise DataError(path, "empty id", row=n, field="id")
        try:
            raw[ex_id] = int(str(row.get("fold")).strip())
        except ValueError:
            raise DataError(path, f"not an integer: {row.get('fold')!r}", row=n, field="fold") from None
    if not raw:
        raise DataError(path, "file has no rows")
    order = {v: i for i, v in enumerate(sorted(set(raw.values())))}
    return {k: order[v] for k, v in raw.items()}


def fold_rows(data: TrainData, fold: int) -> tuple[list[Example], list[Example]]:
    """(train, valid) of one fold: valid = original rows of the fold; train = every other row.

    An augmented row (with `aug_parent`) takes its parent's fold, so it never trains the
    fold its parent is validated in.
    """
    assert data.folds is not None
    folds = data.folds
    path = data.artifact.path / "folds.csv"
    train: list[Example] = []
    valid: list[Example] = []
    for ex in [*data.train, *data.valid]:
        augmented = is_augmented(ex)
        key = ex.extra.get("aug_parent", "") if augmented else ex.id
        if key not in folds:
            what = f"parent {key} of augmented row {ex.id}" if augmented else f"row {ex.id}"
            raise DataError(path, f"{what} has no fold", field="id", hint="folds.csv must cover train.csv and valid.csv")
        if folds[key] == fold:
            if not augmented:
                valid.append(ex)
        else:
            train.append(ex)
    return train, valid
