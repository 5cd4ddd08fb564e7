"""Per-batch padding and length-grouped batch orders (single process and DDP)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

IGNORE_INDEX = -100


class Collator:
    """Pad a list of encodings (from `encode_examples`) to the longest one in the batch.

    Returns a dict of torch tensors: `input_ids`, `attention_mask`, `token_type_ids`
    (only when the encodings have them), `subj_pos`, `obj_pos`, `labels` (-100 when an
    encoding has none). `length` and unknown keys are dropped. Padding is on the right.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if not features:
            raise ValueError("empty batch")
        lengths = [len(f["input_ids"]) for f in features]
        width = max(lengths)
        m = self.pad_to_multiple_of
        if m and width % m:
            width += m - width % m
        n = len(features)
        ids = np.full((n, width), self.pad_token_id, dtype=np.int64)
        attn = np.zeros((n, width), dtype=np.int64)
        has_types = "token_type_ids" in features[0]
        types = np.zeros((n, width), dtype=np.int64) if has_types else None
        for i, (f, k) in enumerate(zip(features, lengths)):
            ids[i, :k] = f["input_ids"]
            attn[i, :k] = 1
            if types is not None:
                types[i, :k] = f["token_type_ids"]
        batch: dict[str, Any] = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(attn)}
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        batch["subj_pos"] = torch.tensor([int(f.get("subj_pos", 0)) for f in features], dtype=torch.long)
        batch["obj_pos"] = torch.tensor([int(f.get("obj_pos", 0)) for f in features], dtype=torch.long)
        batch["labels"] = torch.tensor([int(f.get("labels", IGNORE_INDEX)) for f in features], dtype=torch.long)
        return batch


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    *,
    mega_batch_factor: int = 50,
) -> list[list[int]]:
    """Batches of indices whose members have similar lengths.

    With `shuffle`: indices are shuffled (per `seed`), cut into mega-batches of
    `mega_batch_factor * batch_size`, each sorted by length (longest first) and cut into
    batches; the batch order is then shuffled, so each epoch (pass `seed + epoch`)
    differs but is reproducible. Without `shuffle` (evaluation): all indices sorted by
    length, longest first, cut into batches — the least padding; restore the original
    order with the returned indices. Every index appears exactly once.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    n = len(lengths_arr)
    if n == 0:
        return []
    if not shuffle:
        order = np.argsort(-lengths_arr, kind="stable")
        return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    mega = max(1, mega_batch_factor) * batch_size
    batches: list[list[int]] = []
    for m in range(0, n, mega):
        chunk = perm[m : m + mega]
        chunk = chunk[np.argsort(-lengths_arr[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's share of a batch list for DDP: disjoint, and the same number of batches on every rank.

    Every rank must compute `batches` with the same seed. Batches are dealt round-robin;
    the last `len(batches) % world_size` batches are left out this epoch (a new seed per
    epoch leaves out different examples), so all ranks take the same number of steps.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"bad rank {rank} for world size {world_size}")
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]


def distributed_length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int,
    rank: int,
    world_size: int,
    shuffle: bool = True,
) -> list[list[int]]:
    """`length_grouped_batches` followed by `shard_batches` (per-rank batch size = `batch_size`)."""
    return shard_batches(length_grouped_batches(lengths, batch_size, seed, shuffle), rank, world_size)
