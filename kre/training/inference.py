"""Class probabilities of a model for encoded rows: streamed in length order, float32, bounded memory."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import console


def predict_probs(model: Any, dataset: Any, *, pad_token_id: int, batch_size: int, device: Any,
                  description: str = "predict") -> np.ndarray:
    """Softmax probabilities (float32, dataset order) of `model` for an encoded `datasets.Dataset`.

    Rows are scored longest first in batches of `batch_size` (the least padding), read
    from the memory-mapped dataset one batch at a time; only the (rows x labels) result
    grows. Shows a progress bar and logs rows/s.
    """
    import torch

    from ..modeling.collate import Collator
    from .fit import length_order

    n = len(dataset)
    order = length_order(dataset["length"]) if n else np.zeros(0, dtype=np.int64)
    collate = Collator(pad_token_id)
    probs: np.ndarray | None = None
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    pin = getattr(device, "type", str(device)) == "cuda"
    with torch.inference_mode(), console.progress(description, total=n) as task:
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            columns = dataset[idx.tolist()]
            rows = [{k: columns[k][i] for k in columns} for i in range(len(idx))]
            batch = collate(rows)
            batch.pop("labels", None)
            if pin:
                batch = {k: v.pin_memory() for k, v in batch.items()}
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            logits = model(**batch)
            part = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if probs is None:
                probs = np.empty((n, part.shape[1]), dtype=np.float32)
            probs[idx] = part
            task.advance(len(idx))
    if was_training:
        model.train()
    seconds = time.perf_counter() - started
    if n:
        console.info(f"{description}: {n} rows in {seconds:.1f}s ({n / max(seconds, 1e-9):.0f} rows/s)")
    return probs if probs is not None else np.zeros((0, 0), dtype=np.float32)
