"""`run_augment`: read a split, apply the chosen methods, validate every row, publish `augments/<id>/`."""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import console
from ..artifacts import Artifact, ArtifactStore
from ..data import Example, read_dataset, write_csv
from ..errors import ConfigError, KreError
from ..fileio import write_json
from ..labels import DEFAULT_LABELS, LabelSet
from . import aeda as aeda_mod
from . import backtranslate as bt_mod
from . import swap as swap_mod
from . import undersample as us_mod
from .cache import CachedTranslator, TranslationCache
from .config import AugmentConfig
from .common import AUG_METHOD, AUG_PARENT, MethodStats, row_problem
from .embedders import Embedder, SentenceTransformerEmbedder
from .translators import TranslationError, Translator, make_translator

METHODS = (bt_mod.METHOD, swap_mod.METHOD, aeda_mod.METHOD, us_mod.METHOD)
INPUT_KINDS = ("splits", "augments")
_CHUNK = 1000


def check_options(config: AugmentConfig, labels: LabelSet) -> list[str]:
    """The methods to run (deduplicated, in order); ConfigError for an impossible option before any work."""
    methods = list(dict.fromkeys(config.method))
    if not methods:
        raise ConfigError("no augmentation method given", hint=f"use --method with one of: {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s): {', '.join(unknown)}", hint=f"methods: {', '.join(METHODS)}")
    bad = [lab for lab in config.label_filter or () if lab not in labels]
    if bad:
        raise ConfigError(f"--only-labels: unknown label(s): {', '.join(bad)}", hint="labels are KLUE names such as per:origin")
    if config.max_per_label is not None and config.max_per_label < 1:
        raise ConfigError("--max-per-label must be at least 1")
    if config.n_per_example < 1:
        raise ConfigError("--n-per-example must be at least 1")
    if not -1 <= config.min_similarity <= 1:
        raise ConfigError("--min-similarity must be between -1 and 1")
    if bt_mod.METHOD in methods and not config.pivots:
        raise ConfigError("backtranslate needs at least one --pivot language")
    if us_mod.METHOD in methods:
        if config.undersample_label not in labels:
            raise ConfigError(f"--undersample-label: unknown label '{config.undersample_label}'")
        us_mod.cap_for(0, 0, max_count=config.max_count, max_ratio=config.max_ratio)
    return methods


def _limit_parents(parents: list[Example], max_per_label: int | None, seed: int) -> list[Example]:
    """At most `max_per_label` parents per label (a seeded choice), order kept."""
    if max_per_label is None:
        return parents
    by_label: dict[str | None, list[int]] = {}
    for i, ex in enumerate(parents):
        by_label.setdefault(ex.label, []).append(i)
    keep: set[int] = set()
    for label, idx in by_label.items():
        keep.update(idx if len(idx) <= max_per_label else random.Random(f"{seed}:parents:{label}").sample(idx, max_per_label))
    return [ex for i, ex in enumerate(parents) if i in keep]


def _cap_new_rows(new: list[Example], max_per_label: int | None, seed: int, stats: dict[str, MethodStats]) -> list[Example]:
    """At most `max_per_label` new rows per label over all methods (a seeded choice), order kept."""
    if max_per_label is None:
        return new
    by_label: dict[str | None, list[int]] = {}
    for i, ex in enumerate(new):
        by_label.setdefault(ex.label, []).append(i)
    keep: set[int] = set()
    for label, idx in by_label.items():
        chosen = idx if len(idx) <= max_per_label else random.Random(f"{seed}:cap:{label}").sample(idx, max_per_label)
        keep.update(chosen)
    for i, ex in enumerate(new):
        if i not in keep:
            stats[ex.extra[AUG_METHOD]].drop("over_max_per_label")
    return [ex for i, ex in enumerate(new) if i in keep]


def _accept(
    candidates: list[Example],
    stats: MethodStats,
    labels: LabelSet,
    seen_keys: set[tuple],
    seen_ids: set[str],
) -> list[Example]:
    """Candidates that are valid rows and not duplicates of a row already present; unique ids."""
    out = []
    for ex in candidates:
        problem = row_problem(ex, labels)
        if problem is not None:
            stats.drop(f"invalid_{problem}")
            continue
        key = ex.input_key()
        if key in seen_keys:
            stats.drop("duplicate")
            continue
        seen_keys.add(key)
        new_id, n = ex.id, 1
        while new_id in seen_ids:
            n += 1
            new_id = f"{ex.id}.{n}"
        seen_ids.add(new_id)
        out.append(ex if new_id == ex.id else replace(ex, id=new_id))
    return out


def _status(stats: MethodStats, extra: str = "") -> str:
    return f"new {stats.kept if stats.kept else '-'} · dropped {sum(stats.dropped.values())}{extra}"


