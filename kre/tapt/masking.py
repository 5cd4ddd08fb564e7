"""Tokenise texts once (a cached `datasets.Dataset`), and mask them for masked-LM training
(whole-word where possible) in a Trainer data collator; length-grouped training order.

Word boundaries come from the fast tokenizer's pre-tokenizer (`word_ids()`), which covers
WordPiece (`##` continuations) and sentencepiece (`▁` word starts) alike. For a slow
tokenizer the token strings are inspected instead; when neither works masking falls
back to single tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..console import debug

#: word id of special tokens ([CLS], [SEP], ...): never masked.
SPECIAL = -1
IGNORE = -100


def word_scheme(tokenizer: Any) -> str:
    """How word boundaries are found: 'pre-tokenizer', 'wordpiece', 'sentencepiece' or 'token'."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if getattr(tokenizer, "is_fast", False) and backend is not None and backend.pre_tokenizer is not None:
        return "pre-tokenizer"
    vocab = list(tokenizer.get_vocab())
    if any(t.startswith("##") for t in vocab[:5000]):
        return "wordpiece"
    if any(t.startswith("\u2581") for t in vocab[:5000]):
        return "sentencepiece"
    return "token"


def words_from_tokens(tokens: Sequence[str], special: Sequence[bool], scheme: str) -> list[int]:
    """Word ids from token strings (`##x` continues a word; `▁x` starts one)."""
    out: list[int] = []
    word = -1
    for i, (tok, is_special) in enumerate(zip(tokens, special)):
        if is_special:
            out.append(SPECIAL)
            continue
        if scheme == "wordpiece":
            starts = not tok.startswith("##") or word < 0
        elif scheme == "sentencepiece":
            starts = tok.startswith("\u2581") or word < 0
        else:
            starts = True
        if starts:
            word += 1
        out.append(word)
    return out


#: Bump when the encoded columns change for the same inputs (invalidates cached files).
ENCODING_VERSION = 1


@dataclass
class EncodedTexts:
    """Texts tokenised once: a `datasets.Dataset` with `input_ids`, `word_ids`, `length`, `idx`."""

    dataset: Any
    scheme: str  # "whole-word (...)" or "token"
    cached: bool = False  # True when read back from the on-disk cache (nothing was encoded)

    def __len__(self) -> int:
        return len(self.dataset)


def _words_of(tokenizer: Any, enc: Any, i: int, ids: Sequence[int], scheme: str) -> list[int]:
    special = [bool(s) for s in enc["special_tokens_mask"][i]]
    if scheme == "pre-tokenizer":
        return [SPECIAL if s or w is None else w for w, s in zip(enc.word_ids(i), special)]
    if scheme in ("wordpiece", "sentencepiece"):
        return words_from_tokens(tokenizer.convert_ids_to_tokens(list(ids)), special, scheme)
    return words_from_tokens([""] * len(ids), special, "token")


def tokenizer_definition(tokenizer: Any) -> str:
    """Hash of what the tokenizer produces: its serialized definition without the truncation and
    padding state (calling the tokenizer with `truncation=True` changes that state)."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        digest.update(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode("utf-8"))
    specials = {k: str(v) for k, v in sorted(getattr(tokenizer, "special_tokens_map", {}).items())}
    digest.update(json.dumps(specials, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def texts_key(tokenizer: Any, texts: Sequence[str], *, max_length: int, scheme: str) -> str:
    """The cache key of one encoding job: texts, tokenizer definition, length limit, word scheme."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    parts = [ENCODING_VERSION, digest.hexdigest(), tokenizer_definition(tokenizer), max_length, scheme]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:32]


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int,
    whole_word: bool = True,
    cache_dir: str | Path | None = None,
) -> EncodedTexts:
    """Tokenise every text once (truncated to `max_length`) with word ids for masking.

    A batched `Dataset.map` writes `<cache_dir>/tapt-<key>.arrow` (default: `$KRE_CACHE/encodings`
    or `~/.cache/kre/encodings`), memory-mapped afterwards; the same texts, tokenizer and
    options later open that file and encode nothing. An unwritable cache folder falls back
    to encoding in memory.
    """
    from datasets import Dataset, Features, Sequence as Seq, Value, disable_progress_bars

    from ..modeling.encoding import default_cache_dir, map_cached

    disable_progress_bars()
    scheme = word_scheme(tokenizer) if whole_word else "token"
    label = "token" if scheme == "token" else f"whole-word ({scheme})"
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"tapt-{texts_key(tokenizer, texts, max_length=max_length, scheme=scheme)}.arrow"

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length, return_special_tokens_mask=True)
        ids = enc["input_ids"]
        return {
            "input_ids": ids,
            "word_ids": [_words_of(tokenizer, enc, i, x, scheme) for i, x in enumerate(ids)],
            "length": [len(x) for x in ids],
            "idx": batch["idx"],
        }

    features = Features({"input_ids": Seq(Value("int32")), "word_ids": Seq(Value("int32")),
                         "length": Value("int32"), "idx": Value("int64")})
    rows = Dataset.from_dict({"text": list(texts), "idx": list(range(len(texts)))})
    options: dict[str, Any] = dict(batched=True, batch_size=2000, remove_columns=["text"], features=features)
    dataset, cached = map_cached(rows, encode, path, options)
    debug(f"tapt encodings: cache hit {path}" if cached else f"tapt encodings: {len(texts)} texts encoded ({path})")
    return EncodedTexts(dataset, label, cached=cached)


