"""`kre tapt`: task-adaptive pretraining (masked-LM training on the task's sentences)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._common import ConfigOpt, RootOpt, SeedOpt, SlugOpt, cli_errors, load_config, merge_config


@cli_errors
def tapt_cli(
    ctx: typer.Context,
    sources: Annotated[
        list[str],
        typer.Argument(help="A splits/ (or augments/) artifact (its train.csv is read), or data files: .csv/.json/.jsonl, .txt one text per line."),
    ],
    model: Annotated[str | None, typer.Option("--model", help="Model to continue pretraining: hub id, folder or tapt/<id>.")] = None,
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="Train a new WordPiece tokenizer and a small BERT from random weights (works offline).")
    ] = False,
    extra: Annotated[
        list[Path] | None,
        typer.Option("--extra", help="More text: test files, external text (.csv/.json/.jsonl/.txt, hub:NAME[:CONFIG[:SPLIT]]). Repeatable.", dir_okay=False),
    ] = None,
    include_valid: Annotated[bool, typer.Option("--include-valid", help="Also read the split's valid.csv sentences (no labels are used).")] = False,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the texts.")] = 1,
    mlm_probability: Annotated[float, typer.Option("--mlm-probability", help="Share of tokens to mask and predict.")] = 0.15,
    whole_word: Annotated[
        bool, typer.Option("--whole-word/--token-masking", help="Mask every piece of a chosen word together (when the tokenizer shows words).")
    ] = True,
    max_length: Annotated[int, typer.Option("--max-length", help="Truncate texts to this many tokens.")] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per optimizer step.")] = 32,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: 1e-3 from scratch, 1e-4 otherwise).")] = None,
    vocab_size: Annotated[int, typer.Option("--vocab-size", help="Tokenizer vocabulary (--from-scratch).")] = 8000,
    layers: Annotated[int, typer.Option("--layers", help="Encoder layers (--from-scratch).")] = 4,
    hidden: Annotated[int, typer.Option("--hidden", help="Hidden size (--from-scratch); the feed-forward size is 4x.")] = 256,
    heads: Annotated[int, typer.Option("--heads", help="Attention heads (--from-scratch).")] = 4,
    fp16: Annotated[bool, typer.Option("--fp16", help="float16 autocast (CUDA only).")] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast (CUDA or CPU).")] = False,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimizer steps (a time budget).")] = None,
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", help="Minutes of training, then stop (the learning rate decays by time); default 10 with --from-scratch, else none; 0 = no limit."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: torch's; 1 can be faster on a busy shared machine).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a stopped run of the same command from its last checkpoint.")] = False,
    trainer: Annotated[
        list[str] | None,
        typer.Option("--trainer", metavar="KEY=VALUE", help="Set any transformers TrainingArguments field, e.g. gradient_checkpointing=true, optim=adafactor, dataloader_num_workers=2. Repeatable; also a [trainer] table in --config."),
    ] = None,
    seed: SeedOpt = 42,
    name: SlugOpt = None,
    root: RootOpt = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Task-adaptive pretraining: masked-LM training on the task's sentences.

    Writes tapt/NNNN-<name>/, a Hugging Face model folder (weights + tokenizer) that `kre train --model tapt/<id>` loads, with tapt_metrics.json (loss curve, held-out MLM loss before and after) and loss_curve.png.

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
