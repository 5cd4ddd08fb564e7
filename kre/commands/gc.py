"""`kre gc`: list and remove the staging folders that crashed or stopped commands left under the root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import RootOpt, cli_errors
from ._output import print_wide_table


@cli_errors
def gc_cli(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    keep_resumable: Annotated[
        bool, typer.Option("--keep-resumable", help="Keep stopped training runs' staging folders (for --resume).")
    ] = False,
    root: RootOpt = Path("."),
) -> None:
    """Remove stale `.staging-*` folders (their process is gone); folders of running commands are never touched.

    A stopped `kre train` / `kre tapt` keeps its checkpoints in a staging folder so that the
    same command with `--resume` continues it; gc removes those too unless `--keep-resumable`.
    """
    from ..artifacts import KINDS
    from ..console import result
    from ..fileio import human_size
    from ..staging import clean_staging

    done = clean_staging(root, KINDS, dry_run=dry_run, keep_resumable=keep_resumable)
    if not done:
        result(f"No staging folders under {root}.")
        return
    rows = []
    for d in done:
        e = d.entry
        what = "resumable" if e.resumable else ("one-off" if e.resumable is False else "unknown (no lock file)")
        state = f"in use by process {e.pid}" if e.live else (f"stale (process {e.pid} gone)" if e.pid else "stale")
        rows.append((f"{e.kind}/{e.path.name}", what, state, human_size(d.size), e.started or "-", d.action))
    print_wide_table(f"Staging folders under {root}", ["folder", "type", "state", "size", "started", "action"], rows, left=3)
    gone = [d for d in done if d.action in ("removed", "would remove")]
    freed = human_size(sum(d.size for d in gone))
    if dry_run:
        result(f"Would remove {len(gone)} staging folder(s) ({freed}); run without --dry-run to remove them.")
    else:
        result(f"Removed {len(gone)} staging folder(s) ({freed}).")

