"""Phases: one function per phase, taking one config object and returning the artifact it published.

    kre/commands/  (Typer: options only)  ->  kre/phases/  (XConfig + x(config) -> Artifact)  ->  library packages

`kre run` pipelines, `kre sweep` and `kre demo` call these functions, as the CLI commands do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ..artifacts import Artifact
from ..errors import ConfigError
from . import augment, eda, ensemble, errors, predict, split, tapt, train
from .base import Phase, assign_arguments, field_names, normalise_keys, unknown_option

PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase("eda", "eda", eda.EdaConfig, eda.eda, ("data",)),
        Phase("split", "splits", split.SplitConfig, split.split, ("data",)),
        Phase("augment", "augments", augment.AugmentConfig, augment.augment, ("split",)),
        Phase("tapt", "tapt", tapt.TaptConfig, tapt.tapt, ("sources",)),
        Phase("train", "runs", train.TrainJob, train.train, ("data",), nested="config"),
        Phase("predict", "predictions", predict.PredictConfig, predict.predict, ("run", "data")),
        Phase("ensemble", "ensembles", ensemble.EnsembleConfig, ensemble.ensemble, ("members",)),
        Phase("errors", "errors", errors.ErrorsConfig, errors.errors, ("source",)),
    )
}

#: The artifact kind each phase publishes.
PHASE_KINDS = {name: p.kind for name, p in PHASES.items()}

_NOT_OPTIONS = {"callbacks", "lr_auto"}  # lr_auto comes from `lr = "auto:LRFIND"`


def option_names(phase: str) -> list[str]:
    """Every key a pipeline step (or sweep) may set for `phase`, snake_case."""
    p = PHASES[phase]
    names = [n for n in field_names(p.config) if n not in _NOT_OPTIONS and n != p.nested]
    if p.nested:
        nested_cls = next(f for f in fields(p.config) if f.name == p.nested).default_factory  # type: ignore[misc]
        names += [n for n in field_names(nested_cls) if n not in _NOT_OPTIONS]  # type: ignore[arg-type]
    return names


def build_config(phase: str, args: Sequence[Any] = (), options: Mapping[str, Any] | None = None, *,
                 where: str | None = None, **overrides: Any) -> Any:
    """The phase's config object from positional arguments and option keys (kebab or snake case).

    Unknown keys raise ConfigError naming the closest option names; `overrides` (e.g. root=) win.
    """
    p = PHASES[phase]
    where = where or f"kre {phase}"
    values = assign_arguments(p, args, where)
    opts = {**normalise_keys(options or {}), **overrides}
    known = option_names(phase)
    for key in opts:
        if key not in known:
            raise unknown_option(key, known, where)
    own = set(field_names(p.config)) - {p.nested}
    values.update({k: v for k, v in opts.items() if k in own})
    if p.nested:
        from ..training.config import TrainConfig

        nested = {k: v for k, v in opts.items() if k not in own}
        try:
            values[p.nested] = TrainConfig.from_dict(nested)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    try:
        return p.config(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None


def run_phase(phase: str, config: Any) -> Artifact:
    """Run one phase with its config; return the artifact it published."""
    from ..errors import KreError

    artifact = PHASES[phase].run(config)
    if artifact is None:
        raise KreError(f"{phase}: nothing was published (not the main process)")
    return artifact


__all__ = ["PHASES", "PHASE_KINDS", "Phase", "build_config", "option_names", "run_phase"]
