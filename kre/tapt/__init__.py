"""Task-adaptive pretraining: masked-LM training of an encoder on the task's own texts.

Modules: `texts` (collect and deduplicate sentences), `model` (train a WordPiece tokenizer,
build a small BERT, or load an existing masked LM), `masking` (tokenise once, whole-word
masking, length-grouped batches), `train` (the MLM loop with checkpoints), `run` (`run_tapt`,
which publishes a `tapt/` artifact that loads with the Auto classes).
"""

from __future__ import annotations

from .run import run_tapt

__all__ = ["run_tapt"]
