"""Relation classifiers: a pretrained encoder (AutoModel) plus a `cls`, `entity` or `lstm` head.

- `cls`: the first token's state -> dropout -> linear.
- `entity`: concat of the first-token, subject-start and object-start states ->
  dense -> tanh -> dropout -> linear (the "entity start" pooling of Zhou & Chen 2021).
- `lstm`: a BiLSTM (hidden/2 units per direction) over all non-padding token states
  (packed, so padding never reaches it); its outputs at the first token, the subject
  start and the object start are concatenated -> dropout -> linear.

A saved model folder (`save_model`) holds the encoder (`config.json` + weights, loadable
with `AutoModel`), the tokenizer, `head.safetensors` and `kre_model.json` describing the
template, head and labels; `load_model` rebuilds it offline from that folder alone.
"""

from __future__ import annotations

import inspect
import json
import logging
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ArtifactError, ConfigError
from .choices import HeadName

META_FILE = "kre_model.json"
HEAD_FILE = "head.safetensors"
FORMAT_VERSION = 1


def _quiet_transformers() -> None:
    logging.getLogger("transformers.modeling_utils").setLevel(logging.ERROR)


def load_encoder(name_or_path: str | Path, config: Any = None) -> nn.Module:
    """`AutoModel.from_pretrained` with SDPA attention (eager when unsupported), without a pooler."""
    from transformers import AutoModel

    _quiet_transformers()
    kwargs: dict[str, Any] = {}
    if config is not None:
        kwargs["config"] = config
    kwargs.setdefault("dtype", torch.float32)  # not the checkpoint's own dtype: a half-precision save trains in fp32
    last: Exception | None = None
    for attn in ("sdpa", "eager"):
        for pool in (True, False):
            extra = dict(kwargs, attn_implementation=attn)
            if pool:
                extra["add_pooling_layer"] = False
            try:
                return AutoModel.from_pretrained(str(name_or_path), **extra)
            except (TypeError, ValueError) as exc:  # no add_pooling_layer / no sdpa for this architecture
                last = exc
            except OSError as exc:
                raise ConfigError(f"cannot load model '{name_or_path}': {_one_line(exc)}",
                                  hint="give a local model folder (the hub is offline) or a tapt/<id> artifact") from None
            except Exception as exc:  # noqa: BLE001 - e.g. a pickled pytorch_model.bin refused by weights_only loading
                raise ConfigError(f"cannot load the weights of '{name_or_path}': {_one_line(exc)}",
                                  hint="give a model folder with model.safetensors (kre never unpickles model files)") from None
    raise ConfigError(f"cannot load model '{name_or_path}': {last}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


class RelationClassifier(nn.Module):
    """Encoder + relation head; `forward(...)` returns logits of shape (batch, num_labels)."""

    def __init__(self, encoder: nn.Module, *, head: str, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        head = head.value if isinstance(head, Enum) else head
        if head not in {h.value for h in HeadName}:
            raise ConfigError(f"unknown head '{head}'", hint="choose cls, entity or lstm")
        self.encoder = encoder
        self.head_name = head
        self.num_labels = int(num_labels)
        self.dropout_p = float(dropout)
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        if head == "cls":
            self.classifier = nn.Linear(hidden, num_labels)
        elif head == "entity":
            self.dense = nn.Linear(3 * hidden, hidden)
            self.classifier = nn.Linear(hidden, num_labels)
        else:
            half = max(1, hidden // 2)  # per direction, so the BiLSTM output is as wide as the encoder's
            self.lstm = nn.LSTM(hidden, half, batch_first=True, bidirectional=True)
            self.classifier = nn.Linear(3 * 2 * half, num_labels)
        self._init_head()
        params = inspect.signature(encoder.forward).parameters
        type_vocab = int(getattr(encoder.config, "type_vocab_size", 0) or 0)
        self._use_token_types = "token_type_ids" in params and type_vocab > 1

    def _init_head(self) -> None:
        std = float(getattr(self.encoder.config, "initializer_range", 0.02))
        for module in self.head_modules():
            for name, p in module.named_parameters():
                if isinstance(module, nn.Linear) and name == "weight":
                    nn.init.normal_(p, mean=0.0, std=std)
                elif isinstance(module, nn.Linear) and name == "bias":
                    nn.init.zeros_(p)

    def head_modules(self) -> list[nn.Module]:
        """The modules that are not part of the encoder."""
        return [m for n, m in self.named_children() if n != "encoder"]

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights of the head only (what `head.safetensors` holds)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        subj_pos: torch.Tensor | None = None,
        obj_pos: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self._use_token_types:
            kwargs["token_type_ids"] = token_type_ids
        states = self.encoder(**kwargs).last_hidden_state  # (B, T, H)
        if self.head_name == "cls":
            return self.classifier(self.dropout(states[:, 0]))
        if subj_pos is None or obj_pos is None:
            raise ValueError(f"the '{self.head_name}' head needs subj_pos and obj_pos")
        rows = torch.arange(states.size(0), device=states.device)
        if self.head_name == "lstm":
            states = self._bilstm(states, attention_mask)
        pooled = torch.cat([states[:, 0], states[rows, subj_pos], states[rows, obj_pos]], dim=-1)
        if self.head_name == "entity":
            pooled = torch.tanh(self.dense(self.dropout(pooled)))
        return self.classifier(self.dropout(pooled))

    def _bilstm(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()
        dtype = states.dtype
        lstm_dtype = next(self.lstm.parameters()).dtype
        packed = pack_padded_sequence(states.to(lstm_dtype), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=states.size(1))
        return out.to(dtype)

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs: dict[str, Any] | None = None,
                                        every_n_layers: int = 1, offload: bool = False) -> None:
        """For `--trainer gradient_checkpointing=true`: recompute the encoder's activations in the backward pass."""
        enable = getattr(self.encoder, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs=activation_checkpointing_kwargs, every_n_layers=every_n_layers,
                   offload=offload)
        else:  # transformers before the rename
            self.encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=activation_checkpointing_kwargs)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None,
                                      **kwargs: Any) -> None:
        """The older name of `activation_checkpointing_enable`."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def optimizer_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Parameter groups for AdamW: no weight decay on biases and LayerNorm weights; frozen ones left out."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name or name.endswith("norm.weight") \
                    or getattr(p, "_kre_no_decay", False):
                no_decay.append(p)
            else:
                decay.append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _encoder_layers(encoder: nn.Module) -> nn.ModuleList | None:
    """The encoder's list of transformer blocks, found by common attribute paths, else the largest ModuleList."""
    for path in ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "layer"):
        obj: Any = encoder
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList) and len(obj) > 0:
            return obj
    lists = [m for m in encoder.modules() if isinstance(m, nn.ModuleList)]
    return max(lists, key=len) if lists else None


