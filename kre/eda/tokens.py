"""Token lengths of sentences under a model's tokenizer (for `kre eda --model`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..artifacts import KINDS, ArtifactStore
from ..data import Example
from ..errors import ConfigError, KreError
from .stats import TokenLengths


def resolve_model(model: str, root: str | Path = ".") -> str:
    """A local folder, an artifact reference (`tapt/latest`, `runs/0003`) or a hub id, as a loadable name."""
    path = Path(model)
    if path.is_dir():
        return str(path)
    head = model.split("/")[0]
    if head in KINDS:
        artifact = ArtifactStore(root).resolve(model)
        folder = artifact.path / "model" if (artifact.path / "model").is_dir() else artifact.path
        return str(folder)
    return model


def load_tokenizer(model: str, root: str | Path = ".") -> Any:
    """Load a tokenizer with AutoTokenizer; a failure becomes one ConfigError line."""
    name = resolve_model(model, root)
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        return AutoTokenizer.from_pretrained(name)
    except KreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loading failure is a user error here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"--model {model}: cannot load a tokenizer ({first})",
            hint="give a local model folder, a tapt/runs artifact, or a hub id that is in the local cache",
        ) from None


def token_lengths(tokenizer: Any, examples: Sequence[Example], model: str) -> TokenLengths:
    """Token count of each row's sentence (special tokens included) and the token index of its later entity end."""
    sentences = sorted({e.sentence for e in examples})
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        encodings = dict(zip(sentences, backend.encode_batch(sentences)))
        lengths, ends = [], []
        for ex in examples:
            enc = encodings[ex.sentence]
            lengths.append(len(enc.ids))
            ends.append(_token_of_char(enc, max(ex.subject.end, ex.object.end)))
        return TokenLengths(model, lengths, ends)
    # Slow (Python) tokenizers: count tokens of the sentence and of its prefix up to the later entity.
    n_special = len(tokenizer.build_inputs_with_special_tokens([])) if hasattr(tokenizer, "build_inputs_with_special_tokens") else 0
    lengths, ends = [], []
    cache: dict[str, int] = {}
    for ex in examples:
        if ex.sentence not in cache:
            cache[ex.sentence] = len(tokenizer(ex.sentence, add_special_tokens=True)["input_ids"])
        lengths.append(cache[ex.sentence])
        prefix = ex.sentence[: max(ex.subject.end, ex.object.end) + 1]
        ends.append(len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) - 1 + (1 if n_special else 0))
    return TokenLengths(model, lengths, ends)


def _token_of_char(encoding: Any, char: int) -> int:
    """Index of the token that holds `char` (the nearest token before it when the char has none)."""
    for c in range(char, -1, -1):
        index = encoding.char_to_token(c)
        if index is not None:
            return int(index)
    return 0
