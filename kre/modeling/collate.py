"""Per-batch padding (length-grouped batch orders are Trainer's `train_sampling_strategy="group_by_length"`)."""

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
