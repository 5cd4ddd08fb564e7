"""`kre train` as a library call: data artifact + model -> a published `runs/<id>/` artifact.

`train` handles the single-split and k-fold cases, resumable staging, DDP under torchrun /
accelerate launch (Trainer's; only rank 0 writes) and all run outputs (model folders,
metrics.json, valid_probs.csv, probs.csv, plots, manifest). Each model is trained by
`fit.fit_model` (transformers.Trainer); encodings come from the on-disk dataset cache.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import console
from ..artifacts import Artifact, ArtifactBuilder, ArtifactStore
from ..data import Example, read_dataset
from ..data.hub import data_sha256
from ..data.probs import read_probs, write_probs
from ..errors import ArtifactError, ConfigError
from ..fileio import dumps_json, sha256_text, write_json
from ..labels import DEFAULT_LABELS, LabelSet
from ..metrics import evaluate
from .config import TrainConfig
from .data import TrainData, encodings_cache, fold_rows, load_train_data, resolve_data
from .fit import BEST_PROBS, CHECKPOINTS, EVALUATIONS, FitResult, fit_model
from ..engine.ranks import Ranks
from ..engine import check_precision
from .plots import plot_confusion, plot_learning_curve
from .reports import check_report_to
from .checks import check_max_length, quiet_transformers, warn_unknown_subject_types


@dataclass
class ModelRef:
    """What `--model` named: a hub id, a local folder or a tapt artifact."""

    text: str
    path: str  # what from_pretrained gets
    artifact: Artifact | None = None


def resolve_model(store: ArtifactStore, ref: str) -> ModelRef:
    """A `tapt/<id>` artifact ref or folder, a local model folder, or a hub id (offline: must be cached)."""
    text = str(ref)
    path = Path(text)
    looks_like_artifact = text.split("/")[0] == "tapt" or (path.is_dir() and (path / "manifest.json").exists())
    if looks_like_artifact:
        artifact = store.resolve(text, kind="tapt")
        return ModelRef(text, str(artifact.path), artifact)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--model {text}: is a file, expected a model folder or a hub id")
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ConfigError(f"--model {text}: folder has no config.json", hint="give a Hugging Face model folder")
        return ModelRef(text, str(path.resolve()))
    if text.startswith((".", "/")) or text.count("/") > 1:
        raise ConfigError(f"--model {text}: no such model folder")
    return ModelRef(text, text)


def staging_key(config: TrainConfig, data: Artifact, model: ModelRef, test: Path | None, labels: LabelSet) -> str:
    """Hash of everything that decides the run's result: resuming needs the same key."""
    parts = {
        "config": config.to_dict(),
        "data": data.manifest_sha256(),
        "model": model.artifact.manifest_sha256() if model.artifact is not None else model.path,
        "test": data_sha256(test) if test is not None else None,
        "labels": list(labels.names),
    }
    return "train-" + sha256_text(dumps_json(parts))[:24]


