"""`kre tapt`: task-adaptive pretraining (masked-LM training on the task's sentences)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..phases.tapt import HELP
from ._common import ConfigOpt, RootOpt, SeedOpt, SlugOpt, cli_errors, load_config, merge_config


@cli_errors
def tapt_cli(
    ctx: typer.Context,
    sources: Annotated[
        list[str],
        typer.Argument(help=HELP["sources"]),
    ],
    model: Annotated[str | None, typer.Option("--model", help=HELP["model"])] = None,
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help=HELP["from_scratch"])
    ] = False,
    extra: Annotated[
        list[Path] | None,
        typer.Option("--extra", help=HELP["extra"], dir_okay=False),
    ] = None,
    include_valid: Annotated[bool, typer.Option("--include-valid", help=HELP["include_valid"])] = False,
    epochs: Annotated[float, typer.Option("--epochs", help=HELP["epochs"])] = 1,
    mlm_probability: Annotated[float, typer.Option("--mlm-probability", help=HELP["mlm_probability"])] = 0.15,
    whole_word: Annotated[
        bool, typer.Option("--whole-word/--token-masking", help=HELP["whole_word"])
    ] = True,
    max_length: Annotated[int, typer.Option("--max-length", help=HELP["max_length"])] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help=HELP["batch_size"])] = 32,
    lr: Annotated[float | None, typer.Option("--lr", help=HELP["lr"])] = None,
    vocab_size: Annotated[int, typer.Option("--vocab-size", help=HELP["vocab_size"])] = 8000,
    layers: Annotated[int, typer.Option("--layers", help=HELP["layers"])] = 4,
    hidden: Annotated[int, typer.Option("--hidden", help=HELP["hidden"])] = 256,
    heads: Annotated[int, typer.Option("--heads", help=HELP["heads"])] = 4,
    fp16: Annotated[bool, typer.Option("--fp16", help=HELP["fp16"])] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help=HELP["bf16"])] = False,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help=HELP["max_steps"])] = None,
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", help=HELP["time_budget"]),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help=HELP["threads"])
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = False,
    trainer: Annotated[
        list[str] | None,
        typer.Option("--trainer", metavar="KEY=VALUE", help=HELP["trainer"]),
    ] = None,
    seed: SeedOpt = 42,
    name: SlugOpt = None,
    root: RootOpt = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Task-adaptive pretraining: masked-LM training on the task's sentences.

    Writes tapt/NNNN-<name>/, a Hugging Face model folder (weights + tokenizer) that `kre train --model tapt/<id>` loads, with tapt_metrics.json (loss curve, held-out MLM loss before and after) and loss_curve.png.

    Under `torchrun --nproc_per_node N -m kre tapt ...` or `accelerate launch -m kre tapt ...` it trains with DDP (only rank 0 writes).

    Example: kre tapt splits/latest --extra test_data.csv --from-scratch
    """
    from ..console import print_table, result
    from ..engine import raw_overrides
    from ..phases.tapt import TaptConfig, tapt

    values = dict(
        sources=sources, model=model, from_scratch=from_scratch, extra=extra or [], include_valid=include_valid,
        epochs=epochs, mlm_probability=mlm_probability, whole_word=whole_word, max_length=max_length,
        batch_size=batch_size, lr=lr, vocab_size=vocab_size, layers=layers, hidden=hidden, heads=heads,
        fp16=fp16, bf16=bf16, max_steps=max_steps, time_budget=time_budget, threads=threads, resume=resume, seed=seed, name=name, root=root,
    )
    options = load_config(config)
    table = options.pop("trainer", None)
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{config}: 'trainer' must be a table of TrainingArguments fields", hint="e.g. a [trainer] table with gradient_checkpointing = true")
    values = merge_config(ctx, options, values)
    artifact = tapt(TaptConfig(**values, trainer=raw_overrides(trainer or [], table)))
    if artifact is None:  # not rank 0 under torchrun
        return
    m = artifact.metrics
    print_table(
        f"TAPT {artifact.id}",
        ["metric", "value"],
        [
            ["texts", m.get("texts")],
            ["steps", m.get("steps")],
            ["final training loss", m.get("final_loss")],
            ["held-out MLM loss before", m.get("heldout_loss_before")],
            ["held-out MLM loss after", m.get("heldout_loss_after")],
            ["duration (s)", artifact.manifest.get("duration_s")],
        ],
    )
    result(f"Wrote {artifact.path}  (use it with: kre train SPLIT --model {artifact.id})")
