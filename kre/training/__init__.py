"""Training and inference: `kre train` / `kre predict` as library calls.

- `config`: `TrainConfig` (every option, to_dict/from_dict).
- `run`: `train(data=, config=, root=, test=, resume=)` -> a published `runs/` artifact.
- `trainer`: the resumable, DDP-aware loop (`Fitter`), `predict_probs`.
- `predict`: `predict(run=, data=, root=)` -> a published `predictions/` artifact.
- `distributed`: torchrun/DDP setup; `checkpoint`: resumable state; `reports`: plots, trackers.
"""

from .config import TrainConfig

__all__ = ["TrainConfig"]
