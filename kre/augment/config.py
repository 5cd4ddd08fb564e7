"""Augmentation options: one dataclass that `kre augment`, pipeline files and `run_augment` share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    def pivots(self) -> list[str]:
        """--pivot languages (default en)."""
        return list(self.pivot or ["en"])

    @property
    def timeout_s(self) -> float | None:
        """--timeout in seconds, None for no limit (0 or less)."""
        return float(self.timeout) if self.timeout and float(self.timeout) > 0 else None

    @property
    def label_filter(self) -> list[str] | None:
        """--only-labels, repeated or comma-separated."""
        if not self.only_labels:
            return None
        return [p.strip() for v in self.only_labels for p in str(v).split(",") if p.strip()]


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "split": "A splits/ or augments/ artifact: folder, splits/latest, splits/NNNN.",
    "method": "Method to apply; repeat to combine (backtranslate, entity-swap, aeda, undersample).",
    "only_labels": "Augment only rows with these labels (repeat or comma-separate).",
    "max_per_label": "At most this many new rows per label.",
    "n_per_example": "New rows per original row (entity-swap, aeda).",
    "translator": "google or mymemory (web services, no API key), or local:MODEL_OR_PATH: a local seq2seq model through transformers (NLLB/M2M100 folder or hub id, or one Marian model per direction: local:Helsinki-NLP/opus-mt-{src}-{tgt}); batched, on the GPU when there is one.",
    "pivot": "Pivot language(s) for back-translation (default en).",
    "source_lang": "Language of the data.",
    "min_similarity": "Keep round trips with cosine >= this.",
    "embedder": "Sentence-embedding model folder or hub id for the similarity filter.",
    "cache": "SQLite translation cache (default $KRE_CACHE or ~/.cache/kre/translations.sqlite).",
    "max_tries": "Tries per translation on rate limits / network errors.",
    "batch_size": "Texts per translation batch (each batch is committed to the cache).",
    "timeout": "Seconds before one translation request counts as failed.",
    "swap_role": "Which entity entity-swap replaces.",
    "aeda_ratio": "AEDA inserts 1..ratio*words punctuation marks.",
    "undersample_label": "Label that undersample caps.",
    "max_count": "undersample: keep at most this many rows of the label.",
    "max_ratio": "undersample: the label's largest share of the resulting train.csv (0-1).",
}