def choose_masked(word_ids: Sequence[int], probability: float, rng: np.random.Generator) -> list[int]:
    """Positions to predict: whole words drawn at random until ~`probability` of the tokens are covered.

    A word that would overshoot the budget is skipped (as in BERT's whole-word masking);
    at least one word is always chosen when the text has any.
    """
    groups: dict[int, list[int]] = {}
    for pos, w in enumerate(word_ids):
        if w != SPECIAL:
            groups.setdefault(w, []).append(pos)
    if not groups:
        return []
    words = list(groups.values())
    n_tokens = sum(len(g) for g in words)
    budget = max(1, int(round(n_tokens * probability)))
    chosen: list[int] = []
    for k in rng.permutation(len(words)):
        group = words[int(k)]
        if len(chosen) >= budget:
            break
        if len(chosen) + len(group) > budget:
            continue
        chosen.extend(group)
    if not chosen:
        chosen = list(words[int(rng.integers(len(words)))])
    return sorted(chosen)


def mask_sequence(
    input_ids: Sequence[int],
    word_ids: Sequence[int],
    *,
    probability: float,
    mask_id: int,
    vocab_size: int,
    special_ids: set[int],
    rng: np.random.Generator,
) -> tuple[list[int], list[int]]:
    """Masked inputs and labels (IGNORE where nothing is predicted): 80% [MASK], 10% random, 10% kept."""
    ids = list(input_ids)
    labels = [IGNORE] * len(ids)
    for pos in choose_masked(word_ids, probability, rng):
        labels[pos] = ids[pos]
        r = rng.random()
        if r < 0.8:
            ids[pos] = mask_id
        elif r < 0.9:
            tok = int(rng.integers(vocab_size))
            while tok in special_ids:
                tok = int(rng.integers(vocab_size))
            ids[pos] = tok
    return ids, labels


class MaskCollator:
    """Pads a batch of encoded texts to its longest one and masks it (a Trainer data collator).

    The masks of a text depend only on (`seed`, epoch, the text's `idx`): they change from
    epoch to epoch, and a resumed run draws exactly the masks the uninterrupted run drew,
    whatever state the global random generators are in. With `fixed=True` the epoch is
    ignored (held-out texts get the same masks before and after training).
    """

    def __init__(self, tokenizer: Any, probability: float, vocab_size: int | None = None, *, seed: int = 0,
                 fixed: bool = False) -> None:
        if tokenizer.mask_token_id is None:
            raise ValueError("tokenizer has no mask token")
        self.mask_id = int(tokenizer.mask_token_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.vocab_size = int(vocab_size or len(tokenizer))
        self.special_ids = {int(i) for i in tokenizer.all_special_ids if i is not None}
        self.probability = probability
        self.seed = int(seed)
        self.fixed = fixed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the sampler at the start of each epoch."""
        self.epoch = int(epoch)

    def rng(self, idx: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 1 if self.fixed else 0, 0 if self.fixed else self.epoch, int(idx)])

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            masked, lab = mask_sequence(
                f["input_ids"],
                f["word_ids"],
                probability=self.probability,
                mask_id=self.mask_id,
                vocab_size=self.vocab_size,
                special_ids=self.special_ids,
                rng=self.rng(f["idx"]),
            )
            n = len(masked)
            ids[row, :n] = torch.tensor(masked)
            labels[row, :n] = torch.tensor(lab)
            attention[row, :n] = 1
        return {"input_ids": ids, "attention_mask": attention, "labels": labels}
