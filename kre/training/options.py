"""Parsing and checks of the seed-spread, curriculum and LR-finder options of `kre train`."""

from __future__ import annotations

from ..errors import ConfigError

CURRICULA = ("length", "confidence:RUN")


def parse_seeds(text: str) -> list[int]:
    """`"1,2,3"` -> [1, 2, 3]; "" -> []. Refuses empty items, non-integers, negatives and repeats."""
    if not str(text).strip():
        return []
    seeds: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise ConfigError(f"--seeds {text}: has an empty item", hint="e.g. --seeds 1,2,3")
        try:
            seed = int(item)
        except ValueError:
            raise ConfigError(f"--seeds {text}: '{item}' is not an integer", hint="e.g. --seeds 1,2,3") from None
        if seed < 0:
            raise ConfigError(f"--seeds {text}: seeds must not be negative, got {seed}")
        if seed in seeds:
            raise ConfigError(f"--seeds {text}: seed {seed} is repeated")
        seeds.append(seed)
    if len(seeds) < 2:
        raise ConfigError(f"--seeds {text}: give at least two seeds (one seed is --seed)")
    return seeds


def check_curriculum(text: str) -> tuple[str, str]:
    """`""` -> ("", ""); "length" -> ("length", ""); "confidence:RUN" -> ("confidence", RUN)."""
    text = str(text or "").strip()
    if not text:
        return "", ""
    if text == "length":
        return "length", ""
    if text.startswith("confidence:"):
        run = text.split(":", 1)[1].strip()
        if not run:
            raise ConfigError("--curriculum confidence: needs a run", hint="e.g. --curriculum confidence:runs/0003-... (a k-fold run)")
        return "confidence", run
    raise ConfigError(f"--curriculum must be one of {', '.join(CURRICULA)}, got '{text}'")


def parse_lr(text: str) -> tuple[float | None, str]:
    """`--lr` text: a positive float, or `auto:LRFIND` (an lrfind/ artifact ref) -> (lr or None, ref)."""
    text = str(text).strip()
    if text.startswith("auto:"):
        ref = text[5:].strip()
        if not ref:
            raise ConfigError("--lr auto: needs an lrfind artifact", hint="e.g. --lr auto:lrfind/latest (made by kre train --find-lr)")
        return None, ref if "/" in ref else f"lrfind/{ref}"
    try:
        return float(text), ""
    except ValueError:
        raise ConfigError(f"--lr {text}: not a number or auto:LRFIND", hint="e.g. --lr 5e-5 or --lr auto:lrfind/latest") from None
