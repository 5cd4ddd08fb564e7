"""The augment phase: more training rows (back-translation, entity swap, AEDA), undersampling -> `augments/<id>/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import Artifact
from ..errors import ConfigError

METHODS = ("backtranslate", "entity-swap", "aeda", "undersample")
SWAP_ROLES = ("either", "subject", "object")


@dataclass
class AugmentConfig:
    """Options of `kre augment` (pipeline keys are these names)."""

    split: str | Path = ""
    method: list[str] = field(default_factory=list)
    only_labels: list[str] | None = None
    max_per_label: int | None = None
    n_per_example: int = 1
    translator: str = "google"
    pivot: list[str] | None = None
    source_lang: str = "ko"
    min_similarity: float = 0.9
    embedder: str | None = None
    cache: str | Path | None = None
    max_tries: int = 5
    batch_size: int = 32
    timeout: float = 30.0
    swap_role: str = "either"
    aeda_ratio: float = 0.3
    undersample_label: str = "no_relation"
    max_count: int | None = None
    max_ratio: float | None = None
    seed: int = 42
    root: str | Path = "."
    labels: str | Path | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        self.method = [str(m) for m in (self.method or [])]
        bad = [m for m in self.method if m not in METHODS]
        if bad:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got '{bad[0]}'")
        if self.swap_role not in SWAP_ROLES:
            raise ConfigError(f"--swap-role must be one of {', '.join(SWAP_ROLES)}, got '{self.swap_role}'")

    @property
    def label_filter(self) -> list[str] | None:
        """--only-labels, repeated or comma-separated."""
        if not self.only_labels:
            return None
        return [p.strip() for v in self.only_labels for p in str(v).split(",") if p.strip()]


def augment(config: AugmentConfig) -> Artifact:
    """Augment the split's training rows and publish the new split (valid.csv copied untouched)."""
    from ..augment import run_augment
    from ..labels import LabelSet

    timeout = float(config.timeout) if config.timeout and float(config.timeout) > 0 else None
    return run_augment(
        split=config.split, root=Path(config.root), methods=list(config.method), seed=int(config.seed),
        only_labels=config.label_filter, max_per_label=config.max_per_label, n_per_example=int(config.n_per_example),
        labels=LabelSet.load(config.labels) if config.labels else None, slug=config.name,
        translator_name=str(config.translator), pivots=list(config.pivot or ["en"]), source_lang=config.source_lang,
        min_similarity=float(config.min_similarity), embedder=config.embedder,
        cache=Path(config.cache) if config.cache else None, max_tries=int(config.max_tries),
        batch_size=int(config.batch_size), timeout=timeout, swap_role=config.swap_role,
        aeda_ratio=float(config.aeda_ratio), undersample_label=config.undersample_label,
        max_count=config.max_count, max_ratio=config.max_ratio,
    )