def _run_local_method(
    method: str,
    parents: list[Example],
    stats: MethodStats,
    *,
    all_rows: list[Example],
    n_per_example: int,
    seed: int,
    swap_role: str,
    aeda_ratio: float,
) -> list[Example]:
    """entity-swap or aeda over the parents, chunked for the progress bar."""
    pools = swap_mod.build_pools(all_rows) if method == swap_mod.METHOD else {}
    out: list[Example] = []
    with console.progress(method, total=len(parents)) as task:
        for i in range(0, len(parents), _CHUNK):
            chunk = parents[i : i + _CHUNK]
            if method == swap_mod.METHOD:
                out += swap_mod.entity_swap(chunk, pools=pools, n_per_example=n_per_example, seed=seed, role=swap_role, stats=stats)
            else:
                out += aeda_mod.aeda(chunk, n_per_example=n_per_example, seed=seed, ratio=aeda_ratio, stats=stats)
            task.advance(len(chunk))
            task.status(f"candidates {len(out)} · dropped {sum(stats.dropped.values())}")
    return out


def run_augment(
    config: AugmentConfig,
    *,
    translator: Translator | None = None,
    embedder: Embedder | None = None,
    labels: LabelSet | None = None,
) -> Artifact:
    """Augment the training rows of a `splits/` (or `augments/`) artifact and publish `augments/<id>/`.

    Methods run in the order given, each on the original rows (after `undersample`, which
    only removes rows); new rows that duplicate an existing row are dropped. Validation
    rows are never touched: valid.csv (and folds.csv) are copied byte for byte.

    `translator` / `embedder` replace the ones the config names (the translator is always
    used through the SQLite cache); `labels` replaces the label map file `config.labels`.
    Raises KreError for bad options or a bad input artifact or file (nothing is published).
    """
    started = time.perf_counter()
    labels = labels or (LabelSet.load(config.labels) if config.labels else DEFAULT_LABELS)
    methods = check_options(config, labels)
    source_art, originals = read_training_rows(config, labels)
    stats: dict[str, MethodStats] = {m: MethodStats() for m in methods}
    rows = undersample_rows(originals, config, methods, stats)
    made = make_new_rows(rows, config, methods, labels, stats, translator=translator, embedder=embedder)
    final = checked_rows(rows + made.rows, labels)
    report = _report(source_art, originals, rows, made.rows, stats, methods, made.scores, config.min_similarity,
                     made.backtranslate, made.interrupted)
    return publish_augment(config, source_art, final, report, augment_params(config, methods, made), stats, made, started)


@dataclass
class NewRows:
    """What the generating methods made: accepted new rows, back-translation similarity scores and report."""

    rows: list[Example] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    backtranslate: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None


def read_training_rows(config: AugmentConfig, labels: LabelSet) -> tuple[Artifact, list[Example]]:
    """The input artifact and its train.csv rows (with empty augmentation columns on original rows)."""
    source_art = ArtifactStore(config.root).resolve(config.split)
    if source_art.kind not in INPUT_KINDS:
        raise ConfigError(f"{source_art.path}: is a '{source_art.kind}' artifact; augment needs a splits/ or augments/ artifact")
    originals = read_dataset(source_art.file("train.csv"), labels=labels, strict=True, require_labels=True).examples
    originals = [
        replace(e, extra={**e.extra, AUG_METHOD: e.extra.get(AUG_METHOD, ""), AUG_PARENT: e.extra.get(AUG_PARENT, "")})
        for e in originals
    ]
    console.info(f"Read {len(originals)} training rows from {source_art.id}")
    return source_art, originals


def undersample_rows(rows: list[Example], config: AugmentConfig, methods: Sequence[str], stats: dict[str, MethodStats]) -> list[Example]:
    """The rows after `undersample` (unchanged without it)."""
    if us_mod.METHOD not in methods:
        return rows
    t0 = time.perf_counter()
    out = us_mod.undersample(rows, label=config.undersample_label, max_count=config.max_count, max_ratio=config.max_ratio,
                             seed=config.seed, stats=stats[us_mod.METHOD])
    stats[us_mod.METHOD].seconds = time.perf_counter() - t0
    return out


