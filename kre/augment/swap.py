"""`entity-swap`: replace the subject or object with another entity of the same type and label."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from ..data import Example
from .common import MethodStats, derived, entities_overlap, replace_entity, row_rng

METHOD = "entity-swap"
ROLES = ("subject", "object")

Pools = dict[tuple[str, str, str], list[str]]


def build_pools(examples: Iterable[Example]) -> Pools:
    """Distinct entity words by (label, role, type), sorted (so choices are reproducible)."""
    pools: dict[tuple[str, str, str], set[str]] = {}
    for ex in examples:
        if ex.label is None:
            continue
        for role in ROLES:
            entity = getattr(ex, role)
            pools.setdefault((ex.label, role, entity.type), set()).add(entity.word)
    return {k: sorted(v) for k, v in pools.items()}


def _pick(pool: list[str], excluded: set[str], rng: random.Random) -> str | None:
    """A random word of the pool that is not excluded (pools can hold thousands of words)."""
    for _ in range(16):  # rejection sampling: fast when few words are excluded
        if not pool:
            return None
        word = pool[rng.randrange(len(pool))]
        if word not in excluded:
            return word
    choices = [w for w in pool if w not in excluded]
    return rng.choice(choices) if choices else None


def entity_swap(
    parents: Sequence[Example],
    *,
    pools: Pools,
    n_per_example: int = 1,
    seed: int = 0,
    role: str = "either",
    stats: MethodStats | None = None,
) -> list[Example]:
    """Up to `n_per_example` new rows per parent, each with one entity swapped.

    Args:
        parents: rows to augment.
        pools: candidate words from `build_pools` (rows with the same label).
        role: `subject`, `object`, or `either` (chosen at random per new row).
    """
    if role not in (*ROLES, "either"):
        raise ValueError(f"role must be subject, object or either, not {role!r}")
    stats = stats if stats is not None else MethodStats()
    out: list[Example] = []
    for ex in parents:
        stats.tried += n_per_example
        if ex.label is None:
            stats.drop("unlabeled", n_per_example)
            continue
        if entities_overlap(ex):
            stats.drop("overlapping_entities", n_per_example)
            continue
        rng = row_rng(seed, METHOD, ex.id)
        used: set[tuple[str, str]] = set()
        for k in range(1, n_per_example + 1):
            roles = [role] if role != "either" else rng.sample(ROLES, 2)
            made = False
            for r in roles:
                target = getattr(ex, r)
                other = ex.object if r == "subject" else ex.subject
                excluded = {target.word, other.word} | {w for role_, w in used if role_ == r}
                word = _pick(pools.get((ex.label, r, target.type), []), excluded, rng)
                if word is None:
                    continue
                used.add((r, word))
                sentence, subject, obj = replace_entity(ex, r, word)
                out.append(derived(ex, METHOD, k, sentence, subject, obj))
                made = True
                break
            if not made:
                stats.drop("no_candidate")
    return out
