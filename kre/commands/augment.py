"""`kre augment`: more training rows (back-translation, entity swap, AEDA) and undersampling."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..augment.config import HELP
from ._common import ConfigOpt, LabelsOpt, RootOpt, SeedOpt, SlugOpt, cli_errors, load_config, merge_config


class Method(str, Enum):
    backtranslate = "backtranslate"
    entity_swap = "entity-swap"
    aeda = "aeda"
    undersample = "undersample"


class SwapRole(str, Enum):
    either = "either"
    subject = "subject"
    object = "object"


def _value(v: object) -> object:
    return v.value if isinstance(v, Enum) else v


@cli_errors
def augment_cli(
    ctx: typer.Context,
    split: Annotated[str, typer.Argument(help=HELP["split"])],
    method: Annotated[
        list[Method] | None,
        typer.Option("--method", "-m", help=HELP["method"]),
    ] = None,
    only_labels: Annotated[
        list[str] | None, typer.Option("--only-labels", help=HELP["only_labels"])
    ] = None,
    max_per_label: Annotated[int | None, typer.Option("--max-per-label", help=HELP["max_per_label"], min=1)] = None,
    n_per_example: Annotated[int, typer.Option("--n-per-example", help=HELP["n_per_example"], min=1)] = 1,
    translator: Annotated[
        str,
        typer.Option(
            "--translator",
            help=HELP["translator"],
        ),
    ] = "google",
    pivot: Annotated[list[str] | None, typer.Option("--pivot", help=HELP["pivot"])] = None,
    source_lang: Annotated[str, typer.Option("--source-lang", help=HELP["source_lang"])] = "ko",
    min_similarity: Annotated[float, typer.Option("--min-similarity", help=HELP["min_similarity"])] = 0.9,
    embedder: Annotated[str | None, typer.Option("--embedder", help=HELP["embedder"])] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help=HELP["cache"], dir_okay=False)
    ] = None,
    max_tries: Annotated[int, typer.Option("--max-tries", help=HELP["max_tries"], min=1)] = 5,
    batch_size: Annotated[int, typer.Option("--batch-size", help=HELP["batch_size"], min=1)] = 32,
    timeout: Annotated[float, typer.Option("--timeout", help=HELP["timeout"])] = 30.0,
    swap_role: Annotated[SwapRole, typer.Option("--swap-role", help=HELP["swap_role"])] = SwapRole.either,
    aeda_ratio: Annotated[float, typer.Option("--aeda-ratio", help=HELP["aeda_ratio"], min=0.0, max=1.0)] = 0.3,
    undersample_label: Annotated[str, typer.Option("--undersample-label", help=HELP["undersample_label"])] = "no_relation",
    max_count: Annotated[int | None, typer.Option("--max-count", help=HELP["max_count"], min=0)] = None,
    max_ratio: Annotated[float | None, typer.Option("--max-ratio", help=HELP["max_ratio"])] = None,
    seed: SeedOpt = 42,
    root: RootOpt = Path("."),
    labels: LabelsOpt = None,
    name: SlugOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Augment the training rows of a split and write augments/<id>/ (valid.csv is copied untouched).

    Methods combine: `kre augment splits/latest -m entity-swap -m aeda -m undersample --max-ratio 0.2`.
    Back-translation (`-m backtranslate --embedder MODEL`) protects both entities, keeps round trips
    with cosine similarity >= --min-similarity, and caches every translation so a re-run resumes.
    """
    from .. import console
    from ..augment.pipeline import growth_message
    from ..phases.augment import AugmentConfig, augment

    values = dict(
        method=method, only_labels=only_labels, max_per_label=max_per_label, n_per_example=n_per_example,
        translator=translator, pivot=pivot, source_lang=source_lang, min_similarity=min_similarity, embedder=embedder,
        cache=cache, max_tries=max_tries, batch_size=batch_size, timeout=timeout, swap_role=swap_role,
        aeda_ratio=aeda_ratio, undersample_label=undersample_label, max_count=max_count, max_ratio=max_ratio,
        seed=seed, root=root, labels=labels, name=name,
    )  # fmt: skip
    v = merge_config(ctx, load_config(config), values)
    v["method"] = [str(_value(m)) for m in (v["method"] or [])]
    v["swap_role"] = str(_value(v["swap_role"]))
    artifact = augment(AugmentConfig(split=split, **v))
    import json

    report = json.loads(artifact.file("report.json").read_text(encoding="utf-8"))
    rows = [
        (m, r["tried"], r["kept"], r["dropped_total"], ", ".join(f"{k} {n}" for k, n in r["dropped"].items()) or "-")
        for m in artifact.params["methods"]
        for r in [report["methods"][m]]
    ]
    console.print_table(f"Augmented {report['input']}", ["method", "tried", "kept", "dropped", "why"], rows)
    r = report["rows"]
    console.result(growth_message(artifact.id, r, report["duration_s"]))
    if report.get("interrupted"):
        console.warn(f"back-translation was cut short: {report['interrupted']} (see report.json)")