def make_new_rows(
    rows: list[Example],
    config: AugmentConfig,
    methods: Sequence[str],
    labels: LabelSet,
    stats: dict[str, MethodStats],
    *,
    translator: Translator | None,
    embedder: Embedder | None,
) -> NewRows:
    """Run each generating method on the chosen parents; keep valid, non-duplicate rows, at most --max-per-label."""
    wanted = config.label_filter
    parents = [e for e in rows if not wanted or e.label in wanted]
    parents = _limit_parents(parents, config.max_per_label, config.seed)
    seen_keys = {e.input_key() for e in rows}
    seen_ids = {e.id for e in rows}
    made = NewRows()
    for method in methods:
        if method == us_mod.METHOD:
            continue
        t0 = time.perf_counter()
        st = stats[method]
        if method == bt_mod.METHOD:
            out, made.scores, made.backtranslate, made.interrupted = _run_backtranslate(
                parents, st, translator=translator, translator_name=config.translator, pivots=config.pivots,
                source_lang=config.source_lang, min_similarity=config.min_similarity,
                embedder=embedder if embedder is not None else config.embedder, cache=config.cache,
                max_tries=config.max_tries, batch_size=config.batch_size, timeout=config.timeout_s,
            )
        else:
            out = _run_local_method(method, parents, st, all_rows=rows, n_per_example=config.n_per_example, seed=config.seed,
                                    swap_role=config.swap_role, aeda_ratio=config.aeda_ratio)
        made.rows += _accept(out, st, labels, seen_keys, seen_ids)
        st.seconds = time.perf_counter() - t0
    made.rows = _cap_new_rows(made.rows, config.max_per_label, config.seed, stats)
    for method, st in stats.items():
        if method != us_mod.METHOD:
            st.kept = sum(1 for e in made.rows if e.extra[AUG_METHOD] == method)
    return made


def checked_rows(final: list[Example], labels: LabelSet) -> list[Example]:
    """Every output row must be valid with a unique id; a failure here is a bug, not bad input."""
    for ex in final:
        problem = row_problem(ex, labels)
        if problem is not None:
            raise KreError(f"internal error: augmented row {ex.id} is invalid ({problem})", hint="please report this")
    if len({ex.id for ex in final}) != len(final):
        raise KreError("internal error: augmented rows with duplicate ids", hint="please report this")
    return final


def augment_params(config: AugmentConfig, methods: Sequence[str], made: NewRows) -> dict[str, Any]:
    """The manifest params: the options that decided the result, per method used."""
    wanted = config.label_filter
    params: dict[str, Any] = {
        "methods": list(methods),
        "seed": config.seed,
        "only_labels": sorted(set(wanted)) if wanted else None,
        "max_per_label": config.max_per_label,
        "n_per_example": config.n_per_example,
    }
    if bt_mod.METHOD in methods:
        params.update(translator=made.backtranslate.get("translator"), pivots=list(config.pivots), source_lang=config.source_lang,
                      min_similarity=config.min_similarity, embedder=made.backtranslate.get("embedder"))
    if swap_mod.METHOD in methods:
        params["swap_role"] = config.swap_role
    if aeda_mod.METHOD in methods:
        params["aeda_ratio"] = config.aeda_ratio
    if us_mod.METHOD in methods:
        params.update(undersample_label=config.undersample_label, max_count=config.max_count, max_ratio=config.max_ratio)
    return params


def publish_augment(
    config: AugmentConfig,
    source_art: Artifact,
    final: list[Example],
    report: dict[str, Any],
    params: dict[str, Any],
    stats: dict[str, MethodStats],
    made: NewRows,
    started: float,
) -> Artifact:
    """Write train.csv, copy valid.csv (and folds.csv), report.json and the plot; publish atomically."""
    from .plots import plot_summary

    extra_columns = [k for k in dict.fromkeys(k for e in final for k in e.extra) if k not in (AUG_METHOD, AUG_PARENT)]
    extra_columns += [AUG_METHOD, AUG_PARENT]
    store = ArtifactStore(config.root)
    with store.create("augments", config.name or "-".join(params["methods"]), params=params, seed=config.seed) as b:
        b.add_input_artifact(source_art, "split")
        write_csv(b.path / "train.csv", final, extra_columns=extra_columns)
        shutil.copyfile(source_art.file("valid.csv"), b.path / "valid.csv")
        if source_art.has("folds.csv"):
            shutil.copyfile(source_art.file("folds.csv"), b.path / "folds.csv")
        report["duration_s"] = round(time.perf_counter() - started, 3)
        write_json(b.path / "report.json", report)
        plot_summary(b.path / "similarity.png", scores=made.scores, threshold=config.min_similarity if made.scores else None, stats=stats)
        b.metrics.update(rows_original=report["rows"]["original"],
                         rows_new=len(made.rows), rows_total=len(final))
        b.metrics.update({f"kept_{m}": st.kept for m, st in stats.items()})
        b.info["duration_s"] = report["duration_s"]
        if made.interrupted:
            b.info["interrupted"] = made.interrupted
    artifact = b.published
    assert artifact is not None
    return artifact


