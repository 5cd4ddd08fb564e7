"""Training and inference: `kre train` / `kre predict` as library calls.

- `config`: `TrainConfig` (every option, to_dict/from_dict; `trainer` holds TrainingArguments overrides).
- `training_run`: `train(data=, config=, root=, test=, resume=)` -> one training run, published as `runs/<id>/`.
- `fit`: one model on `transformers.Trainer` (kre's loss, metrics, best-model saving).
- `inference`: streamed, length-ordered class probabilities; `predict`: `predict(run=, data=, root=)`.
- `data`: the data artifact and folds; `checks`: refusals before any work;
  `reports`: plots. DDP processes: `kre.engine.ranks`.
"""

from .config import TrainConfig

__all__ = ["TrainConfig"]
