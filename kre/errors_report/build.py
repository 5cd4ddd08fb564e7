"""`run_errors`: analyse a run's (or ensemble's) validation mistakes and publish `errors/<NNNN>-<slug>/`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ..artifacts import Artifact, ArtifactStore
from ..errors import ConfigError
from ..fileio import atomic_write_text, write_json
from ..labels import LabelSet
from .analysis import analyse
from .render import render_html, render_markdown
from .source import load_predictions


def run_errors(
    *,
    source: str | Path,
    root: str | Path = ".",
    data: str | Path | None = None,
    labels: Sequence[str] | None = None,
    min_count: int = 1,
    max_examples: int = 5,
    label_set: LabelSet | None = None,
    name: str | None = None,
) -> Artifact:
    """Write report.html, report.md and errors.json for the validation predictions of `source`.

    Args:
        source: a runs/, ensembles/ or predictions/ artifact (a prediction on a labeled file).
        data: where the sentences are, when the manifests do not lead to them.
        labels: show only confusions whose gold or predicted label is one of these.
        min_count: show only confusions with at least this many rows.
        max_examples: rows shown per confusion.
    Raises:
        KreError: no validation predictions, sentences not found, bad filters.
    """
    started = time.time()
    if min_count < 1:
        raise ConfigError("--min-count must be at least 1")
    if max_examples < 0:
        raise ConfigError("--max-examples must not be negative")
    preds = load_predictions(source, root=root, data=data, labels=label_set)
    analysis = analyse(preds, labels=list(labels or []), min_count=min_count, max_examples=max_examples)
    title = f"Validation mistakes of {preds.source.id}"
    params = {
        "source": preds.source.id,
        "data": preds.data_ref,
        "labels": sorted(set(labels or [])),
        "min_count": min_count,
        "max_examples": max_examples,
    }
    store = ArtifactStore(root)
    with store.create("errors", name or preds.source.name, params=params) as b:
        b.add_input_artifact(preds.source, "source")
        b.add_input_file(preds.probs_path, "predictions")
        if preds.data_artifact is not None:
            b.add_input_artifact(preds.data_artifact, "data")
        elif preds.data_file is not None:
            b.add_input_file(preds.data_file, "data")
        atomic_write_text(b.path / "report.html", render_html(analysis, preds, title))
        atomic_write_text(b.path / "report.md", render_markdown(analysis, preds, title))
        write_json(b.path / "errors.json", analysis.to_dict(preds))
        b.metrics.update({"micro_f1": analysis.micro_f1, "auprc": analysis.auprc, "errors": analysis.errors, "n": analysis.n})
        b.info["duration_s"] = round(time.time() - started, 3)
    assert b.published is not None
    return b.published
