"""What every phase shares: building its config from positional arguments and option keys."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from ..artifacts import Artifact
from ..errors import ConfigError


@dataclass(frozen=True)
class Phase:
    """One phase: its config class, its function, the artifact kind it publishes, its positional fields."""

    name: str
    kind: str
    config: type
    run: Callable[[Any], Artifact]
    #: config fields given as positional arguments (`kre <phase> A B`, pipeline `args`); a list field takes the rest
    arguments: tuple[str, ...]
    #: fields that are not options of the config class itself but of a nested one (train: TrainConfig)
    nested: str | None = None


def field_names(cls: type) -> list[str]:
    """The dataclass fields of `cls` (snake_case)."""
    return [f.name for f in fields(cls)]


def required_fields(cls: type) -> list[str]:
    """Fields without a default."""
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]  # type: ignore[misc]


def unknown_option(key: str, known: Sequence[str], where: str) -> ConfigError:
    """A one-line error naming the closest option names."""
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(k.replace('_', '-') for k in close)}?" if close else f"options: {', '.join(sorted(k.replace('_', '-') for k in known))}"
    return ConfigError(f"{where}: unknown option '{key.replace('_', '-')}'", hint=hint)


def normalise_keys(options: Mapping[str, Any]) -> dict[str, Any]:
    """kebab-case or snake_case keys -> snake_case."""
    return {str(k).replace("-", "_"): v for k, v in options.items()}


def assign_arguments(phase: Phase, args: Sequence[Any], where: str) -> dict[str, Any]:
    """Positional arguments -> config fields (the last list-typed field takes all the rest)."""
    values: dict[str, Any] = {}
    rest = list(args)
    list_fields = {f.name for f in fields(phase.config) if str(f.type).startswith("list")}
    for name in phase.arguments:
        if name in list_fields:
            values[name], rest = rest, []
        elif rest:
            values[name] = rest.pop(0)
    if rest:
        raise ConfigError(f"{where}: {len(args)} arguments, `{phase.name}` takes {len(phase.arguments)} ({', '.join(phase.arguments)})")
    return values
