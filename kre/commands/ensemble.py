"""`kre ensemble`: combine the probabilities of several runs or predictions."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..phases.ensemble import HELP
from ._common import LabelsOpt, RootOpt, SeedOpt, SlugOpt, cli_errors
from ._output import print_wide_table


class MethodChoice(str, Enum):
    soft = "soft"
    weighted = "weighted"
    hard = "hard"
    rank = "rank"
    stack = "stack"


@cli_errors
def ensemble_cli(
    members: Annotated[
        list[str],
        typer.Argument(
            help=HELP["members"],
            show_default=False,
        ),
    ],
    method: Annotated[
        MethodChoice | None,
        typer.Option("--method", help=HELP["method"]),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help=HELP["weights"]),
    ] = None,
    force_weights: Annotated[
        bool, typer.Option("--force-weights", help=HELP["force_weights"])
    ] = False,
    cv_folds: Annotated[int, typer.Option("--cv-folds", min=2, help=HELP["cv_folds"])] = 5,
    stack_c: Annotated[float, typer.Option("--stack-c", help=HELP["stack_c"])] = 20.0,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help=HELP["calibrate"])
    ] = False,
    use_valid: Annotated[
        bool, typer.Option("--valid/--no-valid", help=HELP["use_valid"])
    ] = True,
    folds: Annotated[
        bool,
        typer.Option("--folds", help=HELP["folds"]),
    ] = False,
    root: RootOpt = Path("."),
    name: SlugOpt = None,
    labels: LabelsOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Combine members' probabilities (soft / weighted / hard / rank voting, or stacking) into ensembles/<NNNN>-<name>/.

    Writes probs.csv (submission format) and weights.json; when every member has
    valid_probs.csv also the ensemble's valid_probs.csv and validation metrics of
    every member and of the ensemble. `--method stack` adds stacker.json (the meta-model)
    and `--calibrate` calibration.json (temperature, NLL / ECE / AUPRC before and after).
    """
    from ..phases.ensemble import EnsembleConfig, ensemble

    artifact = ensemble(EnsembleConfig(
        members=list(members), method=method.value if method is not None else None, weights=weights,
        force_weights=force_weights, cv_folds=cv_folds, stack_c=stack_c, calibrate=calibrate, use_valid=use_valid,
        folds=folds, root=root, name=name, labels=labels, seed=seed,
    ))
    _report(artifact)


def _report(artifact: Any) -> None:
    import json

    from rich.markup import escape

    from ..console import result

    weights = json.loads(artifact.file("weights.json").read_text(encoding="utf-8"))
    metrics = json.loads(artifact.file("metrics.json").read_text(encoding="utf-8")) if artifact.has("metrics.json") else None
    rows = []
    for m in weights["members"]:
        s = (metrics or {}).get("members", {}).get(m["name"], {})
        rows.append([escape(m["name"]), f"{m['weight']:.3f}", *(_num(s.get(k)) for k in ("micro_f1", "auprc", "accuracy"))])
    if metrics is not None:
        e = metrics["ensemble"]
        label = "ensemble" + (" (in-sample weights)" if weights.get("cv") else "") + (" (calibrated)" if "calibration" in metrics else "")
        rows.append([f"[bold]{label}[/bold]", weights["method"], *(_num(e[k]) for k in ("micro_f1", "auprc", "accuracy"))])
        if "cv" in metrics:
            for key, text in (("fitted", "ensemble, fitted weights (CV)"), ("equal", "ensemble, equal weights (CV)")):
                cvm = metrics["cv"][key]
                rows.append([text, "", _num(cvm["micro_f1"]), _num(cvm["auprc"]), ""])
        if "stack" in metrics:
            st = metrics["stack"]
            for key, text in (("stack_out_of_fold", f"stack, out-of-fold ({st['cv_folds']}-fold CV)"),
                              ("soft", "soft voting, same rows"), ("stack_in_sample", "stack, in-sample (optimistic)")):
                rows.append([text, "", *(_num(st[key][k]) for k in ("micro_f1", "auprc", "accuracy"))])
    title = f"{artifact.id}: {weights['method']} voting, weights {weights['weights_source']}"
    if weights["method"] == "stack":
        title = f"{artifact.id}: stacking (meta-model in stacker.json; member weights unused)"
    print_wide_table(title, ["member", "weight", "valid micro F1", "AUPRC", "accuracy"], rows)
    if metrics is not None and "calibration" in metrics:
        cal = metrics["calibration"]
        after_cv = cal.get("after_cv") or {}
        cal_rows = [
            [name, *(_num(v, 4 if key == "nll" else 2) for v in (cal["before"][key], cal["after"][key], after_cv.get(key)))]
            for key, name in (("nll", "NLL"), ("ece", f"ECE ({cal['ece_bins']} bins, x100)"), ("auprc", "AUPRC"))
        ]
        print_wide_table(
            f"Temperature scaling: T = {cal['temperature']:.3f} (fitted on validation rows)",
            ["measure", "before", "after (in-sample)", f"after ({cal['cv_folds']}-fold CV)"], cal_rows,
        )
    if metrics is None:
        result("No validation metrics: not every member has valid_probs.csv.")
    result(str(artifact.path))


def _num(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"
