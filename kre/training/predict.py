"""`kre predict` as a library call: a run's model(s) + a data file -> `predictions/<id>/probs.csv`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import Artifact, ArtifactStore
from ..data import Example, read_dataset
from ..data.probs import write_probs
from ..errors import ArtifactError, ConfigError
from ..labels import LabelSet
from .calibrate import run_temperature
from .checks import warn_unknown_subject_types
from .data import encodings_cache


def model_folders(run: Artifact) -> list[Path]:
    """`model/` of a run, or every `fold-<k>/model/` of a k-fold run (in fold order)."""
    if (run.path / "model").is_dir():
        return [run.path / "model"]
    folds = sorted(
        (p for p in run.path.glob("fold-*/model") if p.is_dir() and p.parent.name[5:].isdigit()),
        key=lambda p: int(p.parent.name[5:]),
    )
    if not folds:
        raise ArtifactError(f"{run.path}: has no model/ or fold-<k>/model/ folder", hint="is it a runs/ artifact?")
    return folds


def resolve_device(name: str) -> Any:
    """`auto` (CUDA when available), `cpu` or `cuda` as a torch.device."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available", hint="use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def predict_examples(
    folders: list[Path],
    examples: list[Example],
    *,
    batch_size: int = 128,
    restrict_types: bool = False,
    device: str = "auto",
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, LabelSet]:
    """Mean class probabilities (float32) of the models in `folders` for `examples`, streamed in batches."""
    from ..modeling.encoding import encode_dataset
    from ..modeling.heads import load_model
    from ..modeling.restrict import apply_type_mask, type_mask
    from .checks import quiet_transformers
    from .inference import predict_probs

    quiet_transformers()
    dev = resolve_device(device)
    total: np.ndarray | None = None
    labels: LabelSet | None = None
    for k, folder in enumerate(folders):
        model, tokenizer, meta = load_model(folder, device=dev)
        label_set: LabelSet = meta["label_set"]
        if labels is not None and label_set.names != labels.names:
            raise ArtifactError(f"{folder}: its label set differs from the other fold models")
        labels = label_set
        dataset = encode_dataset(examples, tokenizer, meta["template"], label_set, cache_dir)
        what = f"predict (model {k + 1}/{len(folders)})" if len(folders) > 1 else "predict"
        probs = predict_probs(model, dataset, pad_token_id=tokenizer.pad_token_id, batch_size=batch_size, device=dev,
                              description=what)
        del model, dataset
        total = probs if total is None else total + probs
    assert total is not None and labels is not None
    probs = total / len(folders)
    if restrict_types:
        probs = apply_type_mask(probs, type_mask(examples, labels)).astype(np.float32)
    return probs, labels


def predict(
    *,
    run: str | Path,
    data: str | Path,
    root: str | Path = ".",
    batch_size: int = 128,
    restrict_types: bool | None = None,
    slug: str | None = None,
    device: str = "auto",
) -> Artifact:
    """Write `predictions/<id>/probs.csv` (submission format) for a data file with a run's model(s).

    `restrict_types=None` follows the run's own `--restrict-types` setting. For a k-fold
    run the fold models' probabilities are averaged.
    """
    from ..modeling.heads import read_meta

    started = time.perf_counter()
    if batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    store = ArtifactStore(root)
    run_artifact = store.resolve(run, kind="runs")
    folders = model_folders(run_artifact)
    meta = read_meta(folders[0])
    labels = LabelSet(tuple(meta["labels"]))
    data_path = Path(data)
    examples = read_dataset(data_path, labels=labels, strict=True).examples
    if any(e.label is None for e in examples):
        warn_unknown_subject_types([e for e in examples if e.label is None], str(data_path))
    restrict = bool(run_artifact.params.get("restrict_types", False)) if restrict_types is None else restrict_types
    name = slug or f"{run_artifact.name.split('-', 1)[-1]}-{data_path.stem}"  # the run's slug, not its number
    temperature = run_temperature(run_artifact.manifest)
    params = {"run": run_artifact.id, "restrict_types": restrict, "batch_size": batch_size, "models": len(folders)}
    if temperature is not None:  # a `kre train --calibrate` run: its T is applied below
        params["temperature"] = temperature
    with store.create("predictions", name, params=params, seed=run_artifact.manifest.get("seed")) as builder:
        builder.add_input_artifact(run_artifact, "run")
        builder.add_input_file(data_path, "data")
        probs, labels = predict_examples(folders, examples, batch_size=batch_size, restrict_types=restrict, device=device,
                                         cache_dir=encodings_cache(Path(root)))
        if temperature is not None:  # a `kre train --calibrate` run
            from ..calibration import apply_temperature

            probs = apply_temperature(probs, temperature)
        write_probs(builder.path / "probs.csv", [e.id for e in examples], probs, labels)
        gold = [e.label for e in examples]
        if all(g is not None for g in gold):
            from ..metrics import evaluate

            scores = evaluate(np.asarray(labels.ids(gold)), probs, labels, detail=False)  # type: ignore[arg-type]
            builder.metrics.update({k: scores[k] for k in ("micro_f1", "auprc", "accuracy")})
        builder.info["duration_s"] = round(time.perf_counter() - started, 2)
        builder.info["rows"] = len(examples)
        builder.info["rows_per_second"] = round(len(examples) * len(folders) / max(time.perf_counter() - started, 1e-9), 1)
    assert builder.published is not None
    return builder.published