class ProcessTrainer:
    """The training work of one process (rank); rank 0 also writes into `staging`."""

    def __init__(
        self,
        *,
        config: TrainConfig,
        data: TrainData,
        model: ModelRef,
        labels: LabelSet,
        test: list[Example] | None,
        staging: Path,
        ranks: Ranks,
        cache_dir: Path | None,
        resume: bool,
        callbacks: Sequence[Any],
        confidence: dict[str, float] | None = None,
    ) -> None:
        self.confidence = confidence  # `--curriculum confidence:RUN`: id -> gold probability
        self.config = config
        self.data = data
        self.model = model
        self.labels = labels
        self.test = test
        self.staging = staging
        self.ranks = ranks
        self.cache_dir = cache_dir
        self.resume = resume
        self.callbacks = callbacks
        self.samples = 0
        self.train_seconds = 0.0

    # -- one model ------------------------------------------------------------------
    def _encode(self, examples: list[Example], tokenizer: Any, template: Any) -> Any:
        from ..modeling.encoding import encode_dataset

        return self.ranks.main_first(lambda: encode_dataset(examples, tokenizer, template, self.labels, self.cache_dir))

    def fit_one(self, train: list[Example], valid: list[Example], workdir: Path, description: str) -> dict[str, Any]:
        """Train one model; returns its history, best record and validation probs; predicts test rows."""
        from transformers import AutoTokenizer, set_seed

        from ..modeling.heads import build_model, freeze_lower_layers, load_model, save_model
        from ..modeling.restrict import type_mask
        from ..modeling.templates import TemplateConfig, prepare_tokenizer

        config = self.config
        quiet_transformers()
        template = TemplateConfig(config.marker, config.query, config.type_words, config.max_length)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model.path, use_fast=True)
        except OSError as exc:
            raise ConfigError(f"cannot load the tokenizer of '{self.model.text}': {exc}",
                              hint="give a local model folder (the hub is offline) or a tapt/<id> artifact") from None
        prepare_tokenizer(tokenizer, template)
        train_set = self._encode(train, tokenizer, template)
        valid_set = self._encode(valid, tokenizer, template)
        set_seed(config.seed)
        model = build_model(self.model.path, head=config.head, num_labels=len(self.labels), tokenizer=tokenizer,
                            dropout=config.dropout)
        if config.freeze_ratio > 0:
            freeze_lower_layers(model, config.freeze_ratio)
        gold = np.asarray(self.labels.ids([e.label for e in valid]))  # type: ignore[misc]
        mask = type_mask(valid, self.labels) if config.restrict_types else None
        extra = {"config": config.to_dict(), "data": self.data.artifact.id, "model": self.model.text}

        def save_best(m: Any, folder: Path) -> None:
            save_model(m, tokenizer, folder, template=template, head=config.head, labels=self.labels, extra=extra)

        result: FitResult = fit_model(
            config=config, model=model, tokenizer=tokenizer, train_set=train_set, valid_set=valid_set,
            valid_gold=gold, valid_mask=mask, labels=self.labels, workdir=workdir, save_best=save_best,
            resume=self.resume, description=description, callbacks=self.callbacks,
            curriculum_order=self._curriculum(train, train_set),
        )
        del model
        self.samples += result.samples
        self.train_seconds += result.train_seconds
        out: dict[str, Any] = {"evaluations": result.evaluations, "train_log": result.train_log, "best": result.best,
                               "valid_probs": result.best_probs, "stopped_early": result.stopped_early,
                               "steps": result.steps}
        if self.test is not None:
            test_set = self._encode(self.test, tokenizer, template)
            if self.ranks.is_main:
                best, _, _ = load_model(result.model_dir, device=self.ranks.device)
                out["test_probs"] = self.predict(best, tokenizer, test_set, self.test, description)
                del best
            self.ranks.barrier()
        return out

    def _curriculum(self, train: list[Example], train_set: Any) -> np.ndarray | None:
        if not self.config.curriculum:
            return None
        from .curriculum import difficulty, easy_to_hard

        scores = difficulty(self.config.curriculum, train, train_set["length"], self.confidence)
        by_label = self.config.curriculum.startswith("confidence")  # easy to hard within each gold label
        return easy_to_hard(scores, [e.label for e in train] if by_label else None)

    def predict(self, model: Any, tokenizer: Any, dataset: Any, examples: list[Example], description: str) -> np.ndarray:
        from ..modeling.restrict import apply_type_mask, type_mask
        from .inference import predict_probs

        probs = predict_probs(model, dataset, pad_token_id=tokenizer.pad_token_id, batch_size=self.config.eval_batch_size,
                              device=self.ranks.device, description=f"{description}: test")
        if self.config.restrict_types:
            probs = apply_type_mask(probs, type_mask(examples, self.labels)).astype(np.float32)
        return probs

    # -- the whole run --------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train (all folds, one fold, or the plain split) and write the outputs (rank 0)."""
        config = self.config
        if config.folds:
            folds = [config.fold] if config.fold is not None else list(range(config.folds))
            return self._run_folds(folds)
        out = self.fit_one(self.data.train, self.data.valid, self.staging, "train")
        history = {"model": _history(out)}
        if self.ranks.is_main:
            self._write_outputs(self.data.valid, out["valid_probs"], history, out.get("test_probs"))
            write_json(self.staging / "metrics.json", {
                "evaluations": out["evaluations"], "best": out["best"], "stopped_early": out["stopped_early"],
                "steps": out["steps"], "history": history,
            })
        return {"best": out["best"], "steps": out["steps"], **self._speed()}

    def _speed(self) -> dict[str, Any]:
        if not self.train_seconds:
            return {}
        return {"samples_per_second": round(self.samples / self.train_seconds, 2),
                "train_seconds": round(self.train_seconds, 2)}

    def _run_folds(self, folds: list[int]) -> dict[str, Any]:
        valid_rows: list[Example] = []
        valid_probs: list[np.ndarray] = []
        test_sum: np.ndarray | None = None
        fold_records = []
        histories = {}
        steps = 0
        for i in folds:
            train, valid = fold_rows(self.data, i)
            if not valid or not train:
                raise ConfigError(f"fold {i} has no {'validation' if not valid else 'training'} rows")
            workdir = self.staging / f"fold-{i}"
            done = workdir / "fold.json"
            if self.resume and done.exists() and (workdir / "valid_probs.csv").exists():
                record = _read_fold(workdir, self.labels, self.test is not None)
                if self.ranks.is_main:
                    console.info(f"fold {i}: already trained, reusing it")
            else:
                out = self.fit_one(train, valid, workdir, f"fold {i + 1}/{self.config.folds}")
                record = {"fold": i, "evaluations": out["evaluations"], "train_log": out["train_log"],
                          "best": out["best"], "steps": out["steps"], "valid_probs": out["valid_probs"],
                          "test_probs": out.get("test_probs")}
                if self.ranks.is_main:
                    write_probs(workdir / "valid_probs.csv", [e.id for e in valid], out["valid_probs"], self.labels,
                                gold=[e.label for e in valid])
                    if self.test is not None:
                        write_probs(workdir / "probs.csv", [e.id for e in self.test], out["test_probs"], self.labels)
                    write_json(done, {k: record[k] for k in ("fold", "evaluations", "train_log", "best", "steps")})
                    _remove_work_files(workdir)
                self.ranks.barrier()
            steps += int(record["steps"])
            valid_rows += valid
            valid_probs.append(record["valid_probs"])
            if record.get("test_probs") is not None:
                test_sum = record["test_probs"] if test_sum is None else test_sum + record["test_probs"]
            histories[f"fold-{i}"] = _history(record)
            fold_records.append({"fold": i, "best": record["best"], "evaluations": record["evaluations"],
                                 "n_train": len(train), "n_valid": len(valid)})
        probs = np.concatenate(valid_probs)
        gold = np.asarray(self.labels.ids([e.label for e in valid_rows]))  # type: ignore[misc]
        oof = dict(evaluate(gold, probs, self.labels))
        if self.ranks.is_main:
            test_probs = test_sum / len(folds) if test_sum is not None else None
            self._write_outputs(valid_rows, probs, histories, test_probs)
            write_json(self.staging / "metrics.json", {
                "folds": fold_records,
                "best": {k: v for k, v in oof.items() if k != "per_class"},
                "out_of_fold": oof,
                "history": histories,
            })
        return {"best": oof, "steps": steps, **self._speed()}

    def _write_outputs(self, valid: list[Example], probs: np.ndarray, histories: dict[str, Any],
                       test_probs: np.ndarray | None) -> None:
        write_probs(self.staging / "valid_probs.csv", [e.id for e in valid], probs, self.labels,
                    gold=[e.label for e in valid])
        gold = np.asarray(self.labels.ids([e.label for e in valid]))  # type: ignore[misc]
        plot_confusion(self.staging / "confusion.png", gold, probs, self.labels)
        plot_learning_curve(self.staging / "learning_curve.png", histories)
        if test_probs is not None and self.test is not None:
            write_probs(self.staging / "probs.csv", [e.id for e in self.test], test_probs, self.labels)


