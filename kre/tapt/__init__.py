"""Task-adaptive pretraining: masked-LM training of an encoder on the task's own texts.

Modules: `texts` (collect and deduplicate sentences), `model` (train a WordPiece tokenizer,
build a small BERT, or load an existing masked LM), `masking` (tokenise once into a cached
`datasets.Dataset`, whole-word masking collator, length-grouped sampler), `trainer` (masked-LM
training on `transformers.Trainer` with kre's callbacks and checkpoints), `run` (`run_tapt`,
which publishes a `tapt/` artifact that loads with the Auto classes).
"""

from __future__ import annotations

from .pretrain import run_tapt

__all__ = ["run_tapt"]