def freeze_lower_layers(model: RelationClassifier | nn.Module, ratio: float) -> int:
    """Freeze the embeddings and the lowest `round(ratio * n_layers)` encoder layers; return that number.

    Rows of the word embedding matrix for tokens added by `build_model` (the marker
    tokens) stay trainable: the embedding matrix keeps `requires_grad` but a gradient
    hook zeroes the rows of the original vocabulary, and the matrix is flagged to be
    left out of weight decay (`optimizer_groups`), so the original rows do not change.
    `ratio=0` freezes nothing.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"freeze ratio must be in [0, 1], got {ratio}")
    if ratio == 0:
        return 0
    encoder = model.encoder if isinstance(model, RelationClassifier) else model
    layers = _encoder_layers(encoder)
    if layers is None:
        raise ConfigError(f"cannot find the encoder layers of {type(encoder).__name__} to freeze")
    n = int(round(ratio * len(layers)))
    embeddings = getattr(encoder, "embeddings", None)
    word = encoder.get_input_embeddings()
    if embeddings is not None:
        for p in embeddings.parameters():
            p.requires_grad_(False)
    else:
        word.weight.requires_grad_(False)
    added = int(getattr(model, "num_added_tokens", 0) or 0)
    if added > 0:
        keep_from = word.weight.size(0) - added
        word.weight.requires_grad_(True)
        word.weight._kre_no_decay = True  # type: ignore[attr-defined]

        def _only_new_rows(grad: torch.Tensor) -> torch.Tensor:
            grad = grad.clone()
            grad[:keep_from] = 0
            return grad

        word.weight.register_hook(_only_new_rows)
    for layer in list(layers)[:n]:
        for p in layer.parameters():
            p.requires_grad_(False)
    return n


def build_model(
    model_name_or_path: str | Path,
    *,
    head: str,
    num_labels: int,
    tokenizer: Any,
    dropout: float = 0.1,
) -> RelationClassifier:
    """Load the encoder, resize its embeddings to the tokenizer (after `prepare_tokenizer`), add the head."""
    encoder = load_encoder(model_name_or_path)
    old = encoder.get_input_embeddings().weight.size(0)
    new = len(tokenizer)
    if new != old:
        encoder.resize_token_embeddings(new)
    model = RelationClassifier(encoder, head=head, num_labels=num_labels, dropout=dropout)
    model.num_added_tokens = max(0, new - old)
    model.base_model_name = str(model_name_or_path)
    return model


def save_model(
    model: RelationClassifier,
    tokenizer: Any,
    folder: str | Path,
    *,
    template: Any,
    head: str,
    labels: Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a model folder: encoder (save_pretrained), tokenizer, `head.safetensors`, `kre_model.json`.

    `template` is a `TemplateConfig` (or its dict), `labels` a `LabelSet` or a list of names.
    Works on a DDP-wrapped model too (the wrapped module is saved).
    """
    from safetensors.torch import save_file

    from .. import __version__
    from ..fileio import write_json

    model = getattr(model, "module", model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.head_state_dict().items()}
    save_file(state, str(folder / HEAD_FILE))
    names = list(getattr(labels, "names", labels))
    head = head.value if isinstance(head, Enum) else head
    meta = {
        "format": FORMAT_VERSION,
        "kre_version": __version__,
        "template": template.to_dict() if hasattr(template, "to_dict") else dict(template),
        "head": head,
        "dropout": model.dropout_p,
        "labels": names,
        "num_labels": len(names),
        "base_model": getattr(model, "base_model_name", None),
        "model_type": getattr(model.encoder.config, "model_type", None),
        "extra": extra or {},
    }
    write_json(folder / META_FILE, meta)
    return folder


