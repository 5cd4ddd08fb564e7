"""`kre train`: fine-tune an encoder on a split and publish `runs/<id>/`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..modeling.choices import ClassWeights, HeadName, LossName
from ..phases.train import HELP
from ..modeling.templates import Marker, TypeWords
from ..training.config import DeviceName, OptimizerName, ReportTo
from ..errors import ConfigError
from ._common import ConfigOpt, LabelsOpt, RootOpt, SlugOpt, cli_errors, load_config, merge_config


@cli_errors
def train_cli(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help=HELP["data"])],
    model: Annotated[str, typer.Option("--model", help=HELP["model"])] = "",
    marker: Annotated[Marker, typer.Option(help=HELP["marker"])] = Marker.typed_marker_punct,
    query: Annotated[bool, typer.Option("--query/--no-query", help=HELP["query"])] = False,
    type_words: Annotated[TypeWords, typer.Option(help=HELP["type_words"])] = TypeWords.ko,
    head: Annotated[HeadName, typer.Option(help=HELP["head"])] = HeadName.entity,
    loss: Annotated[LossName, typer.Option(help=HELP["loss"])] = LossName.label_smoothing,
    smoothing: Annotated[float, typer.Option(help=HELP["smoothing"])] = 0.1,
    gamma: Annotated[float, typer.Option(help=HELP["gamma"])] = 2.0,
    class_weights: Annotated[ClassWeights, typer.Option(help=HELP["class_weights"])] = ClassWeights.none,
    dropout: Annotated[float, typer.Option(help=HELP["dropout"])] = 0.1,
    epochs: Annotated[int, typer.Option(help=HELP["epochs"])] = 3,
    max_steps: Annotated[int, typer.Option(help=HELP["max_steps"])] = 0,
    lr: Annotated[str, typer.Option(metavar="<float|auto:LRFIND>", help=HELP["lr"])] = "5e-05",
    batch_size: Annotated[int, typer.Option(help=HELP["batch_size"])] = 32,
    eval_batch_size: Annotated[int, typer.Option(help=HELP["eval_batch_size"])] = 128,
    warmup_ratio: Annotated[float, typer.Option(help=HELP["warmup_ratio"])] = 0.1,
    weight_decay: Annotated[float, typer.Option(help=HELP["weight_decay"])] = 0.01,
    optimizer: Annotated[OptimizerName, typer.Option(help=HELP["optimizer"])] = OptimizerName.adamw,
    freeze_ratio: Annotated[float, typer.Option(help=HELP["freeze_ratio"])] = 0.0,
    max_length: Annotated[int, typer.Option(help=HELP["max_length"])] = 256,
    fp16: Annotated[bool, typer.Option("--fp16", help=HELP["fp16"])] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help=HELP["bf16"])] = False,
    grad_accum: Annotated[int, typer.Option(help=HELP["grad_accum"])] = 1,
    seed: Annotated[int, typer.Option(help=HELP["seed"])] = 42,
    eval_every: Annotated[int, typer.Option(help=HELP["eval_every"])] = 0,
    early_stopping: Annotated[int, typer.Option(help=HELP["early_stopping"])] = 0,
    restrict_types: Annotated[bool, typer.Option("--restrict-types/--no-restrict-types", help=HELP["restrict_types"])] = False,
    report_to: Annotated[ReportTo, typer.Option(help=HELP["report_to"])] = ReportTo.none,
    folds: Annotated[int, typer.Option(help=HELP["folds"])] = 0,
    fold: Annotated[int | None, typer.Option(help=HELP["fold"])] = None,
    device: Annotated[DeviceName, typer.Option(help=HELP["device"])] = DeviceName.auto,
    trainer: Annotated[
        list[str] | None,
        typer.Option("--trainer", metavar="KEY=VALUE",
                     help=HELP["trainer"]),
    ] = None,
    # -- seed spread, calibration, curriculum, LR finder (kre.training.seeds / calibrate / curriculum / lr_finder)
    seeds: Annotated[str, typer.Option(metavar="1,2,3", help=HELP["seeds"])] = "",
    calibrate: Annotated[bool, typer.Option("--calibrate", help=HELP["calibrate"])] = False,
    curriculum: Annotated[str, typer.Option(metavar="length|confidence:RUN", help=HELP["curriculum"])] = "",
    find_lr: Annotated[bool, typer.Option("--find-lr", help=HELP["find_lr"])] = False,
    test: Annotated[Path | None, typer.Option("--test", help=HELP["test"], dir_okay=False)] = None,
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = False,
    labels: LabelsOpt = None,
    config: ConfigOpt = None,
    name: SlugOpt = None,
    root: RootOpt = Path("."),
) -> None:
    """Fine-tune an encoder on a split (or augmented split) and publish runs/<id>/.

    Writes model/ (best checkpoint by validation micro F1), metrics.json, valid_probs.csv, confusion.png, learning_curve.png, and probs.csv with --test.

    Training runs on transformers.Trainer: `--trainer KEY=VALUE` reaches every TrainingArguments field (kre's own options keep their names). Under `torchrun --nproc_per_node N -m kre train ...` or `accelerate launch -m kre train ...` it trains with DDP (only rank 0 writes).
    """
    from ..console import print_table, result
    from ..phases.train import TrainConfig, TrainJob, train

    from ..engine import parse_overrides

    values = {k: (v.value if isinstance(v, Enum) else v) for k, v in ctx.params.items()}
    file_values = load_config(config)
    table = file_values.pop("trainer", None) or {}
    if not isinstance(table, dict):
        raise ConfigError(f"{config}: 'trainer' must be a table of TrainingArguments fields", hint="[trainer]\noptim = \"adafactor\"")
    values = merge_config(ctx, file_values, values)
    # the [trainer] table first, each --trainer KEY=VALUE on top
    values["trainer"] = {**parse_overrides(table), **parse_overrides(values.get("trainer") or [])}
    run_only = {"data", "test", "resume", "labels", "config", "name", "root", "find_lr"}
    options = {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items() if k not in run_only}
    cfg = TrainConfig.from_dict(options)
    if values.get("find_lr") or cfg.seeds:
        from ..training.seeds import seeds_or_lr_finder_cli

        seeds_or_lr_finder_cli(cfg, values)
        return
    test_path = Path(values["test"]) if values.get("test") else None
    artifact = train(TrainJob(data=values["data"], config=cfg, test=test_path, resume=bool(values["resume"]),
                              labels=values.get("labels"), name=values.get("name"), root=Path(values["root"])))
    if artifact is None:  # not rank 0 under torchrun
        return
    m = artifact.metrics
    print_table(
        f"{artifact.id}",
        ["metric", "value"],
        [["micro F1", m.get("micro_f1", 0.0)], ["AUPRC", m.get("auprc", 0.0)], ["accuracy", m.get("accuracy", 0.0)],
         ["duration (s)", float(artifact.manifest.get("duration_s", 0.0))],
         *_calibration_rows(artifact.path)],
    )
    result(str(artifact.path))


def _calibration_rows(run: Path) -> list[list[object]]:
    """Temperature and NLL / ECE / AUPRC before -> after of a `--calibrate` run (none otherwise)."""
    import json

    from ..training.calibrate import CALIBRATION_FILE, calibration_rows

    path = run / CALIBRATION_FILE
    return calibration_rows(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else []
