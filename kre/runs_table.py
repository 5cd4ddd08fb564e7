"""Listing, filtering, sorting and comparing training runs (`kre runs`)."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import Artifact, ArtifactStore
from .errors import ConfigError

#: Table columns: (key, header). Keys are what --sort, --filter and --json use.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("data", "data"),
    ("model", "model"),
    ("marker", "template"),
    ("head", "head"),
    ("loss", "loss"),
    ("lr", "lr"),
    ("batch_size", "batch"),
    ("epochs", "epochs"),
    ("seed", "seed"),
    ("folds", "folds"),
    ("micro_f1", "valid F1"),
    ("auprc", "AUPRC"),
    ("duration_s", "duration"),
    ("manifest", "manifest"),  # ok / edited / unverified / invalid (Artifact.manifest_state)
)
#: The columns `kre runs` shows without --columns: what tells runs apart, and their scores.
DEFAULT_COLUMNS: tuple[str, ...] = ("id", "data", "model", "marker", "seed", "micro_f1", "auprc", "duration_s")
#: Columns of text (left-aligned); the others are numbers.
TEXT_COLUMNS = frozenset({"id", "data", "model", "marker", "head", "loss", "path", "created"})
ALIASES = {
    "f1": "micro_f1",
    "micro-f1": "micro_f1",
    "template": "marker",
    "batch": "batch_size",
    "batch-size": "batch_size",
    "duration": "duration_s",
    "time": "duration_s",
    "acc": "accuracy",
}
#: Keys sorted best-first (descending) by default.
DESCENDING = {"micro_f1", "auprc", "accuracy", "created"}


def canonical(key: str) -> str:
    """A column key from a user spelling (aliases, kebab-case)."""
    key = key.strip()
    return ALIASES.get(key, key.replace("-", "_"))


def lookup(artifact: Artifact, key: str) -> Any:
    """A value of a run by key: id/created/path, then params, metrics, then other manifest fields."""
    key = canonical(key)
    m = artifact.manifest
    if key == "id":
        return artifact.id
    if key == "path":
        return str(artifact.path)
    if key == "manifest":
        return artifact.manifest_state()
    params, metrics = m.get("params", {}), m.get("metrics", {})
    if key in params:
        return params[key]
    if key in metrics:
        return metrics[key]
    if key == "model" and isinstance(params.get("model_name"), str):
        return params["model_name"]
    if key == "data":
        return next((i.get("artifact") or i.get("path") for i in artifact.inputs if i.get("role") == "data"), None)
    return m.get(key)


def run_row(artifact: Artifact) -> dict[str, Any]:
    """A run as a flat record (table columns plus path, created, full params and metrics)."""
    row = {key: lookup(artifact, key) for key, _ in COLUMNS}
    row["accuracy"] = lookup(artifact, "accuracy")
    row["created"] = artifact.manifest.get("created")
    row["path"] = str(artifact.path)
    row["params"] = artifact.params
    row["metrics"] = {k: v for k, v in artifact.metrics.items() if _scalar(v)}
    if artifact.problem is not None:
        row["problem"] = artifact.problem
    return row


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


# -- filters -----------------------------------------------------------------------
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_EXPR = re.compile(r"^\s*([A-Za-z0-9_.:-]+)\s*(>=|<=|!=|==|>|<|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Condition:
    """`key OP value`: numbers compare as numbers, anything else as text."""

    key: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str, *, option: str = "--where", equality_only: bool = False) -> "Condition":
        match = _EXPR.match(text)
        if not match:
            raise ConfigError(f"{option} '{text}': expected KEY=VALUE" + ("" if equality_only else " (or KEY>=VALUE, KEY!=VALUE ...)"))
        key, op, value = match.groups()
        if equality_only and op not in ("=", "=="):
            raise ConfigError(f"{option} '{text}': only KEY=VALUE here; use --where for comparisons")
        return cls(canonical(key), op, value)

    def matches(self, artifact: Artifact) -> bool:
        actual = lookup(artifact, self.key)
        if actual is None:
            return self.op == "!=" and self.value.lower() not in ("none", "null", "")
        left, right = _coerce(actual), _coerce(self.value)
        if isinstance(left, float) and isinstance(right, float):
            if self.op in ("=", "=="):
                return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
            if self.op == "!=":
                return not math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
            return _OPS[self.op](left, right)
        if self.op in ("=", "==", "!="):
            equal = _text(actual) == self.value
            return equal if self.op != "!=" else not equal
        return False  # order comparison of text: never matches


def _coerce(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# -- listing -----------------------------------------------------------------------
def list_runs(
    root: str | Path = ".",
    *,
    filters: Sequence[str] = (),
    where: Sequence[str] = (),
    model: str | None = None,
    sort: str = "id",
    reverse: bool = False,
    kind: str = "runs",
) -> list[Artifact]:
    """Runs under `root` that pass every filter, sorted.

    Args:
        filters: `KEY=VALUE` equality filters (`head=entity`).
        where: `KEY OP VALUE` conditions on any param, metric or manifest field (`lr<=3e-5`).
        model: keep runs whose model contains this text (case-insensitive).
        sort: a column key or alias (id, f1, auprc, created, lr, ...); metrics and created
            sort best / newest first, other keys ascending; `reverse` flips it.
    """
    conditions = [Condition.parse(f, option="--filter", equality_only=True) for f in filters]
    conditions += [Condition.parse(w) for w in where]
    runs = ArtifactStore(root).load_all(kind, verify=False, broken=True)
    if model:
        runs = [r for r in runs if model.lower() in str(lookup(r, "model") or "").lower()]
    runs = [r for r in runs if all(c.matches(r) for c in conditions)]
    return sort_runs(runs, sort, reverse=reverse)


def sort_runs(runs: list[Artifact], key: str, *, reverse: bool = False) -> list[Artifact]:
    """Sort by a key; runs without a value go last."""
    key = canonical(key)
    descending = (key in DESCENDING) != reverse
    present = [r for r in runs if lookup(r, key) is not None]
    missing = [r for r in runs if lookup(r, key) is None]
    if runs and not present and key not in {k for k, _ in COLUMNS} | {"created", "accuracy"}:
        raise ConfigError(f"--sort {key}: no run has this field", hint="sort by " + ", ".join(k for k, _ in COLUMNS))

    def sort_key(r: Artifact) -> tuple[int, Any, str]:
        v = _coerce(lookup(r, key))
        return (0, v, r.id) if isinstance(v, float) else (1, v, r.id)

    present.sort(key=sort_key, reverse=descending)
    return present + missing


def format_value(key: str, value: Any) -> str:
    """A table cell."""
    if value is None:
        return "-"
    if key == "lr" and isinstance(value, (int, float)):
        return f"{value:.0e}" if value < 1e-2 else f"{value:g}"
    if key in ("micro_f1", "auprc", "accuracy") and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "duration_s" and isinstance(value, (int, float)):
        return _duration(float(value))
    if key == "id" and isinstance(value, str) and value.startswith("runs/"):
        return value[len("runs/"):]
    if key in ("data", "model") and isinstance(value, str):
        return _short_artifact_id(value)
    return str(value)


_ARTIFACT_REF = re.compile(r"(?:^|/)(eda|splits|augments|tapt|runs|predictions|ensembles)/(\d{4})-[^/]*/?$")


def _short_artifact_id(value: str) -> str:
    """`augments/0002-entity-swap-aeda` or `kre-demo/tapt/0001-scratch` -> `augments/0002`, `tapt/0001`:
    the number is unique, the slug and the root only make the column wide."""
    match = _ARTIFACT_REF.search(value)
    return f"{match.group(1)}/{match.group(2)}" if match else value


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


# -- diff --------------------------------------------------------------------------
def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = data
    return out


def diff_runs(a: Artifact, b: Artifact) -> list[dict[str, Any]]:
    """Parameters, headline metrics and run info that differ between two artifacts.

    Returns records `{section, key, a, b}`; nested parameters use dotted keys.
    """
    out: list[dict[str, Any]] = []
    sections = (
        ("param", a.params, b.params),
        ("metric", {k: v for k, v in a.metrics.items() if _scalar(v)}, {k: v for k, v in b.metrics.items() if _scalar(v)}),
        ("info", _info(a), _info(b)),
        ("input", _inputs(a), _inputs(b)),
    )
    for section, left, right in sections:
        fa, fb = _flatten(left), _flatten(right)
        for key in sorted(set(fa) | set(fb)):
            va, vb = fa.get(key), fb.get(key)
            if va != vb:
                out.append({"section": section, "key": key, "a": va, "b": vb})
    return out


def _info(artifact: Artifact) -> dict[str, Any]:
    return {k: artifact.manifest.get(k) for k in ("duration_s", "device") if artifact.manifest.get(k) is not None}


def _inputs(artifact: Artifact) -> dict[str, Any]:
    """Inputs by role: artifact id, file hash or reference."""
    out: dict[str, Any] = {}
    for i in artifact.inputs:
        out[str(i.get("role", "input"))] = i.get("artifact") or i.get("ref") or (i.get("sha256") or "")[:12] or i.get("path")
    return out


def parse_columns(text: str | None) -> list[str]:
    """Column keys from `--columns a,b,c` (any param or metric name, aliases allowed; `all` = every
    standard column); the default columns when `text` is None."""
    if text is None:
        return list(DEFAULT_COLUMNS)
    keys = [canonical(k) for k in text.split(",") if k.strip()]
    if keys == ["all"]:
        return [k for k, _ in COLUMNS]
    if not keys:
        raise ConfigError("--columns: give at least one column", hint="e.g. --columns id,data,seed,f1; --columns all")
    return keys


def column_header(key: str) -> str:
    """The table header of a column key (the key itself for params and metrics outside COLUMNS)."""
    return dict(COLUMNS).get(key, key)


def table_rows(runs: list[Artifact], columns: Sequence[str] | None = None) -> list[list[str]]:
    """Formatted table cells for runs, in the order of `columns` (default: DEFAULT_COLUMNS)."""
    keys = list(columns) if columns is not None else list(DEFAULT_COLUMNS)
    return [[format_value(key, lookup(r, key)) for key in keys] for r in runs]


# -- seed groups (`kre runs --group-seeds`) ------------------------------------------
#: Params that may differ between runs of one seed group.
SEED_PARAMS = frozenset({"seed", "seeds"})


def seed_group_key(artifact: Artifact) -> str:
    """What runs of one seed group share: every param but the seed, the data and model inputs."""
    from .fileio import dumps_json

    params = {k: v for k, v in artifact.params.items() if k not in SEED_PARAMS}
    inputs = sorted((str(i.get("role")), str(i.get("artifact") or i.get("sha256") or i.get("ref") or ""))
                    for i in artifact.inputs if i.get("role") in ("data", "model", "labels"))
    return dumps_json({"params": params, "inputs": inputs})


def seed_groups(runs: Sequence[Artifact]) -> list[dict[str, Any]]:
    """Runs that differ only by seed, grouped (first-seen order): ids, seeds, n, mean ± std of F1 and AUPRC."""
    from statistics import mean, stdev

    groups: dict[str, list[Artifact]] = {}
    for r in runs:
        if r.problem is None:
            groups.setdefault(seed_group_key(r), []).append(r)
    out = []
    for members in groups.values():
        row: dict[str, Any] = {
            "runs": [m.id for m in members],
            "seeds": [lookup(m, "seed") for m in members],
            "n": len(members),
            **{k: lookup(members[0], k) for k in ("data", "model", "marker")},
        }
        for metric in ("micro_f1", "auprc"):
            values = [float(v) for m in members if isinstance(v := lookup(m, metric), (int, float))]
            row[f"{metric}_mean"] = mean(values) if values else None
            row[f"{metric}_std"] = stdev(values) if len(values) > 1 else None
        out.append(row)
    return out


def seed_group_rows(groups: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Table cells: runs, data, model, template, seeds, n, F1 mean ± std, AUPRC mean ± std."""

    def spread(group: dict[str, Any], metric: str) -> str:
        m, s = group[f"{metric}_mean"], group[f"{metric}_std"]
        return "-" if m is None else f"{m:.2f}" + (f" ± {s:.2f}" if s is not None else "")

    ids = [format_value("id", g["runs"][0]) + (f" (+{g['n'] - 1})" if g["n"] > 1 else "") for g in groups]
    return [[ids[k], format_value("data", g["data"]), format_value("model", g["model"]), str(g["marker"] or "-"),
             ",".join(str(s) for s in g["seeds"]), str(g["n"]), spread(g, "micro_f1"), spread(g, "auprc")]
            for k, g in enumerate(groups)]
