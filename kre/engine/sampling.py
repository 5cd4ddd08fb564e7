"""Training order for `kre train` and `kre tapt`: batches of similar length, batch order shuffled.

Trainer's own `group_by_length` sampler sorts every mega-batch longest first and never
shuffles the batches, so within each run of 50 batches the model sees lengths fall
steadily from the longest sentences to the shortest: consecutive gradients are
correlated and fine-tuning learns more slowly (measured on the demo data, see
the CHANGELOG). kre shuffles the rows, cuts mega-batches, sorts each by length, cuts
batches and then shuffles the batch order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, mega: int = 50) -> list[list[int]]:
    """Every index once, in shuffled batches of similar-length texts (little padding)."""
    order = rng.permutation(len(lengths))
    size = batch_size * mega
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        group = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches.extend(group[k : k + batch_size] for k in range(0, len(group), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[int(k)] for k in perm]


class LengthGroupedSampler:
    """Training order: `length_grouped_batches` of the epoch, flattened (a torch sampler).

    The order depends only on (`seed`, epoch), set by the Trainer through `set_epoch`, so a
    resumed run replays the same batches. The batch with the longest text comes first (an
    out-of-memory error shows at once) and a short batch last (the DataLoader's batches
    stay aligned with the groups). `on_epoch` is told each new epoch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int,
                 on_epoch: Callable[[int], None] | None = None) -> None:
        self.lengths = [int(x) for x in lengths]
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.on_epoch = on_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.on_epoch is not None:
            self.on_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        batches = length_grouped_batches(self.lengths, self.batch_size, np.random.default_rng([self.seed, self.epoch]))
        if batches:
            longest = max(range(len(batches)), key=lambda k: max(self.lengths[i] for i in batches[k]))
            batches.insert(0, batches.pop(longest))
            short = [b for b in batches if len(b) < self.batch_size]
            batches = [b for b in batches if len(b) == self.batch_size] + short
        for batch in batches:
            yield from batch
