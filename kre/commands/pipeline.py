"""`kre run PIPELINE.toml` and `kre demo`: pipelines of phases, rerunning only what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import cli_errors


def _report(results) -> None:  # type: ignore[no-untyped-def]
    from ..console import print_table

    print_table("Pipeline", ["step", "status", "artifact"], [(r.name, r.status, r.artifact or "-") for r in results])


@cli_errors
def run_cli(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file (TOML) with one table per step.", exists=True, dir_okay=False)],
    root: Annotated[Path | None, typer.Option("--root", help="Artifact root (default: the file's `root`, else its folder).", envvar="KRE_ROOT")] = None,
    force: Annotated[list[str] | None, typer.Option("--force", help="Run this step even if unchanged (repeatable; '*' = all).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show which steps would run.")] = False,
) -> None:
    """Run a pipeline file: each step table is a kre phase; unchanged steps are skipped.

    A step is skipped when its phase, options and inputs (file contents, artifact
    manifests) hash to what the lock file recorded and its artifact is intact.
    Refer to an earlier step's artifact as "@<step name>".
    """
    from ..pipeline import load_pipeline, run_pipeline

    results = run_pipeline(load_pipeline(pipeline, root), force=force or (), dry_run=dry_run)
    _report(results)


@cli_errors
def demo_cli(
    root: Annotated[Path, typer.Option("--root", help="Artifact root for the demo.", envvar="KRE_ROOT")] = Path("kre-demo"),
    force: Annotated[bool, typer.Option("--force", help="Rerun every step even if unchanged.")] = False,
) -> None:
    """Run the whole pipeline on the bundled KLUE-RE sample with an offline model.

    eda -> split -> augment -> tapt (from scratch) -> train (two configurations) ->
    predict -> ensemble, on 3,000 bundled rows; no model hub needed.
    """
    from ..console import print_table, result
    from ..demo import best_step, next_steps, run_demo, scored_steps

    results = run_demo(root=root, force=force)
    _report(results)
    scored = scored_steps(root, results)
    if scored:
        print_table(
            "Validation scores (every trained model and the ensemble)",
            ["step", "artifact", "data", "seed", "micro F1", "AUPRC"],
            [(s.step, s.artifact, s.data, s.seed, f"{s.micro_f1:.2f}", f"{s.auprc:.2f}") for s in scored],
        )
        best = best_step(scored)
        if best is not None:
            result(f"Best by validation micro F1: {best.step} ({best.artifact}), micro F1 {best.micro_f1:.2f}, AUPRC {best.auprc:.2f}.")
    result(f"Artifacts are under {root}/. Look at them with:")
    for line in next_steps(root):
        result(f"  {line}")
