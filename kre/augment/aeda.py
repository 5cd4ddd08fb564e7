"""`aeda`: insert random punctuation between words, never inside an entity (Karimi et al., 2021)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..data import Example
from .common import MethodStats, derived, insert_text, row_rng

METHOD = "aeda"
PUNCTUATION = (".", ";", "?", ":", "!", ",")
_WORD = re.compile(r"\S+")


def word_starts(example: Example) -> list[int]:
    """Character positions where a word starts and punctuation may go (not inside an entity)."""
    s, o = example.subject, example.object
    return [
        p
        for p in (m.start() for m in _WORD.finditer(example.sentence))
        if not (s.start < p <= s.end or o.start < p <= o.end)
    ]


def aeda(
    parents: Sequence[Example],
    *,
    n_per_example: int = 1,
    seed: int = 0,
    ratio: float = 0.3,
    punctuation: Sequence[str] = PUNCTUATION,
    stats: MethodStats | None = None,
) -> list[Example]:
    """Up to `n_per_example` new rows per parent with 1..max(1, ratio * words) marks inserted.

    Each mark is written as `<mark> ` in front of a word, so words stay intact and the
    entities keep their text; their offsets move by what was inserted before them.
    """
    stats = stats if stats is not None else MethodStats()
    out: list[Example] = []
    for ex in parents:
        stats.tried += n_per_example
        positions = word_starts(ex)
        if not positions:
            stats.drop("no_position", n_per_example)
            continue
        rng = row_rng(seed, METHOD, ex.id)
        seen: set[str] = set()
        limit = max(1, int(ratio * len(positions)))
        for k in range(1, n_per_example + 1):
            count = rng.randint(1, min(limit, len(positions)))
            chosen = sorted(rng.sample(positions, count), reverse=True)  # right to left: earlier offsets stay valid
            sentence, subject, obj = ex.sentence, ex.subject, ex.object
            for pos in chosen:
                sentence, subject, obj = insert_text(sentence, subject, obj, pos, rng.choice(punctuation) + " ")
            if sentence in seen:
                stats.drop("duplicate")
                continue
            seen.add(sentence)
            out.append(derived(ex, METHOD, k, sentence, subject, obj))
    return out
