"""`kre runs`: a table of training runs, sortable and filterable, or the difference of two runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import RootOpt, cli_errors
from ._output import emit_json, print_wide_table


@cli_errors
def runs_cli(
    sort: Annotated[
        str, typer.Option("--sort", help="Sort key: id, f1, auprc, accuracy, created, lr, batch, epochs, seed, duration, model ... (metrics best first).")
    ] = "id",
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the sort order.")] = False,
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="Keep runs with KEY=VALUE, e.g. head=entity (repeatable).")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Keep runs where KEY OP VALUE holds for any param/metric (=, !=, <, <=, >, >=), e.g. lr<=3e-5 (repeatable)."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Keep runs whose model contains this text.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many runs.")] = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Comma-separated columns to show, e.g. id,data,lr,seed,f1 (any param or metric; 'all' = every standard column). Default: id, data, model, template, seed, valid F1, AUPRC, duration."),
    ] = None,
    group_seeds: Annotated[
        bool, typer.Option("--group-seeds", help="One row per group of runs that differ only by seed: seeds, n, mean ± std of valid F1 and AUPRC.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (nothing else is printed).")] = False,
    diff: Annotated[
        tuple[str, str] | None,
        typer.Option("--diff", help="Show the parameters and metrics that differ between two runs (ids, folders or runs/NNNN).", show_default=False),
    ] = None,
    root: RootOpt = Path("."),
) -> None:
    """List the training runs under the artifact root: parameters, validation scores, duration."""
    from ..fileio import dumps_json
    from ..runs_table import TEXT_COLUMNS, column_header, list_runs, parse_columns, run_row, table_rows

    if diff is not None:
        _show_diff(diff, root, as_json)
        return
    runs = list_runs(root, filters=filters or [], where=where or [], model=model, sort=sort, reverse=reverse)
    if limit is not None:
        runs = runs[:limit]
    if group_seeds:
        _show_seed_groups(runs, root, as_json)
        return
    if as_json:
        emit_json(dumps_json([run_row(r) for r in runs]))
        return
    from ..console import info

    if not runs:
        info(f"No runs under {root.resolve()}" + (" match the filters" if (filters or where or model) else ""))
        return
    keys = parse_columns(columns)
    if columns is None and "manifest" not in keys and any(r.manifest_state() != "ok" for r in runs):
        keys.append("manifest")  # mark edited / unverified / invalid manifests in the default table
    left = {i for i, k in enumerate(keys) if k in TEXT_COLUMNS}
    print_wide_table(
        f"Runs under {root} ({len(runs)})",
        [column_header(k) for k in keys],
        table_rows(runs, keys),
        left=left,
        fit=True,
        protected={i for i, k in enumerate(keys) if k in ("id", "data", "micro_f1", "auprc")},
        whole={i for i, k in enumerate(keys) if k == "data"},
    )
    _warn_untrusted(runs)
    _note_stale_staging(root)


def _show_seed_groups(runs: list[Any], root: Path, as_json: bool) -> None:
    """`--group-seeds`: runs with equal params except the seed (same data and model), mean ± std."""
    from ..fileio import dumps_json
    from ..runs_table import seed_group_rows, seed_groups

    groups = seed_groups(runs)
    if as_json:
        emit_json(dumps_json(groups))
        return
    print_wide_table(
        f"Seed groups under {root} ({len(groups)} groups of {len(runs)} runs)",
        ["runs", "data", "model", "template", "seeds", "n", "valid F1", "AUPRC"],
        seed_group_rows(groups),
        left={0, 1, 2, 3, 4},
        fit=True,
        protected={0, 5, 6, 7},
    )


def _warn_untrusted(runs: list[Any]) -> None:
    """Say below the table which runs have an edited or unreadable manifest."""
    from ..console import warn

    for r in runs:
        state = r.manifest_state()
        if state == "edited":
            warn(f"{r.id}: manifest.json was edited after publication; its values are not trustworthy (`kre show {r.path}`)")
        elif state == "invalid":
            warn(f"{r.id}: {r.problem}")


def _show_diff(pair: tuple[str, str], root: Path, as_json: bool) -> None:
    from ..artifacts import ArtifactStore
    from ..fileio import dumps_json
    from ..runs_table import diff_runs

    store = ArtifactStore(root)
    bare = [("/" not in ref and not Path(ref).exists()) for ref in pair]
    a, b = (store.resolve(ref, kind="runs" if is_bare else None, verify=False) for ref, is_bare in zip(pair, bare))
    rows = diff_runs(a, b)
    if as_json:
        emit_json(dumps_json({"a": a.id, "b": b.id, "differences": rows}))
        return
    from ..console import result

    if not rows:
        result(f"{a.id} and {b.id} have the same parameters and metrics.")
        return
    print_wide_table(
        f"{a.id} vs {b.id}", ["", "key", a.id, b.id], [[r["section"], r["key"], _cell(r["a"]), _cell(r["b"])] for r in rows], left=2
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _note_stale_staging(root: Path) -> None:
    """One line when stopped or crashed commands left staging folders under the root."""
    from ..artifacts import KINDS
    from ..console import info
    from ..staging import find_staging

    stale = [e for e in find_staging(root, KINDS) if not e.live and e.exists]
    if stale:
        info(f"{len(stale)} staging folder(s) of stopped or crashed commands under {root}: `kre gc --root {root}` lists and removes them")