def _history(out: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """The learning-curve record of one model: every logged training step and every evaluation."""
    keys = ("step", "epoch", "loss", "micro_f1", "auprc", "accuracy")
    return {"train": list(out["train_log"]), "eval": [{k: e.get(k) for k in keys} for e in out["evaluations"]]}


def _remove_work_files(workdir: Path) -> None:
    """What only a running or resumable training needs: Trainer checkpoints, the evaluation log, best probs."""
    shutil.rmtree(workdir / CHECKPOINTS, ignore_errors=True)
    shutil.rmtree(workdir / "model.tmp", ignore_errors=True)
    for name in (EVALUATIONS, BEST_PROBS):
        (workdir / name).unlink(missing_ok=True)


def _read_fold(workdir: Path, labels: LabelSet, with_test: bool) -> dict[str, Any]:
    meta = json.loads((workdir / "fold.json").read_text(encoding="utf-8"))
    record = dict(meta)
    record["valid_probs"] = read_probs(workdir / "valid_probs.csv", labels).probs
    record["test_probs"] = read_probs(workdir / "probs.csv", labels).probs if with_test else None
    return record


def train(
    *,
    data: str | Path,
    config: TrainConfig,
    root: str | Path = ".",
    labels: str | Path | None = None,
    test: str | Path | None = None,
    resume: bool = False,
    slug: str | None = None,
    callbacks: Sequence[Any] = (),
    seed_group: str | None = None,
) -> Artifact | None:
    """Train a relation classifier on a splits/ or augments/ artifact and publish `runs/<id>/`.

    Under torchrun / accelerate launch every rank calls this; only rank 0 writes and gets
    the Artifact (other ranks get None). `callbacks` are extra `transformers.TrainerCallback`s;
    `seed_group` is recorded in the manifest (`kre train --seeds`, kre.training.seeds).
    Raises KreError subclasses for bad input, TrainingError for a NaN loss; nothing is
    published then (checkpoints stay in the staging folder for `resume=True`).
    """
    started = time.perf_counter()
    if not config.model:
        raise ConfigError("--model is required", hint="a hub id, a local model folder or tapt/<id>")
    check_report_to(config.report_to)
    root = Path(root)
    store = ArtifactStore(root)
    label_set = LabelSet.load(labels) if labels is not None else DEFAULT_LABELS
    if config.lr_auto:  # `--lr auto:LRFIND`
        from .lr_finder import with_found_lr

        config = with_found_lr(store, config)
    data_artifact = resolve_data(store, data)
    model_ref = resolve_model(store, config.model)
    train_data = load_train_data(data_artifact, label_set, need_folds=config.folds > 0)
    if config.folds and train_data.num_folds != config.folds:
        raise ConfigError(
            f"--folds {config.folds}: {data_artifact.id} has {train_data.num_folds} folds in folds.csv",
            hint=f"use --folds {train_data.num_folds}",
        )
    test_path = Path(test) if test is not None else None
    test_rows = read_dataset(test_path, labels=label_set, strict=True).examples if test_path is not None else None
    if not train_data.train or not train_data.valid:
        raise ArtifactError(f"{data_artifact.path}: train.csv or valid.csv has no rows")

    check_max_length(model_ref.path, config.max_length)
    use_cpu = _use_cpu(config)
    check_precision(fp16=config.fp16, bf16=config.bf16, use_cpu=use_cpu)
    if test_rows is not None:
        warn_unknown_subject_types(test_rows, str(test_path))
    ranks = Ranks(use_cpu=use_cpu)
    key = staging_key(config, data_artifact, model_ref, test_path, label_set)
    params = {**config.to_dict(), "data": data_artifact.id, "world_size": ranks.world_size,
              "effective_batch_size": config.batch_size * config.grad_accum * ranks.world_size}
    model_name = re.sub(r"^\d{4,}-", "", Path(model_ref.text.rstrip("/")).name)  # tapt/0001-scratch -> scratch
    name = slug or f"{model_name}-{config.marker}-{config.head}"
    confidence = None
    if config.curriculum.startswith("confidence:"):
        from .curriculum import difficulty, gold_confidence

        confidence = gold_confidence(store, config.curriculum.split(":", 1)[1].strip(), label_set)
        difficulty(config.curriculum, train_data.train, [], confidence)  # refuses uncovered training rows now
    work_args = dict(config=config, data=train_data, model=model_ref, labels=label_set, test=test_rows,
                     ranks=ranks, cache_dir=encodings_cache(root), resume=resume, callbacks=callbacks,
                     confidence=confidence)
    if not ranks.is_main:
        console.set_verbosity(quiet=True)
        staging = Path(ranks.broadcast(None))
        ProcessTrainer(staging=staging, **work_args).run()  # type: ignore[arg-type]
        return None
    with store.create("runs", name, params=params, seed=config.seed, staging_key=key) as builder:
        _prepare_staging(builder, resume)
        ranks.broadcast(str(builder.path))
        builder.add_input_artifact(data_artifact, "data")
        if model_ref.artifact is not None:
            builder.add_input_artifact(model_ref.artifact, "model")
        else:
            builder.add_input_ref(model_ref.path, "model")
        if test_path is not None:
            builder.add_input_file(test_path, "test")
        if labels is not None:
            builder.add_input_file(labels, "labels")
        summary = ProcessTrainer(staging=builder.path, **work_args).run()  # type: ignore[arg-type]
        _remove_work_files(builder.path)
        best = summary["best"]
        builder.metrics.update({k: best[k] for k in ("micro_f1", "auprc", "accuracy") if k in best})
        if config.calibrate:
            from .calibrate import calibrate_outputs

            builder.metrics["temperature"] = calibrate_outputs(builder.path, label_set, seed=config.seed)["temperature"]
        builder.info.update({
            "duration_s": round(time.perf_counter() - started, 2),
            "device": str(ranks.device.type),
            "world_size": ranks.world_size,
            "steps": summary["steps"],
            **({"seed_group": seed_group} if seed_group else {}),  # `--seeds`: the runs of one call
        })
        for key_ in ("samples_per_second", "train_seconds"):
            if key_ in summary:
                builder.info[key_] = summary[key_]
    artifact = builder.published
    assert artifact is not None
    return artifact


def _use_cpu(config: TrainConfig) -> bool:
    """Train on the CPU: `--device cpu`, or no CUDA GPU (`--device cuda` without one is an error)."""
    import torch

    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ConfigError("--device cuda: no CUDA GPU is available", hint="use --device cpu or auto")
    return config.device == "cpu" or not cuda


def _prepare_staging(builder: ArtifactBuilder, resume: bool) -> None:
    """Start clean unless resuming; say what happens to a stopped run's leftovers."""
    if builder.resumed and not resume:
        console.warn("discarding the checkpoints of an earlier stopped run with the same options (use --resume to continue it)")
        for child in builder.path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    elif resume and not builder.resumed:
        console.info("nothing to resume: starting from scratch")
