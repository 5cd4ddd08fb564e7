"""`run_tapt`: collect texts, get a tokenizer + masked LM, train, publish a `tapt/` artifact.

Under `torchrun` / `accelerate launch` every rank trains (Trainer's DDP); only rank 0 creates
the staging folder, trains a `--from-scratch` tokenizer, fills the encodings cache first,
computes the held-out loss, writes and publishes. The other ranks get the staging folder by a
broadcast, load the tokenizer from it, and return None.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import Artifact, ArtifactStore, slugify
from ..console import debug, info, set_verbosity, warn
from ..engine import check_precision, parse_overrides
from ..engine.ranks import Ranks
from ..errors import ConfigError, DataError
from ..fileio import dumps_json, hash_tree, sha256_text, tree_digest, write_json
from .masking import MaskCollator, encode_texts
from .model import BaseModel, build_scratch_model, load_base_model, max_positions, train_tokenizer
from .plot import plot_loss_curve
from .texts import collect_texts, source_summary
from .trainer import CHECKPOINTS, MlmConfig, TrainResult, build_trainer, heldout_loss, last_checkpoint, train_mlm

MIN_TEXTS = 10
METRICS_FILE = "tapt_metrics.json"
CURVE_FILE = "loss_curve.png"
#: where a --from-scratch tokenizer waits in the staging folder (for --resume and the other ranks)
TOKENIZER_DIR = "_tokenizer"
DEFAULT_LR_SCRATCH = 1e-3
DEFAULT_LR_PRETRAINED = 1e-4
#: Training-time budget (minutes) of a --from-scratch run when none is given: one epoch of
#: KLUE-RE train+test texts does not fit a few minutes on a busy 2-core CPU.
DEFAULT_SCRATCH_BUDGET_MIN = 10.0
#: TrainingArguments fields `kre tapt` sets from its own options (see kre.engine.arguments).
TAPT_OPTIONS = {
    "output_dir": "kre's staging folder",
    "learning_rate": "--lr",
    "per_device_train_batch_size": "--batch-size",
    "num_train_epochs": "--epochs",
    "max_steps": "--max-steps",
    "seed": "--seed",
    "fp16": "--fp16",
    "bf16": "--bf16",
    "resume_from_checkpoint": "--resume",
}


def heldout_split(n: int, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): ~2% of the texts, at least min(64, n/5), at most 512."""
    k = min(512, max(min(64, n // 5), n // 50))
    order = np.random.default_rng([seed, 3]).permutation(n)
    held = sorted(order[:k].tolist())
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], held


def _save_quietly(model: Any, tokenizer: Any, folder: Path) -> None:
    """save_pretrained without transformers' own progress bars."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def choose_threads(threads: int | None, device: str) -> int | None:
    """CPU threads for torch: `threads`, or None for torch's default.

    The default does not follow the machine's load, so the same command gives the same
    numbers; on a shared, busy machine `--threads 1` can be several times faster.
    """
    if device != "cpu" or threads is None:
        return None
    if threads < 1:
        raise ConfigError(f"--threads {threads} must be at least 1")
    return threads


def _check_options(*, model: str | None, from_scratch: bool, epochs: float, mlm_probability: float, max_length: int,
                   batch_size: int, lr: float | None, max_steps: int | None,
                   time_budget: float | None) -> None:
    if from_scratch and model:
        raise ConfigError("give either --model or --from-scratch, not both")
    if not from_scratch and not model:
        raise ConfigError("no model given", hint="pass --model NAME_OR_PATH (or tapt/<id>), or --from-scratch for a new small model")
    if not 0 < mlm_probability < 1:
        raise ConfigError(f"--mlm-probability {mlm_probability} must be between 0 and 1", hint="0.15 is the usual value")
    if epochs <= 0:
        raise ConfigError(f"--epochs {epochs} must be positive")
    if max_length < 8:
        raise ConfigError(f"--max-length {max_length} is too small (at least 8)")
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size} must be at least 1")
    if lr is not None and lr <= 0:
        raise ConfigError(f"--lr {lr} must be positive")
    if time_budget is not None and time_budget < 0:
        raise ConfigError(f"--time-budget {time_budget} must not be negative (0 means no limit)")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps {max_steps} must be at least 1")


def run_tapt(
    *,
    sources: Sequence[str | Path],
    root: str | Path = ".",
    model: str | None = None,
    from_scratch: bool = False,
    extra: Iterable[str | Path] = (),
    include_valid: bool = False,
    epochs: float = 1,
    mlm_probability: float = 0.15,
    whole_word: bool = True,
    max_length: int = 128,
    batch_size: int = 32,
    lr: float | None = None,
    vocab_size: int = 8000,
    layers: int = 4,
    hidden: int = 256,
    heads: int = 4,
    fp16: bool = False,
    bf16: bool = False,
    seed: int = 42,
    resume: bool = False,
    name: str | None = None,
    max_steps: int | None = None,
    time_budget: float | None = None,
    threads: int | None = None,
    save_every: int | None = None,
    log_every: int | None = None,
    trainer: Sequence[str] | Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
) -> Artifact | None:
    """Task-adaptive pretraining: masked-LM training on the task's texts; returns the `tapt/` artifact.

    Under torchrun / accelerate launch every rank calls this and trains; rank 0 publishes and
    returns the artifact, the other ranks return None.

    Args:
        sources: splits/augments artifacts (their train.csv; valid.csv too with `include_valid`)
            and/or data files (.csv/.json/.jsonl sentences, .txt one text per line).
        model: hub id, model folder or `tapt/<id>` to continue pretraining; or
        from_scratch: train a WordPiece tokenizer (`vocab_size`) and a new BERT
            (`layers`, `hidden`, `heads`) on the texts.
        extra: more text files (e.g. the test set, external text).
        lr: default 1e-3 from scratch, 1e-4 for a pretrained model.
        max_steps: stop after this many optimizer steps (caps `epochs`).
        time_budget: minutes of training after which the run stops, the learning rate
            decaying by time; default 10 with `from_scratch`, none otherwise; 0 = none.
            A run stopped by time depends on the machine's speed (use `max_steps` to reproduce).
        resume: continue from the checkpoint a stopped run with the same inputs left.
        threads: CPU threads (default: torch's own choice, see `choose_threads`).
        trainer: TrainingArguments overrides (`--trainer KEY=VALUE` strings or a `[trainer]`
            table), recorded in the manifest's params.
        cache_dir: where tokenised texts are cached (default: `<root>/.cache/encodings`, or
            `$KRE_CACHE/encodings` when that is set; the same place `kre train` uses).

    Raises:
        DataError, ArtifactError, ConfigError, TrainingError.
    """
    _check_options(model=model, from_scratch=from_scratch, epochs=epochs, mlm_probability=mlm_probability,
                   max_length=max_length, batch_size=batch_size, lr=lr, max_steps=max_steps,
                   time_budget=time_budget)
    started = time.perf_counter()
    overrides = parse_overrides(trainer or {}, kre_options=TAPT_OPTIONS)
    import torch

    use_cpu = bool(overrides.get("use_cpu", False)) or not torch.cuda.is_available()
    check_precision(fp16=fp16, bf16=bf16, use_cpu=use_cpu)  # before any work
    device = "cpu" if use_cpu else "cuda"
    n_threads = choose_threads(threads, device)
    ranks = Ranks(use_cpu=use_cpu)
    if not ranks.is_main:
        set_verbosity(quiet=True)  # rank 0 reports
    say = warn if ranks.is_main else debug

    store = ArtifactStore(root)
    extra = list(extra)
    collection = collect_texts(sources, store=store, extra=extra, include_valid=include_valid)
    texts = collection.texts
    if len(texts) < MIN_TEXTS:
        raise DataError(
            ", ".join(str(s.path) for s in collection.sources),
            f"only {len(texts)} distinct text(s); TAPT needs at least {MIN_TEXTS}",
        )
    skipped = sum(s.skipped_rows for s in collection.sources)
    if skipped:
        say(f"{skipped} invalid row(s) skipped while reading sentences (`kre eda` lists them)")
    info(f"{len(texts)} distinct texts ({collection.duplicates} duplicates dropped) from {len(collection.sources)} file(s)")

    lr = lr if lr is not None else (DEFAULT_LR_SCRATCH if from_scratch else DEFAULT_LR_PRETRAINED)
    if time_budget is None:
        time_budget = DEFAULT_SCRATCH_BUDGET_MIN if from_scratch else 0.0
    cfg = MlmConfig(epochs=epochs, batch_size=batch_size, lr=lr, mlm_probability=mlm_probability, max_steps=max_steps,
                    seed=seed, fp16=fp16, bf16=bf16, use_cpu=use_cpu, save_every=save_every, log_every=log_every,
                    time_budget=time_budget or None, overrides=overrides)

    base = None
    if not from_scratch:
        base = load_base_model(str(model), store)
        limit = max_positions(base.model, base.tokenizer)
        if max_length > limit:
            say(f"--max-length {max_length} is more than {base.ref} accepts; using {limit}")
            max_length = limit

    params: dict[str, Any] = {
        "model": None if from_scratch else str(model),
        "from_scratch": from_scratch,
        "include_valid": include_valid,
        "epochs": epochs,
        "mlm_probability": mlm_probability,
        "whole_word": whole_word,
        "max_length": max_length,
        "batch_size": batch_size,
        "lr": lr,
        "max_steps": max_steps,
        "time_budget_min": time_budget or None,
        "seed": seed,
        "fp16": fp16,
        "bf16": bf16,
        "trainer": overrides,
    }
    if from_scratch:
        params.update(vocab_size=vocab_size, layers=layers, hidden=hidden, heads=heads)
    base_digest = tree_digest(hash_tree(base.path)) if base is not None and base.path is not None else None
    work_key = sha256_text(dumps_json({"params": params, "texts": sha256_text("\n".join(texts)), "base": base_digest or model}))
    # recorded like kre train's, but not part of the staging key: a run may resume on another number of processes
    params.update(world_size=ranks.world_size,
                  effective_batch_size=batch_size * int(overrides.get("gradient_accumulation_steps", 1)) * ranks.world_size)
    slug = name or ("scratch" if from_scratch else Path(str(model).rstrip("/")).name)
    if cache_dir is None:
        from ..training.data import encodings_cache

        cache_dir = encodings_cache(store.root)
    job = _Job(texts=texts, cfg=cfg, ranks=ranks, from_scratch=from_scratch, base=base, vocab_size=vocab_size,
               layers=layers, hidden=hidden, heads=heads, seed=seed, max_length=max_length, whole_word=whole_word,
               mlm_probability=mlm_probability, cache_dir=Path(cache_dir))

    saved_threads = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
        debug(f"torch threads: {n_threads}")
    try:
        if not ranks.is_main:
            handed = ranks.broadcast(None)
            ckpt = handed["checkpoint"]
            _pretrain(job, Path(handed["staging"]), Path(ckpt) if ckpt else None)
            return None
        with store.create("tapt", slugify(slug), params=params, seed=seed, staging_key=f"tapt-{work_key[:16]}") as b:
            checkpoint = _prepare_staging(b.path, resume)
            ranks.broadcast({"staging": str(b.path), "checkpoint": str(checkpoint) if checkpoint else None})
            for source in collection.sources:
                if source.artifact is not None:
                    if not any(i.get("artifact") == source.artifact.id for i in b.inputs):
                        b.add_input_artifact(source.artifact, "texts")
                else:
                    b.add_input_file(source.path, source.role)
            if base is not None:
                if base.artifact is not None:
                    b.add_input_artifact(base.artifact, "base_model")
                elif base.path is not None:
                    b.inputs.append({"role": "base_model", "path": str(base.path), "tree_sha256": base_digest})
                else:
                    b.add_input_ref(base.ref, "base_model")

            done = _pretrain(job, b.path, checkpoint)
            result = done.result
            if result.stopped_by_time:
                warn(f"the {time_budget:g}-minute time budget stopped training after {result.steps} of "
                     f"{result.total_steps} steps (--time-budget 0 for no limit)")

            shutil.rmtree(b.path / CHECKPOINTS, ignore_errors=True)
            shutil.rmtree(b.path / TOKENIZER_DIR, ignore_errors=True)
            final = done.trainer.accelerator.unwrap_model(done.trainer.model).to("cpu")
            _save_quietly(final, done.tokenizer, b.path)

            final_loss = result.log[-1]["loss"]
            train_data, held_data = done.train_data, done.held_data
            mean_length = float(np.mean(np.asarray(train_data["length"]))) if len(train_data) else 0.0
            metrics = {
                "log": result.log,
                "heldout_loss_before": done.before,
                "heldout_loss_after": done.after,
                "heldout_texts": len(held_data),
                "train_texts": len(train_data),
                "texts": len(texts),
                "texts_read": collection.read,
                "duplicates_dropped": collection.duplicates,
                "sources": source_summary(collection),
                "masking": done.masking,
                "steps": result.steps,
                "total_steps": result.total_steps,
                "resumed_from_step": result.resumed_from,
                "stopped_by_time": result.stopped_by_time,
                "train_seconds": round(result.seconds, 2),
                "texts_per_second": round(result.samples_per_second, 2) if result.samples_per_second else None,
                "tokens_per_second": round(result.samples_per_second * mean_length, 1) if result.samples_per_second else None,
                "parameters": done.parameters,
                "final_loss": final_loss,
                "world_size": ranks.world_size,
            }
            write_json(b.path / METRICS_FILE, metrics)
            plot_loss_curve(b.path / CURVE_FILE, result.log, done.before, done.after)
            b.metrics.update(final_loss=final_loss, heldout_loss_before=done.before, heldout_loss_after=done.after,
                             texts=len(texts), steps=result.steps)
            b.info.update(duration_s=round(time.perf_counter() - started, 2), device=str(done.trainer.args.device),
                          masking=done.masking, parameters=done.parameters, resumed_from_step=result.resumed_from,
                          world_size=ranks.world_size)
            b.info["threads"] = torch.get_num_threads() if device == "cpu" else None
    finally:
        torch.set_num_threads(saved_threads)
    assert b.published is not None
    return b.published



@dataclass
class _Job:
    """What every rank needs to train: the texts, options, and the processes."""

    texts: list[str]
    cfg: MlmConfig
    ranks: Ranks
    from_scratch: bool
    base: BaseModel | None
    vocab_size: int
    layers: int
    hidden: int
    heads: int
    seed: int
    max_length: int
    whole_word: bool
    mlm_probability: float
    cache_dir: Path


@dataclass
class _Pretrained:
    """What `_pretrain` leaves for rank 0 to publish (the held-out losses are NaN on other ranks)."""

    trainer: Any
    tokenizer: Any
    result: TrainResult
    before: float
    after: float
    train_data: Any
    held_data: Any
    masking: str
    parameters: int


def _prepare_staging(staging: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (rank 0); without one, a stale staging folder is emptied."""
    checkpoint = last_checkpoint(staging / CHECKPOINTS) if resume else None
    if resume and checkpoint is None:
        warn("--resume: no checkpoint of this run was found; starting from the beginning")
    if checkpoint is None:
        for child in staging.iterdir():  # a stale staging folder of an earlier, unrelated attempt
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        info(f"Resuming from {checkpoint.name}")
    return checkpoint


def _tokenizer_and_model(job: _Job, staging: Path, checkpoint: Path | None) -> tuple[Any, Any]:
    """The tokenizer and masked LM; `--from-scratch`: rank 0 trains (or, resuming, reloads) the
    tokenizer into the staging folder, the other ranks load it from there after a barrier."""
    if not job.from_scratch:
        assert job.base is not None
        return job.base.tokenizer, job.base.model
    from transformers import AutoTokenizer

    tok_dir = staging / TOKENIZER_DIR
    tokenizer = None
    if job.ranks.is_main:
        if checkpoint is not None and (tok_dir / "tokenizer.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        else:
            info(f"Training a WordPiece tokenizer (vocab {job.vocab_size}) on the texts")
            tokenizer = train_tokenizer(job.texts, vocab_size=job.vocab_size, max_length=job.max_length)
            tokenizer.save_pretrained(tok_dir)
    job.ranks.barrier()
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    return tokenizer, build_scratch_model(tokenizer, layers=job.layers, hidden=job.hidden, heads=job.heads, seed=job.seed)


def _pretrain(job: _Job, staging: Path, checkpoint: Path | None) -> _Pretrained:
    """One rank's part: tokenizer, encodings (rank 0 fills the cache first), Trainer, training;
    the held-out loss before and after on rank 0 only (its weights are the ones DDP trains and
    rank 0 publishes; no collective is involved, so the other ranks just wait in training)."""
    ranks = job.ranks
    tokenizer, mlm = _tokenizer_and_model(job, staging, checkpoint)
    n_params = sum(p.numel() for p in mlm.parameters())

    encoded = ranks.main_first(lambda: encode_texts(tokenizer, job.texts, max_length=job.max_length,
                                                    whole_word=job.whole_word, cache_dir=job.cache_dir))
    if job.whole_word and encoded.scheme == "token" and ranks.is_main:
        warn("this tokenizer shows no word boundaries; masking single tokens instead of whole words")
    debug(f"masking: {encoded.scheme}{' (cached encodings)' if encoded.cached else ''}")
    train_idx, held_idx = heldout_split(len(job.texts), job.seed)
    train_data, held_data = encoded.dataset.select(train_idx), encoded.dataset.select(held_idx)
    vocab = mlm.get_input_embeddings().num_embeddings
    cfg = job.cfg
    collator = MaskCollator(tokenizer, job.mlm_probability, vocab_size=vocab, seed=job.seed)
    held_collator = MaskCollator(tokenizer, job.mlm_probability, vocab_size=vocab, seed=job.seed, fixed=True)

    hf_trainer = build_trainer(mlm, tokenizer, train_data, collator, cfg, staging / CHECKPOINTS,
                               world_size=ranks.world_size)
    before = after = float("nan")
    if ranks.is_main:
        info(f"Held-out MLM loss on {len(held_data)} texts (before)")
        before = heldout_loss(hf_trainer, held_data, held_collator, cfg.eval_batch_size)
    result = train_mlm(hf_trainer, resume_from=checkpoint)
    if ranks.is_main:
        after = heldout_loss(hf_trainer, held_data, held_collator, cfg.eval_batch_size)
    return _Pretrained(trainer=hf_trainer, tokenizer=tokenizer, result=result, before=before, after=after,
                       train_data=train_data, held_data=held_data, masking=encoded.scheme, parameters=n_params)
