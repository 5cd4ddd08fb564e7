"""Where the predictions and the sentences come from.

A run or ensemble has `valid_probs.csv` (probabilities, predicted and gold labels of the
validation rows; out-of-fold for k-fold runs). The sentences and entities of those rows are
in the data artifact the run was trained on (`splits/` or `augments/`: train.csv +
valid.csv), found by following the manifest inputs back (an ensemble through its members).
A prediction artifact made on a labeled file uses its `probs.csv` and that file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import Artifact, ArtifactStore, load_artifact
from ..data import Example, read_examples
from ..data.probs import read_probs
from ..errors import ArtifactError, DataError, KreError
from ..fileio import sha256_file
from ..labels import DEFAULT_LABELS, LabelSet
from ..training.data import DATA_KINDS

SOURCE_KINDS = ("runs", "ensembles", "predictions")


@dataclass
class Predictions:
    """Validation rows with their examples, gold and predicted label ids and probabilities."""

    source: Artifact
    probs_path: Path
    examples: list[Example]
    gold: np.ndarray
    pred: np.ndarray
    probs: np.ndarray
    labels: LabelSet
    data_ref: str  # the data artifact id or file the sentences came from
    data_artifact: Artifact | None = None
    data_file: Path | None = None


def _input_artifact(entry: dict, store: ArtifactStore) -> Artifact | None:
    for ref in (entry.get("path"), entry.get("artifact")):
        if not ref:
            continue
        try:
            return load_artifact(ref, verify=False) if Path(ref).is_dir() else store.resolve(ref, verify=False)
        except ArtifactError:
            continue
    return None


def find_data_artifact(artifact: Artifact, store: ArtifactStore, _depth: int = 0) -> Artifact | None:
    """The splits/ or augments/ artifact behind a run (or an ensemble's first member that has one)."""
    if artifact.kind in DATA_KINDS:
        return artifact
    if _depth > 8:
        return None
    entries = [i for i in artifact.inputs if i.get("role") == "data" and i.get("artifact")]
    entries += [i for i in artifact.inputs if str(i.get("role", "")).startswith("member-") and i.get("artifact")]
    for entry in entries:
        parent = _input_artifact(entry, store)
        found = find_data_artifact(parent, store, _depth + 1) if parent is not None else None
        if found is not None:
            return found
    return None


def _pred_column(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [(r.get("pred_label") or "").strip() for r in csv.DictReader(io.StringIO(text, newline=""))]


def _labels_of(artifact: Artifact, labels: LabelSet | None) -> LabelSet:
    if labels is not None:
        return labels
    from ..ensemble.members import recorded_label_names

    names = recorded_label_names(artifact)
    if names is None and artifact.kind == "ensembles" and artifact.has("weights.json"):
        import json

        recorded = json.loads(artifact.file("weights.json").read_text(encoding="utf-8")).get("labels")
        names = tuple(recorded) if isinstance(recorded, list) and recorded else None
    return LabelSet(names) if names else DEFAULT_LABELS


def _examples_from(data: str | Path | None, artifact: Artifact | None, store: ArtifactStore, labels: LabelSet) -> tuple[dict[str, Example], str, Artifact | None, Path | None]:
    if data is not None and Path(data).is_file():
        rows = read_examples(data, labels=labels)
        return {e.id: e for e in rows}, str(data), None, Path(data)
    if data is not None:
        artifact = store.resolve(data)
        if artifact.kind not in DATA_KINDS:
            raise ArtifactError(f"--data {data}: is a '{artifact.kind}' artifact, expected a data file or a splits/ or augments/ artifact")
    assert artifact is not None
    rows: dict[str, Example] = {}
    for name in ("train.csv", "valid.csv"):
        if artifact.has(name):
            rows.update((e.id, e) for e in read_examples(artifact.file(name), labels=labels))
    return rows, artifact.id, artifact, None


def load_predictions(
    ref: str | Path, *, root: str | Path = ".", data: str | Path | None = None, labels: LabelSet | None = None
) -> Predictions:
    """Read a run's / ensemble's validation predictions (or a labeled prediction) and join the sentences on id.

    Args:
        ref: runs/, ensembles/ or predictions/ artifact (folder or reference).
        data: a data file or data artifact to take the sentences from, instead of the one
            recorded in the manifests.
    Raises:
        KreError: no validation predictions, no data found, ids missing from the data.
    """
    store = ArtifactStore(root)
    source = store.resolve(ref)
    if source.kind not in SOURCE_KINDS:
        raise ArtifactError(f"{ref}: is a '{source.kind}' artifact; kre errors reads runs/, ensembles/ or predictions/")
    labels = _labels_of(source, labels)
    data_file: Path | None = None
    data_artifact: Artifact | None = None
    if source.kind == "predictions":
        probs_path = source.file("probs.csv")
        if data is None:
            entry = next((i for i in source.inputs if i.get("role") == "data" and i.get("path")), None)
            if entry is None or not Path(entry["path"]).is_file():
                raise KreError(f"{source.id}: its data file is not recorded or no longer exists", hint="pass --data FILE")
            if entry.get("sha256") and sha256_file(entry["path"]) != entry["sha256"]:
                raise DataError(entry["path"], f"changed since {source.id} was made from it", hint="pass --data FILE")
            data = entry["path"]
    else:
        if not source.has("valid_probs.csv"):
            raise KreError(
                f"{source.id}: has no valid_probs.csv, so there are no validation predictions to analyse",
                hint="ensembles have one only when every member has one",
            )
        probs_path = source.file("valid_probs.csv")
        if data is None:
            data_artifact = find_data_artifact(source, store)
            if data_artifact is None:
                raise KreError(
                    f"{source.id}: cannot find the splits/ or augments/ artifact its validation rows come from",
                    hint="pass --data with the data artifact or file that holds them",
                )
    rows, data_ref, data_artifact, data_file = _examples_from(data, data_artifact, store, labels)
    table = read_probs(probs_path, labels)
    preds = _pred_column(probs_path)
    examples: list[Example] = []
    gold: list[str] = []
    for n, ex_id in enumerate(table.ids, start=1):
        ex = rows.get(ex_id)
        if ex is None:
            raise DataError(probs_path, f"id {ex_id} is not in {data_ref}", row=n, field="id", hint="pass --data with the data the predictions were made on")
        g = table.gold[n - 1] if table.gold is not None else ex.label
        if g is None:
            raise DataError(data_file or probs_path, f"id {ex_id} has no gold label, so its mistakes cannot be counted", field="label")
        if ex.label is not None and ex.label != g:
            raise DataError(probs_path, f"id {ex_id}: gold label '{g}' differs from '{ex.label}' in {data_ref}", row=n, field="label")
        examples.append(ex)
        gold.append(g)
    for n, p in enumerate(preds, start=1):
        if p not in labels:
            raise DataError(probs_path, f"pred_label '{p}' is not in the label set", row=n, field="pred_label")
    return Predictions(
        source=source, probs_path=probs_path, examples=examples, gold=np.asarray(labels.ids(gold)),
        pred=np.asarray(labels.ids(preds)), probs=table.probs, labels=labels, data_ref=data_ref,
        data_artifact=data_artifact, data_file=data_file,
    )