def _run_backtranslate(
    parents: list[Example],
    stats: MethodStats,
    *,
    translator: Translator | None,
    translator_name: str,
    pivots: Sequence[str],
    source_lang: str,
    min_similarity: float,
    embedder: Embedder | str | Path | None,
    cache: str | Path | None,
    max_tries: int,
    batch_size: int,
    timeout: float | None,
) -> tuple[list[Example], list[float], dict[str, Any], str | None]:
    """Back-translate through the cache; returns rows, scores, report section and interruption reason."""
    if embedder is None and min_similarity > 0:
        raise ConfigError(
            "backtranslate needs --embedder to filter by similarity",
            hint="give a sentence-transformers model folder, or --min-similarity 0 to keep every round trip",
        )
    if isinstance(embedder, (str, Path)):
        embedder = SentenceTransformerEmbedder(embedder)
    if translator is None:
        translator = make_translator(translator_name, max_tries=max_tries, timeout=timeout, batch_size=batch_size)
    store = TranslationCache(cache)
    cached = translator if isinstance(translator, CachedTranslator) else CachedTranslator(translator, store, batch_size=batch_size)
    cached_before = len(cached.cache)
    total = len(parents) * len(pivots)
    with console.progress(f"backtranslate ({'/'.join(pivots)})", total=total) as task:
        last = [0]

        def on_progress(done_rows: int, st: MethodStats) -> None:
            task.advance(done_rows - last[0])
            last[0] = done_rows
            task.status(f"asked {cached.misses} · from cache {cached.hits} · dropped {sum(st.dropped.values())}")

        result = bt_mod.backtranslate(
            parents,
            translator=cached,
            embedder=embedder,
            pivots=pivots,
            source=source_lang,
            min_similarity=min_similarity,
            batch_size=batch_size,
            stats=stats,
            on_progress=on_progress,
        )
    cache_size = len(cached.cache)
    report: dict[str, Any] = {
        "translator": cached.name,
        "pivots": list(pivots),
        "embedder": getattr(embedder, "name", None),
        "cache": str(cached.cache.path),
        "cache_hits": cached.hits,
        "translator_calls": cached.calls,
        "translations_requested": cached.misses,
        "translations_stored": cached.stored,
        "cache_size_before": cached_before,
        "cache_size_after": cache_size,
        "rows_translated": result.rows_translated,
        "interrupted": result.interrupted,
    }
    if result.interrupted:
        if result.rows_translated == 0 and parents:
            raise TranslationError(
                f"back-translation stopped before any row was translated: {result.interrupted}",
                hint=f"nothing was published; the cache ({cached.cache.path}, {cache_size} translations) is kept, "
                "re-run when the translator is reachable",
                transient=True,
            )
        console.warn(
            f"translator lost mid-run ({result.interrupted}); stopped asking and finished with the "
            f"{result.rows_translated} rows translated so far; {cache_size} translations are cached in {cached.cache.path} "
            "and a re-run resumes from there"
        )
    store.close()
    return result.examples, result.scores, report, result.interrupted


def growth_message(artifact_id: str, rows: dict[str, int], duration_s: float) -> str:
    """One line on how the training set grew and what that means for the next step's training time.

    Training time per epoch grows with the number of rows, so the factor is also the
    expected cost of `kre train` on the result relative to training on the input.
    """
    before, after = rows["original"], rows["total"]
    factor = after / before if before else float("nan")
    line = (
        f"{artifact_id}: {before:,} -> {after:,} training rows (x{factor:.2f}; {rows['new']:,} new, "
        f"{rows['removed']:,} removed) in {duration_s:.1f}s"
    )
    if factor > 1.05:
        line += f"; each training epoch on it takes about {factor:.1f}x as long as on the input"
    return line


def _report(
    source_art: Artifact,
    originals: list[Example],
    rows: list[Example],
    new_rows: list[Example],
    stats: dict[str, MethodStats],
    methods: list[str],
    scores: list[float],
    min_similarity: float,
    bt_report: dict[str, Any],
    interrupted: str | None,
) -> dict[str, Any]:
    before = Counter(e.label for e in originals)
    after_us = Counter(e.label for e in rows)
    added = Counter(e.label for e in new_rows)
    labels_seen = sorted(set(before) | set(added), key=str)
    report: dict[str, Any] = {
        "input": source_art.id,
        "methods": {m: stats[m].to_json() for m in methods},
        "rows": {
            "original": len(originals),
            "removed": len(originals) - len(rows),
            "new": len(new_rows),
            "total": len(rows) + len(new_rows),
        },
        "per_label": {
            str(lab): {"original": before[lab], "kept_original": after_us[lab], "new": added[lab], "total": after_us[lab] + added[lab]}
            for lab in labels_seen
        },
        "interrupted": interrupted,
    }
    if bt_report:
        report["backtranslate"] = bt_report
    if scores:
        import numpy as np

        arr = np.asarray(scores)
        report["similarity"] = {
            "n": int(arr.size),
            "threshold": min_similarity,
            "kept": int((arr >= min_similarity).sum()),
            "mean": float(arr.mean()),
            "min": float(arr.min()),
            "quantiles": {str(q): float(np.quantile(arr, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
        }
    return report
