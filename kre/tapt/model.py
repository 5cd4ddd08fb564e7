"""Tokenizer training and model building for TAPT: a new small BERT, or an existing masked LM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import Artifact, ArtifactStore
from ..errors import ArtifactError, ConfigError, KreError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: Position embeddings of a new model: room for `kre train --max-length` up to this.
SCRATCH_MAX_POSITIONS = 512


def train_tokenizer(texts: Sequence[str], *, vocab_size: int = 8000, max_length: int = SCRATCH_MAX_POSITIONS) -> Any:
    """A WordPiece tokenizer trained on `texts` (NFKC, BERT pre-tokenizer, BERT special tokens).

    Returns a `PreTrainedTokenizerFast` that encodes single texts as `[CLS] A [SEP]` and
    pairs as `[CLS] A [SEP] B [SEP]` with token_type_ids 0/1.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 200:
        raise ConfigError(f"--vocab-size {vocab_size} is too small", hint="use at least 200 (8000 is a good size for Korean)")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=2, show_progress=False
    )
    tok.train_from_iterator(texts, trainer, length=len(texts))
    tok = _canonical_ids(tok)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max(max_length, SCRATCH_MAX_POSITIONS),
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def _canonical_ids(trained: Any) -> Any:
    """The same WordPiece vocabulary with ids in a fixed order (special tokens, words, ##pieces).

    The trainer numbers tokens in hash-map order, which changes from run to run; greedy
    longest-match WordPiece encoding does not depend on the ids, so renumbering is safe
    and makes the same vocabulary give the same ids (and the same model) every time.
    """
    from tokenizers import Tokenizer, models

    vocab = trained.get_vocab()
    rest = sorted((t for t in vocab if t not in SPECIAL_TOKENS), key=lambda t: (t.startswith("##"), t))
    ordered = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *rest])}
    tok = Tokenizer(models.WordPiece(vocab=ordered, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = trained.normalizer
    tok.pre_tokenizer = trained.pre_tokenizer
    tok.decoder = trained.decoder
    return tok


def build_scratch_model(tokenizer: Any, *, layers: int = 4, hidden: int = 256, heads: int = 4, seed: int = 42) -> Any:
    """A randomly initialised `BertForMaskedLM` sized for `tokenizer` (intermediate size 4 x hidden)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    if layers < 1 or hidden < 8 or heads < 1:
        raise ConfigError("--layers, --hidden and --heads must be positive (hidden at least 8)")
    if hidden % heads:
        raise ConfigError(f"--hidden {hidden} is not divisible by --heads {heads}", hint="e.g. --hidden 256 --heads 4")
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=SCRATCH_MAX_POSITIONS,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return BertForMaskedLM(config)


@dataclass
class BaseModel:
    """A model to continue pretraining, and where it came from."""

    tokenizer: Any
    model: Any
    ref: str
    path: Path | None
    artifact: Artifact | None


def _looks_like_ref(text: str) -> bool:
    from ..artifacts import KINDS

    parts = text.rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] in KINDS and not Path(text).exists()


def resolve_model_path(ref: str, store: ArtifactStore) -> tuple[str, Artifact | None]:
    """A hub id or a folder; `tapt/<id>` (or any artifact folder holding a model) resolves through the store."""
    path = Path(ref)
    if (path / "manifest.json").is_file() or _looks_like_ref(ref):
        artifact = store.resolve(ref)
        folder = artifact.path
        if not (folder / "config.json").is_file() and (folder / "model" / "config.json").is_file():
            folder = folder / "model"
        if not (folder / "config.json").is_file():
            raise ArtifactError(f"{ref}: artifact {artifact.id} holds no model (no config.json)", hint="pass a tapt/ artifact or a model folder")
        return str(folder), artifact
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--model {ref}: not a model folder", hint="pass a Hugging Face model folder or hub id")
    return ref, None


def load_base_model(ref: str, store: ArtifactStore) -> BaseModel:
    """Load tokenizer + masked-LM model from a hub id, a folder or a tapt artifact.

    A checkpoint without MLM head weights (e.g. a plain `BertModel`) gets a freshly
    initialised head whose decoder stays tied to the word embeddings.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    location, artifact = resolve_model_path(ref, store)
    path = Path(location) if Path(location).is_dir() else None
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import torch

        tokenizer = AutoTokenizer.from_pretrained(location)
        # float32 weights whatever the checkpoint's dtype: mixed precision needs fp32 master weights
        model = AutoModelForMaskedLM.from_pretrained(location, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KreError(
            f"--model {ref}: cannot load a masked-LM model and tokenizer ({first})",
            hint="give a local model folder or tapt/<id>; without a model hub use --from-scratch",
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"--model {ref}: the tokenizer has no mask token, so it cannot do masked-LM training")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return BaseModel(tokenizer, model, ref, path, artifact)


def max_positions(model: Any, tokenizer: Any) -> int:
    """The longest input the model accepts (RoBERTa-style models reserve 2 positions)."""
    config = model.config
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"):
        limit -= 2
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limit = min(limit, tok_limit)
    return limit
