"""Checks made before any training or prediction work starts, and quieter transformers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import console
from ..errors import ConfigError

#: Subject types the label set knows (org:* needs ORG, per:* needs PER); others allow every label.
KNOWN_SUBJECT_TYPES = ("PER", "ORG")


def quiet_transformers() -> None:
    """No transformers progress bars or info logs (kre shows its own progress)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def position_limit(model_path: str) -> int | None:
    """How many tokens the model can take (its position embeddings), or None when it does not say."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError):
        return None  # the model loader reports an unusable model folder
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "longformer", "bart"):
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1  # positions start after the padding index
    return limit


def check_max_length(model_path: str, max_length: int) -> None:
    """Refuse `--max-length` above the model's position limit (it would fail only after an epoch)."""
    limit = position_limit(model_path)
    if limit is not None and max_length > limit:
        raise ConfigError(f"--max-length {max_length} is above the model's limit of {limit} tokens",
                          hint=f"use --max-length {limit} or less")


def warn_unknown_subject_types(examples: Sequence[Any], where: str) -> int:
    """Warn once when unlabeled rows have a subject type the label set does not know; return their count."""
    odd = [e for e in examples if e.subject.type not in KNOWN_SUBJECT_TYPES]
    if odd:
        first = ", ".join(str(e.id) for e in odd[:5])
        types = ", ".join(sorted({e.subject.type for e in odd})[:5])
        console.warn(f"{where}: {len(odd)} row(s) have a subject type other than PER/ORG ({types}; ids {first}"
                     f"{', ...' if len(odd) > 5 else ''}); they are scored, and --restrict-types allows every label for them")
    return len(odd)
