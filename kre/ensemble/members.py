"""Ensemble members: find them (globs, prediction folders, run folders), read them, check they line up.

A member is one test probability file (`probs.csv`) and, when the member comes from an
artifact folder that has one, its validation file (`valid_probs.csv`, with gold labels).
Every member must list the same ids in the same order, with probabilities in the same
label order; otherwise the member is refused with a message that names the file and
the first id (or position) that disagrees.
"""

from __future__ import annotations

import csv
import glob
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import MANIFEST, Artifact, ArtifactStore, enclosing_artifact, load_artifact
from ..data.probs import ProbsTable, read_probs
from ..errors import ArtifactError, DataError, KreError
from ..fileio import printable, sha256_file
from ..labels import DEFAULT_LABELS, LabelSet

PROBS = "probs.csv"
VALID_PROBS = "valid_probs.csv"
_GLOB_CHARS = set("*?[")


@dataclass
class MemberSource:
    """Where a member's files are: the test file, the optional validation file and artifact."""

    probs_path: Path
    valid_path: Path | None = None
    artifact: Artifact | None = None

    @property
    def name(self) -> str:
        """Artifact id when the member is an artifact's file, else the file path."""
        if self.artifact is not None:
            return self.artifact.id
        return str(self.probs_path)


@dataclass
class Member:
    """A loaded member: test probabilities, optional validation probabilities, hashes."""

    source: MemberSource
    test: ProbsTable
    valid: ProbsTable | None
    probs_sha256: str
    valid_sha256: str | None
    label_names: tuple[str, ...] | None = None  # label order recorded by the member's artifact, if any

    @property
    def name(self) -> str:
        return self.source.name

    def describe(self) -> dict[str, Any]:
        """The member as recorded in weights.json."""
        art = self.source.artifact
        return {
            "name": self.name,
            "artifact": art.id if art is not None else None,
            "artifact_path": str(art.path) if art is not None else None,
            "probs": str(self.source.probs_path),
            "probs_sha256": self.probs_sha256,
            "valid_probs": str(self.source.valid_path) if self.source.valid_path else None,
            "valid_probs_sha256": self.valid_sha256,
        }


# -- finding members -------------------------------------------------------------
def expand_member_args(args: list[str | Path], root: str | Path = ".") -> list[MemberSource]:
    """Turn command-line member arguments into member sources.

    Each argument may be a probability file, an artifact folder (run, prediction or
    ensemble), an artifact reference such as `runs/latest`, or a quoted glob of any of
    these (expanded here, relative to the current folder, then to `root`).
    """
    if not args:
        raise KreError("no ensemble members given", hint="pass runs/*/probs.csv, run folders or prediction folders")
    store = ArtifactStore(root)
    sources: list[MemberSource] = []
    seen: dict[Path, str] = {}
    for arg in args:
        for path_or_artifact in _expand_one(str(arg), store):
            source = _source_for(path_or_artifact)
            key = source.probs_path.resolve()
            if key in seen:
                raise KreError(
                    f"{source.probs_path}: given twice (also as {seen[key]})",
                    hint="each member may appear once; use --weights to give one more weight",
                )
            seen[key] = str(arg)
            sources.append(source)
    return sources


def _expand_one(arg: str, store: ArtifactStore) -> list[Path | Artifact]:
    path = Path(arg)
    if path.exists():
        return [path]
    if _GLOB_CHARS & set(arg):
        matches = sorted(glob.glob(arg)) or (
            sorted(glob.glob(str(store.root / arg))) if not path.is_absolute() else []
        )
        if not matches:
            raise KreError(f"{arg}: the pattern matches no file or folder", hint="check the path, or pass --root")
        return [Path(m) for m in matches]
    if (store.root / path).exists():
        return [store.root / path]
    try:
        artifact = store.resolve(arg, verify=False)
    except ArtifactError:
        raise KreError(
            f"{arg}: no such file, folder or artifact",
            hint="pass probs.csv files, run/prediction folders, or references like runs/latest",
        ) from None
    artifact.verify()
    return [artifact]


def _artifact_of_folder(folder: Path) -> Artifact | None:
    """The artifact a folder is, verified like every input (None for a plain folder)."""
    if (folder / MANIFEST).exists():
        return load_artifact(folder)
    return None


