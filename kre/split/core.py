"""`make_split`: a fixed, reproducible, stratified and sentence-group-aware train/valid split."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..artifacts import Artifact, ArtifactStore, slugify
from ..console import info, plural
from ..data import Example, read_dataset, write_csv
from ..errors import ConfigError, DataError, KreError
from ..data.hub import data_sha256
from ..fileio import write_json
from ..labels import DEFAULT_LABELS, LabelSet
from .assign import assign_groups, build_groups
from .dedupe import CONFLICT_POLICIES, DedupeResult, find_duplicates
from .report import class_counts, leaked_sentences, n_groups, plot_class_counts

REPORT = "report.json"
PLOT = "class_counts.png"


def make_split(
    *,
    path: str | Path,
    root: str | Path = ".",
    valid_size: float = 0.1,
    seed: int = 42,
    folds: int = 0,
    dedupe: bool = False,
    conflicts: str = "keep-first",
    labels: str | Path | LabelSet | None = None,
    name: str | None = None,
    like: str | Path | None = None,
) -> Artifact:
    """Split labeled data into train/valid (and optionally K folds) and publish a `splits/` artifact.

    Rows sharing a sentence always land on the same side (and in the same fold), classes
    are stratified, and the same input and seed give byte-identical files.

    Args:
        path: labeled data (competition CSV, KLUE-RE JSON or JSONL); read strictly.
        root: artifact root; the result goes to `<root>/splits/<NNNN>-<slug>/`.
        valid_size: share of rows for validation, in (0, 1).
        seed: orders equally rare sentence groups; another seed gives another split.
        folds: when >= 2, also write `folds.csv` (id,fold) over all kept rows.
        dedupe: drop exact duplicate rows and resolve conflicting-label duplicates.
        conflicts: "keep-first" (keep the first row of a conflicting group) or "drop-all".
        labels: a label map JSON (or LabelSet); default: the 30 KLUE-RE labels.
        name: slug of the artifact folder.
        like: a test data file (labels not needed): validation takes the training sentences that look most
            like it (adversarial validation), still grouped by sentence and stratified by label; report.json's
            `like` section says how close valid is to it, next to the plain split of the same seed.

    Raises:
        ConfigError: bad option values, or too few sentences to split.
        DataError: invalid input rows (file, row and field in the message).
    """
    _check_options(valid_size, folds, conflicts)
    label_set = labels if isinstance(labels, LabelSet) else (LabelSet.load(labels) if labels else DEFAULT_LABELS)
    path = Path(path)
    info(f"Reading {path}")
    examples = read_dataset(path, labels=label_set, strict=True, require_labels=True).examples
    test_rows = None
    if like is not None:
        info(f"Reading {like}")
        test_rows = read_dataset(like, labels=label_set, strict=True).examples

    found = find_duplicates(examples, drop=dedupe, conflicts=conflicts)
    rows = [examples[i] for i in found.keep]
    groups = build_groups([e.sentence for e in rows], [str(e.label) for e in rows])
    if len(groups) < 2:
        raise DataError(path, f"only {len(groups)} distinct sentence(s): cannot make a split", hint="give more data")
    if folds > len(groups):
        raise ConfigError(f"--folds {folds} is more than the {len(groups)} distinct sentences in {path}")

    info(f"Splitting {plural(len(rows), 'row')} ({plural(len(groups), 'sentence')}) into train/valid" + (f" and {folds} folds" if folds else ""))
    like_report = None
    if test_rows is not None:
        from .like import test_like_sides

        group_sides, like_report = test_like_sides(rows, groups, test_rows, valid_size, seed)
    else:
        group_sides = assign_groups(groups, (1.0 - valid_size, valid_size), seed)
    side = _row_bins(groups, group_sides, len(rows))
    train = [e for e, s in zip(rows, side) if s == 0]
    valid = [e for e, s in zip(rows, side) if s == 1]
    fold_of = _row_bins(groups, assign_groups(groups, (1.0 / folds,) * folds, seed), len(rows)) if folds else []

    present = {e.label for e in rows}
    order = [n for n in label_set.names if n in present]
    report = _report(path, rows, train, valid, fold_of, order, found, dedupe, conflicts, valid_size, seed, folds, len(examples))
    if like_report is not None:
        report["like"] = {"file": str(like), **like_report}
    if report["leak_check"]["leaked_sentences"] or report["leak_check"].get("folds_leaked_sentences"):
        raise KreError("internal error: a sentence landed on both sides of the split", hint="please report this bug")

    params: dict[str, Any] = {
        "seed": seed,
        "valid_size": valid_size,
        "folds": folds,
        "dedupe": dedupe,
        "conflicts": conflicts,
        "labels": str(labels) if labels is not None and not isinstance(labels, LabelSet) else None,
    }
    if like is not None:  # absent otherwise: a plain split's params (and fingerprint) stay as they were
        params["like"] = str(like)
    slug = name or (f"{path.stem}-v{valid_size:g}-s{seed}" + (f"-k{folds}" if folds else "") + ("-dedupe" if dedupe else "")
                    + ("-like" if like is not None else ""))
    extra_columns = _extra_columns(rows)
    store = ArtifactStore(root)
    with store.create("splits", slugify(slug), params=params, seed=seed) as b:
        b.add_input_file(path, "data")
        if like is not None:
            b.add_input_file(like, "like")
        if labels is not None and not isinstance(labels, LabelSet):
            b.add_input_file(labels, "labels")
        write_csv(b.path / "train.csv", train, extra_columns)
        write_csv(b.path / "valid.csv", valid, extra_columns)
        if folds:
            _write_folds(b.path / "folds.csv", rows, fold_of)
        write_json(b.path / REPORT, report)
        plot_class_counts(
            b.path / PLOT,
            {"train": report["class_counts"]["train"], "valid": report["class_counts"]["valid"]},
            f"{path.name}: {len(train)} train / {len(valid)} valid rows (seed {seed})",
        )
        b.metrics.update(
            {
                "rows": len(rows),
                "train_rows": len(train),
                "valid_rows": len(valid),
                "valid_fraction": report["sizes"]["valid_fraction"],
                "dropped": len(found.dropped),
                "conflicts": len(found.conflicts),
                "exact_duplicates": found.exact_duplicate_rows,
                "classes": len(order),
                "valid_classes": report["coverage"]["valid_classes"],
                "leaked_sentences": report["leak_check"]["leaked_sentences"],
            }
        )
        if like_report is not None:
            b.metrics.update({
                "train_vs_test_auc": like_report["train_vs_test"]["auc"],
                "valid_vs_test_auc": like_report["test_like"]["auc_vs_test"],
                "plain_valid_vs_test_auc": like_report["plain"]["auc_vs_test"],
                "valid_source_tvd": like_report["test_like"]["source_tvd"],
                "plain_valid_source_tvd": like_report["plain"]["source_tvd"],
            })
    assert b.published is not None
    return b.published


def _check_options(valid_size: float, folds: int, conflicts: str) -> None:
    if not 0.0 < valid_size < 1.0:
        raise ConfigError(f"--valid-size must be between 0 and 1 (exclusive), got {valid_size}")
    if folds < 0 or folds == 1:
        raise ConfigError(f"--folds must be 0 (no folds) or at least 2, got {folds}")
    if conflicts not in CONFLICT_POLICIES:
        raise ConfigError(f"--conflicts must be one of {', '.join(CONFLICT_POLICIES)}, got {conflicts!r}")


def _row_bins(groups: Sequence[Any], group_bins: Sequence[int], n_rows: int) -> list[int]:
    out = [-1] * n_rows
    for group, b in zip(groups, group_bins):
        for i in group.rows:
            out[i] = b
    return out


def _extra_columns(rows: Sequence[Example]) -> list[str]:
    seen: dict[str, None] = {}
    for ex in rows:
        for key in ex.extra:
            seen.setdefault(key, None)
    return list(seen)


def _write_folds(path: Path, rows: Sequence[Example], fold_of: Sequence[int]) -> None:
    import csv

    from ..fileio import atomic_open

    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "fold"])
        for ex, fold in zip(rows, fold_of):
            writer.writerow([ex.id, fold])


def _report(
    path: Path,
    rows: list[Example],
    train: list[Example],
    valid: list[Example],
    fold_of: list[int],
    order: list[str],
    found: DedupeResult,
    dedupe: bool,
    conflicts: str,
    valid_size: float,
    seed: int,
    folds: int,
    rows_read: int,
) -> dict[str, Any]:
    label_groups: dict[str, set[str]] = {}
    for e in rows:
        label_groups.setdefault(str(e.label), set()).add(" ".join(e.sentence.split()))
    counts = {"train": class_counts(train, order), "valid": class_counts(valid, order)}

    def missing(side: dict[str, int]) -> list[dict[str, Any]]:
        return [{"label": c, "sentences": len(label_groups[c])} for c in order if side[c] == 0]

    report: dict[str, Any] = {
        "input": {"file": path.name, "sha256": data_sha256(path), "rows": rows_read},
        "params": {"seed": seed, "valid_size": valid_size, "folds": folds, "dedupe": dedupe, "conflicts": conflicts},
        "dedupe": {
            "enabled": dedupe,
            "policy": conflicts,
            "exact_duplicate_rows": found.exact_duplicate_rows,
            "duplicate_groups": found.duplicate_groups,
            "conflicts": found.conflicts,
            "dropped": found.dropped,
            "dropped_by_reason": _by_reason(found.dropped),
        },
        "sizes": {
            "rows": len(rows),
            "train": len(train),
            "valid": len(valid),
            "valid_fraction": round(len(valid) / len(rows), 6),
            "sentences": {"train": n_groups(train), "valid": n_groups(valid)},
        },
        "class_counts": counts,
        "coverage": {
            "classes": len(order),
            "valid_classes": sum(1 for c in order if counts["valid"][c] > 0),
            "train_classes": sum(1 for c in order if counts["train"][c] > 0),
            "missing_in_valid": missing(counts["valid"]),
            "missing_in_train": missing(counts["train"]),
            "note": "a class with a single sentence can only be on one side (train is preferred)",
        },
        "leak_check": {"leaked_sentences": leaked_sentences([train, valid])},
    }
    if folds:
        parts = [[e for e, f in zip(rows, fold_of) if f == k] for k in range(folds)]
        fold_counts = {str(k): class_counts(p, order) for k, p in enumerate(parts)}
        report["folds"] = {
            "k": folds,
            "sizes": [len(p) for p in parts],
            "sentences": [n_groups(p) for p in parts],
            "class_counts": fold_counts,
            "missing": {k: missing(v) for k, v in fold_counts.items() if missing(v)},
        }
        report["leak_check"]["folds_leaked_sentences"] = leaked_sentences(parts)
    return report


def _by_reason(dropped: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dropped:
        out[d["reason"]] = out.get(d["reason"], 0) + 1
    return dict(sorted(out.items()))


def load_report(artifact: Artifact) -> dict[str, Any]:
    """The report.json of a splits artifact."""
    return json.loads(artifact.file(REPORT).read_text(encoding="utf-8"))
