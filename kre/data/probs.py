"""Probability files: the submission format `id,pred_label,probs` (+ optional gold `label`).

`probs` is a list of floats in label-id order, written as the competition writes it.
`valid_probs.csv` files carry the gold label in a fourth column `label`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..fileio import atomic_open, printable
from ..labels import DEFAULT_LABELS, LabelSet

PROBS_COLUMNS = ("id", "pred_label", "probs")
#: How far a row's probabilities may sum from 1 (rounding in files written by other tools).
SUM_TOLERANCE = 1e-2


@dataclass
class ProbsTable:
    """Per-example class probabilities (rows follow `ids`)."""

    ids: list[str]
    probs: np.ndarray  # shape (n, num_labels), float64
    labels: LabelSet
    gold: list[str] | None = None  # gold label names, when known
    path: Path | None = None

    @property
    def pred_ids(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def pred_labels(self) -> list[str]:
        return [self.labels.name(int(i)) for i in self.pred_ids]

    @property
    def gold_ids(self) -> np.ndarray | None:
        return None if self.gold is None else np.asarray(self.labels.ids(self.gold))


def write_probs(
    path: str | Path,
    ids: Sequence[str],
    probs: np.ndarray,
    labels: LabelSet = DEFAULT_LABELS,
    gold: Sequence[str | None] | None = None,
    pred: Sequence[str] | None = None,
) -> None:
    """Write a submission-format probability file atomically.

    `pred` overrides the predicted label (default: argmax of probs), e.g. for hard voting.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(ids), len(labels)):
        raise ValueError(f"probs must have shape ({len(ids)}, {len(labels)}), got {probs.shape}")
    pred_names = list(pred) if pred is not None else [labels.name(int(i)) for i in probs.argmax(axis=1)]
    with_gold = gold is not None and any(g is not None for g in gold)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*PROBS_COLUMNS, *(["label"] if with_gold else [])])
        for i, ex_id in enumerate(ids):
            row = [ex_id, pred_names[i], json.dumps([float(p) for p in probs[i]])]
            if with_gold:
                row.append(gold[i] or "")  # type: ignore[index]
            writer.writerow(row)


def read_probs(path: str | Path, labels: LabelSet = DEFAULT_LABELS) -> ProbsTable:
    """Read and check a probability file (submission format, optional gold `label` column)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise DataError(path, "not a text file (it holds NUL bytes)", hint="pass a probs.csv written by kre or in the submission format")
    try:
        return _read_rows(path, text, labels)
    except csv.Error as exc:
        raise DataError(path, f"not valid CSV ({printable(str(exc), 80)})") from None


def _read_rows(path: Path, text: str, labels: LabelSet) -> ProbsTable:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in PROBS_COLUMNS if c not in columns]
    if missing:
        found = printable(", ".join(columns), 120) or "none"
        raise DataError(path, f"missing column(s) {', '.join(missing)}; found {found}")
    has_gold = "label" in columns
    ids: list[str] = []
    rows: list[list[float]] = []
    gold: list[str] = []
    seen: set[str] = set()
    for n, row in enumerate(reader, start=1):
        ex_id = (row.get("id") or "").strip()
        if not ex_id:
            raise DataError(path, "empty id", row=n, field="id")
        if ex_id in seen:
            raise DataError(path, f"duplicate id {printable(ex_id)}", row=n, field="id")
        seen.add(ex_id)
        try:
            values = json.loads(row.get("probs") or "")
        except json.JSONDecodeError:
            raise DataError(path, "not a list of numbers", row=n, field="probs") from None
        if not isinstance(values, list):
            raise DataError(path, "not a list of numbers", row=n, field="probs")
        if len(values) != len(labels):
            raise DataError(path, f"has {len(values)} probabilities, expected {len(labels)}", row=n, field="probs")
        if has_gold:
            g = (row.get("label") or "").strip()
            if g not in labels:
                raise DataError(path, f"unknown label '{printable(g)}'", row=n, field="label")
            gold.append(g)
        ids.append(ex_id)
        rows.append(values)
    if not ids:
        raise DataError(path, "file has no rows")
    numeric = all(type(v) in (int, float) for values in rows for v in values)  # no bools, strings, nulls
    probs = np.asarray(rows, dtype=np.float64) if numeric else np.zeros((0, len(labels)))
    if not numeric or not (np.isfinite(probs).all() and (probs >= 0).all()):
        for n, values in enumerate(rows, start=1):  # find the first bad row for the message
            if not all(type(v) in (int, float) for v in values):
                raise DataError(path, "not a list of numbers", row=n, field="probs")
            if not all(math.isfinite(v) and v >= 0 for v in values):
                raise DataError(path, "probabilities must be finite and non-negative", row=n, field="probs")
    sums = probs.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if off.size:
        n = int(off[0])
        raise DataError(
            path,
            f"id {printable(ids[n])}: probabilities sum to {sums[n]:.6g}, not 1 (tolerance {SUM_TOLERANCE:g})",
            row=n + 1,
            field="probs",
            hint="each row must be a probability distribution over the labels (softmax output)",
        )
    return ProbsTable(ids, probs, labels, gold if has_gold else None, path)
