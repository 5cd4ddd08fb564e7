"""Classification losses: cross-entropy, label smoothing, focal, LDAM, with optional class weights.

Every loss is an `nn.Module` called as `loss(logits, labels)`; labels equal to -100 are
ignored. With class weights the loss is the weighted mean
`sum_i w[y_i] * l_i / sum_i w[y_i]` (as `torch.nn.functional.cross_entropy` does), so
focal loss with `gamma=0` equals cross-entropy with the same weights.

Class weights (`class_weights`) from training class counts `n_j`:
`inverse` = 1/n_j, `sqrt-inverse` = 1/sqrt(n_j), then scaled so the mean weight over
classes is 1. A class with zero count (absent from training) is given the weight of the
rarest observed class: it never occurs as a training target, and a finite weight keeps
validation losses defined when it does occur there.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .choices import ClassWeights, values

IGNORE_INDEX = -100


def _counts(class_counts: Sequence[int] | None, num_labels: int, why: str) -> torch.Tensor:
    if class_counts is None:
        raise ConfigError(f"{why} needs the training class counts")
    counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
    if counts.numel() != num_labels:
        raise ConfigError(f"class_counts has {counts.numel()} entries, expected {num_labels}")
    if (counts < 0).any() or counts.sum() <= 0:
        raise ConfigError("class_counts must be non-negative and not all zero")
    return counts


def class_weight_vector(kind: str, class_counts: Sequence[int] | None, num_labels: int) -> torch.Tensor | None:
    """Per-class weights (mean 1) for `inverse`/`sqrt-inverse`, or None for `none`."""
    kind = kind.value if isinstance(kind, Enum) else kind
    if kind == "none":
        return None
    if kind not in values(ClassWeights):
        raise ConfigError(f"unknown class weights '{kind}'", hint="choose none, inverse or sqrt-inverse")
    counts = _counts(class_counts, num_labels, f"class weights '{kind}'")
    safe = counts.clone()
    safe[safe == 0] = counts[counts > 0].min()
    weights = 1.0 / safe if kind == "inverse" else 1.0 / safe.sqrt()
    weights = weights / weights.mean()
    return weights.float()


def _weighted_mean(per_example: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of `per_example` over the labelled rows (weighted by `weight[label]`); 0 when none is labelled.

    Written without data-dependent branches or boolean indexing, so it never waits for the GPU.
    """
    valid = (labels != IGNORE_INDEX).to(per_example.dtype)
    w = valid if weight is None else weight.to(per_example.device, per_example.dtype)[labels.clamp(min=0)] * valid
    return (per_example * w).sum() / w.sum().clamp(min=torch.finfo(per_example.dtype).tiny)


class CrossEntropy(nn.Module):
    """Cross-entropy with optional label smoothing and class weights."""

    def __init__(self, weight: torch.Tensor | None = None, smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)
        self.smoothing = float(smoothing)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(logits.dtype) if self.weight is not None else None
        # reduction "none" then the weighted mean by hand: equal to PyTorch's mean, and 0 (not NaN)
        # for a batch without labels, with no host sync
        per = F.cross_entropy(logits, labels, weight=weight, ignore_index=IGNORE_INDEX,
                              label_smoothing=self.smoothing, reduction="none")
        valid = (labels != IGNORE_INDEX).to(per.dtype)
        denom = valid if weight is None else weight[labels.clamp(min=0)] * valid
        return per.sum() / denom.sum().clamp(min=torch.finfo(per.dtype).tiny)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): `-(1 - p_t)^gamma * log p_t`, optional class weights."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=-1)
        safe = labels.clamp(min=0)
        logp_t = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
        p_t = logp_t.exp()
        per = -((1.0 - p_t).clamp(min=0) ** self.gamma) * logp_t
        return _weighted_mean(per, labels, self.weight)


class LDAMLoss(nn.Module):
    """LDAM (Cao et al. 2019): subtract a class margin `m_j ∝ n_j^-1/4` from the true logit, scale, cross-entropy.

    Margins are scaled so the largest is `max_margin`; classes with zero count get the
    largest margin. Follows the authors' code (margin on the logit, then `scale *`
    logits); the paper pairs it with a normalised (cosine) last layer, our heads use a
    plain linear layer, so a smaller `scale` may suit.
    """

    def __init__(self, class_counts: Sequence[int], max_margin: float = 0.5, scale: float = 30.0,
                 weight: torch.Tensor | None = None) -> None:
        super().__init__()
        counts = _counts(class_counts, len(class_counts), "LDAM")
        safe = counts.clone()
        safe[safe == 0] = 1.0
        margins = 1.0 / safe.pow(0.25)
        margins = margins * (max_margin / margins.max())
        margins[counts == 0] = max_margin
        self.register_buffer("margins", margins.float(), persistent=False)
        self.scale = float(scale)
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        safe = labels.clamp(min=0)
        onehot = F.one_hot(safe, logits.size(-1)).to(logits.dtype)
        adjusted = logits - onehot * self.margins[safe].unsqueeze(1)
        per = F.cross_entropy(self.scale * adjusted, safe, reduction="none")
        return _weighted_mean(per, labels, self.weight)


def build_loss(
    name: str,
    num_labels: int,
    *,
    class_counts: Sequence[int] | None = None,
    smoothing: float = 0.1,
    gamma: float = 2.0,
    class_weights: str = "none",
    ldam_max_margin: float = 0.5,
    ldam_scale: float = 30.0,
) -> nn.Module:
    """The loss module for `--loss NAME` (ce, label-smoothing, focal, ldam) and `--class-weights`."""
    name = name.value if isinstance(name, Enum) else name
    weight = class_weight_vector(class_weights, class_counts, num_labels)
    if name == "ce":
        return CrossEntropy(weight)
    if name == "label-smoothing":
        if not 0.0 <= smoothing < 1.0:
            raise ConfigError(f"smoothing must be in [0, 1), got {smoothing}")
        return CrossEntropy(weight, smoothing)
    if name == "focal":
        return FocalLoss(gamma, weight)
    if name == "ldam":
        counts = _counts(class_counts, num_labels, "LDAM")
        return LDAMLoss(counts.tolist(), ldam_max_margin, ldam_scale, weight)
    raise ConfigError(f"unknown loss '{name}'", hint="choose ce, label-smoothing, focal or ldam")
