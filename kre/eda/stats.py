"""EDA statistics: per-file profiles, duplicates and conflicts, overlap and shift between files.

`compute_stats` returns an `EdaStats`: `data` is the JSON-able dict written as
`stats.json`; `arrays` keeps the per-row numbers (lengths, offsets) the plots need.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Dataset, Example
from ..labels import LabelSet

#: Percentiles reported for every length / position distribution.
PERCENTILES = (50, 90, 95, 99)
#: Token limits for which rows that exceed them are counted.
TOKEN_LIMITS = (128, 256)
#: At most this many problems / examples are listed in stats.json (totals are always exact).
MAX_LISTED = 1000
MAX_EXAMPLES = 50


@dataclass
class TokenLengths:
    """Token counts of each row's sentence (with special tokens) and the token index of its later entity end."""

    model: str
    lengths: list[int]
    entity_end_tokens: list[int]


@dataclass
class FileArrays:
    """Per-row numbers of one file, for plots."""

    char_len: np.ndarray
    subj_start: np.ndarray
    obj_start: np.ndarray
    distance: np.ndarray
    tok_len: np.ndarray | None = None


@dataclass
class EdaStats:
    """The statistics (`data`, JSON-able) and the per-row arrays behind the plots."""

    data: dict[str, Any]
    arrays: list[FileArrays] = field(default_factory=list)


def summarize(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """Count, mean, min, max and percentiles of a list of numbers (None values when empty)."""
    arr = np.asarray(values, dtype=float)
    out: dict[str, float | int | None] = {"count": int(arr.size)}
    if arr.size == 0:
        out.update({"mean": None, "min": None, "max": None, **{f"p{p}": None for p in PERCENTILES}})
        return out
    out["mean"] = round(float(arr.mean()), 3)
    out["min"] = _num(arr.min())
    out["max"] = _num(arr.max())
    for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES)):
        out[f"p{p}"] = _num(v)
    return out