def _source_for(item: Path | Artifact) -> MemberSource:
    if isinstance(item, Artifact):
        folder, artifact = item.path, item
    elif item.is_dir():
        folder, artifact = item, _artifact_of_folder(item)
    else:
        artifact = _artifact_of_folder(item.parent)
        outer = enclosing_artifact(item) if artifact is None else None
        if outer is not None:
            load_artifact(outer)  # a file deeper inside an artifact (fold-0/probs.csv): verify that artifact
        valid = None
        if item.name == PROBS and artifact is not None and (item.parent / VALID_PROBS).is_file():
            valid = item.parent / VALID_PROBS
        return MemberSource(item, valid, artifact)
    probs = folder / PROBS
    if not probs.is_file():
        what = f"{artifact.kind} artifact {artifact.id}" if artifact else "folder"
        hint = "train with --test, or make one with `kre predict`" if artifact and artifact.kind == "runs" else None
        raise KreError(f"{folder}: {what} has no {PROBS}", hint=hint or "pass a folder that holds probs.csv")
    valid = folder / VALID_PROBS
    return MemberSource(probs, valid if valid.is_file() else None, artifact)


# -- reading members ---------------------------------------------------------------

def _row_id(path: Path, row: int) -> str | None:
    """The id on a 1-based data row of a CSV (for error messages)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for n, rec in enumerate(csv.DictReader(fh), start=1):
                if n == row:
                    return rec.get("id")
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _read(path: Path, labels: LabelSet) -> ProbsTable:
    try:
        return read_probs(path, labels)
    except DataError as exc:
        if exc.row is not None and exc.field == "probs" and "probabilities, expected" in exc.detail:
            ex_id = _row_id(path, exc.row)
            raise DataError(
                path,
                f"id {printable(ex_id or '?')}: {exc.detail} (the label count differs from the ensemble's {len(labels)}-label set)",
                row=exc.row,
                field="probs",
                hint="ensemble only models trained with the same label set (or pass --labels)",
            ) from None
        raise


def _pred_labels(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [(r.get("pred_label") or "").strip() for r in csv.DictReader(io.StringIO(text, newline=""))]


def recorded_label_names(artifact: Artifact | None) -> tuple[str, ...] | None:
    """The label order a member's artifact records, if it records one.

    Looked for in `labels.json`, `model/kre_model.json` (or `fold-0/model/...`) and the
    manifest parameter `labels` when that is a list.
    """
    if artifact is None:
        return None
    candidates = [artifact.path / "labels.json", artifact.path / "model" / "kre_model.json"]
    candidates += sorted(artifact.path.glob("fold-*/model/kre_model.json"))[:1]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if path.name == "kre_model.json" and isinstance(data, dict):
            data = data.get("labels", data.get("label_names"))
        names = _names_from(data)
        if names:
            return names
    return _names_from(artifact.params.get("labels"))


def _names_from(data: Any) -> tuple[str, ...] | None:
    if isinstance(data, list) and data and all(isinstance(n, str) for n in data):
        return tuple(data)
    if isinstance(data, dict) and data and all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
        return tuple(n for n, _ in sorted(data.items(), key=lambda kv: kv[1]))
    return None


def load_members(
    sources: list[MemberSource], labels: LabelSet | None = None, *, same_valid_rows: bool = True
) -> tuple[list[Member], LabelSet]:
    """Read every member and check that ids, id sets and label orders agree.

    `labels` is the label order to use; by default the order an artifact member
    records, else the 30 KLUE-RE labels. With `same_valid_rows=False` (fold runs)
    the validation files may cover different rows.
    """
    recorded = [recorded_label_names(s.artifact) for s in sources]
    if labels is None:
        first = next((r for r in recorded if r), None)
        labels = LabelSet(first) if first else DEFAULT_LABELS
    from ..console import progress

    members: list[Member] = []
    with progress("Reading members", total=len(sources)) as task:
        for source, names in zip(sources, recorded):
            members.append(_load_one(source, names, labels))
            task.advance()
    check_alignment(members, same_valid_rows=same_valid_rows)
    return members, labels


def _load_one(source: MemberSource, names: tuple[str, ...] | None, labels: LabelSet) -> Member:
    if names is not None:
            check_label_order(source.probs_path.parent, names, labels)
    probs_sha = sha256_file(source.probs_path)  # its artifact, if any, was verified when it was found
    test = _read(source.probs_path, labels)
    check_pred_labels(source.probs_path, test, _pred_labels(source.probs_path), source.artifact)
    valid = valid_sha = None
    if source.valid_path is not None:
        valid_sha = sha256_file(source.valid_path)
        valid = _read(source.valid_path, labels)
        if valid.gold is None:
            raise DataError(source.valid_path, "has no gold 'label' column", hint="valid_probs.csv must carry gold labels")
    return Member(source, test, valid, probs_sha, valid_sha, names)


# -- checks -------------------------------------------------------------------------
def check_label_order(where: Path, names: tuple[str, ...], labels: LabelSet) -> None:
    """Refuse a member whose recorded label order differs from `labels`."""
    if tuple(names) == tuple(labels.names):
        return
    if len(names) != len(labels):
        raise KreError(
            f"{where}: has {len(names)} labels, the ensemble uses {len(labels)}",
            hint="ensemble only models trained with the same label set",
        )
    pos = next(i for i, (a, b) in enumerate(zip(names, labels.names)) if a != b)
    raise KreError(
        f"{where}: label order differs at position {pos}: '{names[pos]}' where the ensemble has '{labels.names[pos]}'",
        hint="ensemble only models trained with the same label map (or pass --labels)",
    )


def check_pred_labels(path: Path, table: ProbsTable, preds: list[str], artifact: Artifact | None) -> None:
    """Each pred_label must be a known label with the row's highest probability.

    A file written with another label order fails this test at its first row whose
    argmax maps to a different name. Hard-voting ensembles (whose pred_label is the
    vote, not the argmax) only need known labels.
    """
    hard = artifact is not None and artifact.kind == "ensembles" and artifact.params.get("method") == "hard"
    for n, (ex_id, pred) in enumerate(zip(table.ids, preds), start=1):
        if pred not in table.labels:
            raise DataError(path, f"id {printable(ex_id)}: pred_label '{printable(pred)}' is not in the label set", row=n, field="pred_label")
        if hard:
            continue
        row = table.probs[n - 1]
        if row[table.labels.id(pred)] < row.max():
            raise DataError(
                path,
                f"id {printable(ex_id)}: pred_label '{pred}' is not the most probable label under the ensemble's label order "
                f"(that is '{table.labels.name(int(row.argmax()))}'): the file was written with another label order",
                row=n,
                field="pred_label",
                hint="ensemble only models trained with the same label map (or pass --labels)",
            )


def check_same_ids(ref: ProbsTable, other: ProbsTable, what: str, hint: str | None = None) -> None:
    """Refuse `other` unless it lists exactly `ref`'s ids in the same order."""
    if ref.ids == other.ids:
        return
    ref_set, other_set = set(ref.ids), set(other.ids)
    if ref_set == other_set:
        pos = next(i for i, (a, b) in enumerate(zip(ref.ids, other.ids)) if a != b)
        raise DataError(
            other.path or "?",
            f"{what}: id order differs from {ref.path}: row {pos + 1} has id {printable(other.ids[pos])} where {ref.path} has id {printable(ref.ids[pos])}",
            row=pos + 1,
            field="id",
            hint=hint or "members must be predictions for the same rows in the same order",
        )
    extra = next((i for i, x in enumerate(other.ids) if x not in ref_set), None)
    if extra is not None:
        raise DataError(
            other.path or "?",
            f"{what}: id set differs from {ref.path}: id {printable(other.ids[extra])} is not in {ref.path} "
            f"({len(other.ids)} ids vs {len(ref.ids)})",
            row=extra + 1,
            field="id",
            hint=hint or "members must be predictions for the same data file",
        )
    missing = next(x for x in ref.ids if x not in other_set)
    raise DataError(
        other.path or "?",
        f"{what}: id set differs from {ref.path}: id {printable(missing)} of {ref.path} is missing "
        f"({len(other.ids)} ids vs {len(ref.ids)})",
        field="id",
        hint=hint or "members must be predictions for the same data file",
    )


def check_alignment(members: list[Member], *, same_valid_rows: bool = True) -> None:
    """Every member must match the first one in test ids; validation ids and gold labels too when every member has them."""
    if not members:
        raise KreError("no ensemble members given")
    first = members[0]
    for m in members[1:]:
        check_same_ids(first.test, m.test, "test probabilities")
    with_valid = [m for m in members if m.valid is not None]
    if len(with_valid) < len(members) or not same_valid_rows:
        return  # no validation metrics: the validation files are not used
    ref = with_valid[0].valid
    assert ref is not None and ref.gold is not None
    for m in with_valid[1:]:
        assert m.valid is not None and m.valid.gold is not None
        check_same_ids(
            ref, m.valid, "validation probabilities",
            hint="members must be validated on the same rows (a k-fold run's out-of-fold file covers more rows than "
            "a single-split run's); --no-valid ensembles without validation metrics",
        )
        for n, (ex_id, a, b) in enumerate(zip(ref.ids, ref.gold, m.valid.gold), start=1):
            if a != b:
                raise DataError(
                    m.valid.path or "?",
                    f"id {printable(ex_id)}: gold label '{b}' differs from '{a}' in {ref.path}",
                    row=n,
                    field="label",
                    hint="members must be validated on the same split",
                )