def read_meta(folder: str | Path) -> dict[str, Any]:
    """Read `kre_model.json` of a saved model folder."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder}: not a kre model folder ({META_FILE} missing)",
                            hint="pass a runs/<id> artifact or its model/ folder") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from None
    for key in ("template", "head", "labels", "num_labels"):
        if key not in meta:
            raise ArtifactError(f"{path}: missing '{key}'")
    return meta


def load_model(folder: str | Path, device: str | torch.device | None = None) -> tuple[RelationClassifier, Any, dict[str, Any]]:
    """Rebuild a saved model offline: `(model in eval mode, tokenizer, meta)`.

    `meta["template"]` is returned as a `TemplateConfig`, `meta["label_set"]` as a `LabelSet`.
    """
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from ..labels import LabelSet
    from .templates import TemplateConfig

    folder = Path(folder)
    meta = read_meta(folder)
    if not (folder / HEAD_FILE).exists():
        raise ArtifactError(f"{folder}: {HEAD_FILE} missing")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder = load_encoder(folder)
    model = RelationClassifier(encoder, head=meta["head"], num_labels=int(meta["num_labels"]),
                               dropout=float(meta.get("dropout", 0.1)))
    state = load_file(str(folder / HEAD_FILE))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("encoder.")]
    if missing or unexpected:
        raise ArtifactError(f"{folder / HEAD_FILE}: head weights do not match (missing {missing}, unexpected {unexpected})")
    model.base_model_name = meta.get("base_model")
    model.num_added_tokens = 0
    if device is not None:
        model.to(device)
    model.eval()
    meta = dict(meta)
    meta["template"] = TemplateConfig.from_dict(meta["template"])
    meta["label_set"] = LabelSet(tuple(meta["labels"]))
    return model, tokenizer, meta
