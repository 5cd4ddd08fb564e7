"""Training options: one dataclass that the CLI, config files and manifests share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from enum import Enum

from ..errors import ConfigError
from ..modeling.choices import ClassWeights, HeadName, LossName, values
from ..modeling.templates import Marker, TypeWords


class OptimizerName(str, Enum):
    """`--optimizer`."""

    adamw = "adamw"
    adafactor = "adafactor"


class ReportTo(str, Enum):
    """`--report-to`."""

    none = "none"
    wandb = "wandb"
    mlflow = "mlflow"
    tensorboard = "tensorboard"


class DeviceName(str, Enum):
    """`--device`."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


MARKERS = values(Marker)
TYPE_WORDS = values(TypeWords)
HEADS = values(HeadName)
LOSSES = values(LossName)
CLASS_WEIGHTS = values(ClassWeights)
OPTIMIZERS = values(OptimizerName)
REPORT_TO = values(ReportTo)
DEVICES = values(DeviceName)


@dataclass
class TrainConfig:
    """Every option of `kre train` (resolved values are stored as the run's manifest params)."""

    model: str = ""
    marker: str = "typed-marker-punct"
    query: bool = False
    type_words: str = "ko"
    head: str = "entity"
    loss: str = "label-smoothing"
    smoothing: float = 0.1
    gamma: float = 2.0
    class_weights: str = "none"
    dropout: float = 0.1
    epochs: int = 3
    max_steps: int = 0
    lr: float = 5e-5
    batch_size: int = 32
    eval_batch_size: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    freeze_ratio: float = 0.0
    max_length: int = 256
    fp16: bool = False
    bf16: bool = False
    grad_accum: int = 1
    seed: int = 42
    eval_every: int = 0
    early_stopping: int = 0
    restrict_types: bool = False
    report_to: str = "none"
    folds: int = 0
    fold: int | None = None
    device: str = "auto"
    #: TrainingArguments overrides (`--trainer KEY=VALUE`, a `[trainer]` table), typed by kre.engine.parse_overrides
    trainer: dict[str, Any] = field(default_factory=dict)
    #: `--seeds 1,2,3`: one run per seed, grouped (kre.training.seeds); "" = one run with `seed`
    seeds: str = ""
    #: `--calibrate`: temperature-scale valid/test probabilities with T fitted on validation (kre.training.calibrate)
    calibrate: bool = False
    #: `--curriculum length|confidence:RUN`: first epoch easy to hard (kre.training.curriculum); "" = off
    curriculum: str = ""
    #: `--lr auto:LRFIND`: take --lr from an lrfind/ artifact (kre.training.lr_finder); "" = use `lr`
    lr_auto: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.seeds, (list, tuple)):  # `seeds = [1, 2, 3]` in a config file
            self.seeds = ",".join(str(s) for s in self.seeds)
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for an impossible combination of options."""
        choices = {
            "marker": MARKERS,
            "type_words": TYPE_WORDS,
            "head": HEADS,
            "loss": LOSSES,
            "class_weights": CLASS_WEIGHTS,
            "optimizer": OPTIMIZERS,
            "report_to": REPORT_TO,
            "device": DEVICES,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got '{value}'")
        positive = ("batch_size", "eval_batch_size", "grad_accum", "max_length")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.epochs < 1 and self.max_steps < 1:
            raise ConfigError("--epochs must be at least 1 (or give --max-steps)")
        for name in ("lr", "smoothing", "gamma", "dropout", "warmup_ratio", "weight_decay", "freeze_ratio"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
        if self.lr <= 0:
            raise ConfigError("--lr must be positive")
        for name in ("warmup_ratio", "freeze_ratio", "smoothing", "dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0 or (name == "freeze_ratio" and value > 1.0):
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        if self.fp16 and self.bf16:
            raise ConfigError("--fp16 and --bf16 exclude each other")
        if self.max_length < 16:
            raise ConfigError("--max-length must be at least 16")
        if self.folds < 0 or self.folds == 1:
            raise ConfigError("--folds must be 0 (use valid.csv) or at least 2")
        if self.fold is not None and (self.folds < 2 or not 0 <= self.fold < self.folds):
            raise ConfigError(f"--fold must be in 0..{max(self.folds - 1, 0)} and needs --folds", hint="e.g. --folds 5 --fold 0")
        if self.eval_every < 0 or self.early_stopping < 0 or self.max_steps < 0:
            raise ConfigError("--eval-every, --early-stopping and --max-steps must not be negative")
        from .options import check_curriculum, parse_seeds

        parse_seeds(self.seeds)
        check_curriculum(self.curriculum)
        if self.lr_auto and not self.lr_auto.strip():
            raise ConfigError("--lr auto: needs an lrfind artifact, e.g. --lr auto:lrfind/latest")

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "bf16" if self.bf16 else "fp32"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (kebab- or snake-case keys); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        norm = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(norm) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}", hint=f"options: {', '.join(sorted(known))}")
        if isinstance(norm.get("lr"), str):  # `lr = "auto:lrfind/latest"` (or a number as text)
            from .options import parse_lr

            lr, norm["lr_auto"] = parse_lr(norm["lr"])
            norm["lr"] = lr if lr is not None else cls.lr
        if "trainer" in norm:
            from ..engine import parse_overrides

            norm["trainer"] = parse_overrides(norm["trainer"] or {})
        return cls(**norm)
