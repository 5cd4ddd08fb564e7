"""Exploratory data analysis: statistics, plots and a report as an `eda/` artifact."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ..artifacts import Artifact, ArtifactStore
from ..labels import DEFAULT_LABELS, LabelSet
from .stats import EdaStats, compute_stats

__all__ = ["EdaStats", "compute_stats", "run_eda", "analyze"]


def analyze(
    paths: Sequence[str | Path],
    *,
    labels: LabelSet | None = None,
    tokenizer: object | None = None,
    model: str | None = None,
    adversarial: bool = True,
    seed: int = 0,
) -> EdaStats:
    """Read the files (invalid rows collected, not fatal) and compute their statistics.

    With `adversarial`, each compared file is also told apart from the reference file by a
    cross-validated classifier (ROC AUC, separating n-grams and sources).

    Raises DataError for a file that cannot be read at all (not found, empty, wrong columns).
    """
    from ..console import progress
    from ..data import read_dataset
    from .tokens import token_lengths

    labels = labels or DEFAULT_LABELS
    steps = len(paths) * (2 if tokenizer is not None else 1) + (len(paths) - 1 if adversarial else 0)
    with progress("Reading data", total=steps) as task:
        datasets = []
        for path in paths:
            task.status(Path(path).name)
            datasets.append(read_dataset(path, labels=labels, strict=False))
            task.advance()
        tokens = None
        if tokenizer is not None:
            tokens = []
            for ds in datasets:
                task.status(f"tokenizing {ds.path.name}")
                tokens.append(token_lengths(tokenizer, ds.examples, model or ""))
                task.advance()
        task.status("statistics")
        stats = compute_stats(datasets, labels, tokens)
        if adversarial and stats.data["comparisons"]:
            from .adversarial import add_adversarial

            task.status("adversarial validation (train vs test classifier)")
            add_adversarial(stats, datasets, seed=seed)
            task.advance(len(stats.data["comparisons"]))
        return stats


def run_eda(
    *,
    paths: Sequence[str | Path],
    root: str | Path = ".",
    labels: LabelSet | str | Path | None = None,
    model: str | None = None,
    name: str | None = None,
    adversarial: bool = True,
    seed: int = 0,
) -> Artifact:
    """Analyse data files and publish an `eda/<NNNN>-<slug>/` artifact.

    The artifact holds `stats.json`, `report.md` and PNG plots. Rows that fail
    validation are reported in them; a file that cannot be read at all raises
    DataError before anything is written.

    Args:
        paths: data files (competition CSV, KLUE-RE JSON, JSONL); other files are compared with the first labeled one.
        root: artifact root folder.
        labels: a LabelSet or a label map JSON file (default: the 30 KLUE-RE labels).
        model: a tokenizer (local folder, tapt/runs artifact or hub id) for lengths in tokens.
        name: slug of the artifact folder (default: the file names).
        adversarial: tell each compared file from the reference with a classifier (ROC AUC, n-grams, sources, plot).
        seed: cross-validation folds of that classifier.
    """
    from ..artifacts import slugify
    from ..console import progress
    from ..fileio import write_json
    from .plots import PLOTS, make_plots
    from .report import write_report
    from .tokens import load_tokenizer

    if not paths:
        from ..errors import ConfigError

        raise ConfigError("no data files given", hint="kre eda TRAIN.csv [TEST.csv ...]")
    started = time.perf_counter()
    labels_path: Path | None = None
    if labels is not None and not isinstance(labels, LabelSet):
        labels_path = Path(labels)
        labels = LabelSet.load(labels_path)
    label_set = labels if isinstance(labels, LabelSet) else DEFAULT_LABELS
    tokenizer = load_tokenizer(model, root) if model else None
    stats = analyze(paths, labels=label_set, tokenizer=tokenizer, model=model, adversarial=adversarial, seed=seed)

    store = ArtifactStore(root)
    slug = name or "-".join(Path(p).stem for p in paths)
    params = {
        "files": [str(p) for p in paths],
        "labels": str(labels_path) if labels_path else None,
        "model": model,
        "adversarial": adversarial,
        "seed": seed,
    }
    with store.create("eda", slugify(slug), params=params) as builder:
        for path in paths:
            builder.add_input_file(path, role="data")
        if labels_path:
            builder.add_input_file(labels_path, role="labels")
        if model:
            builder.add_input_ref(model, role="tokenizer")
        with progress("Writing plots", total=len(PLOTS) + 1) as task:
            plots = make_plots(stats, builder.path, advance=task.advance)
            write_json(builder.path / "stats.json", stats.data)
            write_report(builder.path / "report.md", stats.data, plots)
            task.advance()
        totals = stats.data["totals"]
        builder.metrics.update({k: v for k, v in totals.items() if k != "files"})
        aucs = [c["adversarial"]["auc"] for c in stats.data["comparisons"] if "auc" in c.get("adversarial", {})]
        if aucs:
            builder.metrics["adversarial_auc"] = aucs[0] if len(aucs) == 1 else aucs
        if model:
            for limit in (128, 256):
                builder.metrics[f"token_over_{limit}"] = sum(f["token_length"][f"over_{limit}"] for f in stats.data["files"])
        builder.info["duration_s"] = round(time.perf_counter() - started, 2)
    assert builder.published is not None
    return builder.published