def _num(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else round(v, 3)


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    x = np.sort(np.asarray(a, dtype=float))
    y = np.sort(np.asarray(b, dtype=float))
    if x.size == 0 or y.size == 0:
        return None
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / x.size
    cdf_y = np.searchsorted(y, grid, side="right") / y.size
    return round(float(np.max(np.abs(cdf_x - cdf_y))), 4)


def shares(counts: Counter | dict[str, int]) -> dict[str, float]:
    """Counts turned into shares of their total."""
    total = sum(counts.values())
    return {k: (round(v / total, 4) if total else 0.0) for k, v in sorted(counts.items())}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance between two share dicts (0 = same, 1 = disjoint)."""
    keys = set(p) | set(q)
    return round(0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys), 4)


def type_pair(ex: Example) -> str:
    return f"{ex.subject.type}-{ex.object.type}"


def entity_gap(ex: Example) -> int:
    """Characters between the two entity spans (0 when they touch or overlap)."""
    s, o = ex.subject, ex.object
    first, second = (s, o) if s.start <= o.start else (o, s)
    return max(second.start - first.end - 1, 0)


def _label_mismatch(ex: Example) -> bool:
    """A per:* label on an ORG subject or an org:* label on a PER subject."""
    if ex.label is None:
        return False
    return (ex.label.startswith("org:") and ex.subject.type == "PER") or (
        ex.label.startswith("per:") and ex.subject.type == "ORG"
    )


def _example_ref(ex: Example) -> dict[str, Any]:
    return {
        "id": ex.id,
        "sentence": ex.sentence,
        "subject": ex.subject.word,
        "object": ex.object.word,
        "label": ex.label,
    }


def file_stats(ds: Dataset, labels: LabelSet, tokens: TokenLengths | None = None) -> tuple[dict[str, Any], FileArrays]:
    """Statistics of one data file."""
    examples = ds.examples
    n = len(examples)
    labeled = [e for e in examples if e.label is not None]

    char_len = np.fromiter((len(e.sentence) for e in examples), dtype=float, count=n)
    subj_start = np.fromiter((e.subject.start for e in examples), dtype=float, count=n)
    obj_start = np.fromiter((e.object.start for e in examples), dtype=float, count=n)
    distance = np.fromiter((entity_gap(e) for e in examples), dtype=float, count=n)

    # Exact duplicates: same sentence, entities and label.
    row_keys = Counter((e.sentence, e.subject, e.object, e.label) for e in examples)
    dup_groups = [(k, c) for k, c in row_keys.items() if c > 1]
    dup_ids: dict[tuple, list[str]] = defaultdict(list)
    for e in examples:
        key = (e.sentence, e.subject, e.object, e.label)
        if row_keys[key] > 1:
            dup_ids[key].append(e.id)

    # Identical inputs (sentence + subject + object) with more than one label.
    by_input: dict[tuple, list[Example]] = defaultdict(list)
    for e in labeled:
        by_input[e.input_key()].append(e)
    conflicts = [group for group in by_input.values() if len({e.label for e in group}) > 1]

    # The same sentence with several distinct entity pairs.
    pairs_per_sentence: dict[str, set] = defaultdict(set)
    rows_per_sentence: Counter = Counter()
    for e in examples:
        pairs_per_sentence[e.sentence].add((e.subject, e.object))
        rows_per_sentence[e.sentence] += 1
    group_sizes = Counter(len(p) for p in pairs_per_sentence.values())
    multi = {s for s, p in pairs_per_sentence.items() if len(p) > 1}

    by_field = Counter(p.field or "(row)" for p in ds.problems)
    label_counter = Counter(e.label for e in labeled)
    stats: dict[str, Any] = {
        "path": str(ds.path),
        "name": ds.path.name,
        "format": ds.format,
        "rows_read": ds.rows_read,
        "rows": n,
        "labeled_rows": len(labeled),
        "unlabeled_rows": n - len(labeled),
        "labeled": bool(n) and len(labeled) == n,
        "problems": len(ds.problems),
        "problems_by_field": dict(sorted(by_field.items())),
        "problem_list": [
            {"row": p.row, "field": p.field, "message": p.message, "id": p.id} for p in ds.problems[:MAX_LISTED]
        ],
        "warnings": len(ds.warnings),
        "warning_list": [
            {"row": p.row, "field": p.field, "message": p.message, "id": p.id} for p in ds.warnings[:MAX_LISTED]
        ],
        "label_counts": {name: label_counter[name] for name in labels.names if label_counter[name]},
        "labels_missing": [name for name in labels.names if labeled and not label_counter[name]],
        "label_type_mismatch": sum(1 for e in labeled if _label_mismatch(e)),
        "source_counts": dict(sorted(Counter(e.source or "(none)" for e in examples).items())),
        "type_pair_counts": dict(sorted(Counter(type_pair(e) for e in examples).items())),
        "type_pair_label_counts": _type_pair_label_counts(labeled),
        "char_length": summarize(char_len),
        "entity_positions": {
            "subject_start": summarize(subj_start),
            "object_start": summarize(obj_start),
            "distance": summarize(distance),
            "subject_first": sum(1 for e in examples if e.subject.start < e.object.start),
            "overlapping": sum(
                1 for e in examples if e.subject.start <= e.object.end and e.object.start <= e.subject.end
            ),
        },
        "unique_sentences": len(pairs_per_sentence),
        "duplicates": {
            "rows": sum(c - 1 for _, c in dup_groups),
            "groups": len(dup_groups),
            "examples": [
                {"ids": dup_ids[k], "sentence": k[0], "subject": k[1].word, "object": k[2].word, "label": k[3]}
                for k, _ in dup_groups[:MAX_EXAMPLES]
            ],
        },
        "conflicts": {
            "groups": len(conflicts),
            "rows": sum(len(g) for g in conflicts),
            "examples": [
                {
                    "ids": [e.id for e in g],
                    "labels": [e.label for e in g],
                    "sentence": g[0].sentence,
                    "subject": g[0].subject.word,
                    "object": g[0].object.word,
                }
                for g in conflicts[:MAX_EXAMPLES]
            ],
        },
        "multi_pair": {
            "sentences": len(multi),
            "rows": sum(rows_per_sentence[s] for s in multi),
            "group_sizes": {str(k): v for k, v in sorted(group_sizes.items())},
            "max_pairs": max(group_sizes, default=0),
        },
    }
    arrays = FileArrays(char_len, subj_start, obj_start, distance)
    if tokens is not None:
        tok_len = np.asarray(tokens.lengths, dtype=float)
        ends = np.asarray(tokens.entity_end_tokens, dtype=float)
        arrays.tok_len = tok_len
        stats["token_length"] = {
            "model": tokens.model,
            **summarize(tok_len),
            **{f"over_{limit}": int((tok_len > limit).sum()) for limit in TOKEN_LIMITS},
            # With truncation at `limit` tokens ([CLS] ... [SEP]), the later entity is cut off.
            **{f"entity_cut_at_{limit}": int((ends > limit - 2).sum()) for limit in TOKEN_LIMITS},
        }
    return stats, arrays


def _type_pair_label_counts(labeled: list[Example]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = defaultdict(Counter)
    for e in labeled:
        table[type_pair(e)][e.label or ""] += 1
    return {pair: dict(sorted(c.items())) for pair, c in sorted(table.items())}


def compare(ref: Dataset, other: Dataset, ref_stats: dict[str, Any], other_stats: dict[str, Any],
            ref_arrays: FileArrays, other_arrays: FileArrays) -> dict[str, Any]:
    """Overlap of `other` with `ref` and the distribution shift between them."""
    ref_sentences = {e.sentence for e in ref.examples}
    ref_inputs = {e.input_key() for e in ref.examples}
    other_sentences = {e.sentence for e in other.examples}
    shared = other_sentences & ref_sentences
    n = len(other.examples)
    rows_shared = sum(1 for e in other.examples if e.sentence in ref_sentences)
    inputs_shared = sum(1 for e in other.examples if e.input_key() in ref_inputs)
    ref_src, other_src = shares(ref_stats["source_counts"]), shares(other_stats["source_counts"])
    ref_tp, other_tp = shares(ref_stats["type_pair_counts"]), shares(other_stats["type_pair_counts"])
    out: dict[str, Any] = {
        "reference": ref_stats["name"],
        "other": other_stats["name"],
        "reference_path": ref_stats["path"],
        "other_path": other_stats["path"],
        "overlap": {
            "sentences": len(shared),
            "sentence_share": round(len(shared) / len(other_sentences), 4) if other_sentences else 0.0,
            "rows": rows_shared,
            "row_share": round(rows_shared / n, 4) if n else 0.0,
            "identical_inputs": inputs_shared,
        },
        "shift": {
            "source_shares": {k: [ref_src.get(k, 0.0), other_src.get(k, 0.0)] for k in sorted(set(ref_src) | set(other_src))},
            "source_tvd": total_variation(ref_src, other_src),
            "type_pair_shares": {k: [ref_tp.get(k, 0.0), other_tp.get(k, 0.0)] for k in sorted(set(ref_tp) | set(other_tp))},
            "type_pair_tvd": total_variation(ref_tp, other_tp),
            "char_length": _length_shift(ref_arrays.char_len, other_arrays.char_len),
        },
    }
    if ref_arrays.tok_len is not None and other_arrays.tok_len is not None:
        out["shift"]["token_length"] = _length_shift(ref_arrays.tok_len, other_arrays.tok_len)
    return out


def _length_shift(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    sa, sb = summarize(a), summarize(b)
    keys = ("mean", *(f"p{p}" for p in PERCENTILES), "max")
    return {"ks": ks_statistic(a, b), **{k: [sa[k], sb[k]] for k in keys}}


def reference_index(datasets: Sequence[Dataset]) -> int:
    """The file other files are compared with: the first labeled one, else the first."""
    for i, ds in enumerate(datasets):
        if ds.is_labeled:
            return i
    return 0


def compute_stats(
    datasets: Sequence[Dataset],
    labels: LabelSet,
    tokens: Sequence[TokenLengths] | None = None,
) -> EdaStats:
    """Statistics of every file, plus overlap/shift of each other file against the reference file."""
    files, arrays = [], []
    for i, ds in enumerate(datasets):
        st, arr = file_stats(ds, labels, tokens[i] if tokens else None)
        files.append(st)
        arrays.append(arr)
    comparisons = []
    if len(datasets) > 1:
        r = reference_index(datasets)
        for i, ds in enumerate(datasets):
            if i != r:
                comp = compare(datasets[r], ds, files[r], files[i], arrays[r], arrays[i])
                comparisons.append({"reference_file": r, "other_file": i, **comp})
    totals = {
        "files": len(files),
        "rows": sum(f["rows"] for f in files),
        "problems": sum(f["problems"] for f in files),
        "duplicates": sum(f["duplicates"]["rows"] for f in files),
        "conflicts": sum(f["conflicts"]["groups"] for f in files),
        "multi_pair_sentences": sum(f["multi_pair"]["sentences"] for f in files),
    }
    if comparisons:
        totals["overlap_sentences"] = sum(c["overlap"]["sentences"] for c in comparisons)
    data = {
        "labels": list(labels.names),
        "model": tokens[0].model if tokens else None,
        "files": files,
        "comparisons": comparisons,
        "totals": totals,
    }
    return EdaStats(data, arrays)
