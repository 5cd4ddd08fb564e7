"""Collecting the fold runs of one k-fold training (`kre train --folds K --fold i`, one job per GPU)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.probs import ProbsTable
from ..errors import KreError
from .members import Member


def check_fold_members(members: list[Member]) -> dict[str, Any]:
    """The members must be single-fold runs of the same k-fold training, each fold once.

    Returns a summary (folds, present and missing fold numbers, data artifact).
    """
    infos = []
    for m in members:
        art = m.source.artifact
        params = art.params if art is not None else {}
        if art is None or art.kind != "runs" or params.get("fold") is None or int(params.get("folds") or 0) < 2:
            raise KreError(
                f"{m.name}: not a single-fold run (made with `kre train --folds K --fold i`)",
                hint="--folds collects fold runs; ensemble other runs without it",
            )
        if m.valid is None:
            raise KreError(f"{m.name}: has no valid_probs.csv, so its out-of-fold probabilities are missing")
        infos.append((int(params["fold"]), int(params["folds"]), str(params.get("data")), m.name))
    ks = {k for _, k, _, _ in infos}
    datas = {d for _, _, d, _ in infos}
    if len(ks) > 1 or len(datas) > 1:
        raise KreError(
            "fold runs disagree: " + "; ".join(f"{name}: fold {f} of {k} on {d}" for f, k, d, name in infos),
            hint="collect the folds of one training (same --folds and data)",
        )
    numbers = [f for f, _, _, _ in infos]
    repeated = sorted({f for f in numbers if numbers.count(f) > 1})
    if repeated:
        raise KreError(f"fold {repeated[0]} is given more than once")
    k = ks.pop()
    seen: dict[str, str] = {}
    for m in members:
        for ex_id in m.valid.ids:  # type: ignore[union-attr]
            if ex_id in seen:
                raise KreError(f"id {ex_id} is in the validation rows of both {seen[ex_id]} and {m.name}")
            seen[ex_id] = m.name
    return {"folds": k, "present": sorted(numbers), "missing": sorted(set(range(k)) - set(numbers)), "data": datas.pop()}


def out_of_fold(members: list[Member]) -> ProbsTable:
    """The members' validation rows concatenated in fold order: out-of-fold probabilities."""
    ordered = sorted(members, key=lambda m: int(m.source.artifact.params["fold"]))  # type: ignore[union-attr]
    ids: list[str] = []
    gold: list[str] = []
    parts = []
    for m in ordered:
        assert m.valid is not None and m.valid.gold is not None
        ids += m.valid.ids
        gold += m.valid.gold
        parts.append(m.valid.probs)
    return ProbsTable(ids, np.concatenate(parts), ordered[0].valid.labels, gold)  # type: ignore[union-attr]
