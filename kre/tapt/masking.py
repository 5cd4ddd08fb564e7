"""Tokenise texts once, and mask them for masked-LM training (whole-word where possible).

Word boundaries come from the fast tokenizer's pre-tokenizer (`word_ids()`), which covers
WordPiece (`##` continuations) and sentencepiece (`▁` word starts) alike. For a slow
tokenizer the token strings are inspected instead; when neither works masking falls
back to single tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: word id of special tokens ([CLS], [SEP], ...): never masked.
SPECIAL = -1
IGNORE = -100


@dataclass
class Encoded:
    """Token ids and word ids (SPECIAL for special tokens) of each text."""

    input_ids: list[list[int]]
    word_ids: list[list[int]]
    scheme: str  # "whole-word (...)" or "token"

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]

    def subset(self, indices: Sequence[int]) -> "Encoded":
        return Encoded([self.input_ids[i] for i in indices], [self.word_ids[i] for i in indices], self.scheme)


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


def encode_texts(tokenizer: Any, texts: Sequence[str], *, max_length: int, whole_word: bool = True, chunk: int = 2000) -> Encoded:
    """Tokenise every text once (truncated to `max_length`), with word ids for masking."""
    scheme = word_scheme(tokenizer) if whole_word else "token"
    ids_out: list[list[int]] = []
    words_out: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        batch = list(texts[start : start + chunk])
        enc = tokenizer(batch, truncation=True, max_length=max_length, return_special_tokens_mask=True)
        for i, ids in enumerate(enc["input_ids"]):
            special = [bool(s) for s in enc["special_tokens_mask"][i]]
            if scheme == "pre-tokenizer":
                wids = enc.word_ids(i)
                words = [SPECIAL if s or w is None else w for w, s in zip(wids, special)]
            elif scheme in ("wordpiece", "sentencepiece"):
                words = words_from_tokens(tokenizer.convert_ids_to_tokens(ids), special, scheme)
            else:
                words = words_from_tokens([""] * len(ids), special, "token")
            ids_out.append(list(ids))
            words_out.append(words)
    label = "token" if scheme == "token" else f"whole-word ({scheme})"
    return Encoded(ids_out, words_out, label)


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
    """Pads a batch to its longest text and masks it; deterministic given the rng."""

    def __init__(self, tokenizer: Any, probability: float, vocab_size: int | None = None) -> None:
        if tokenizer.mask_token_id is None:
            raise ValueError("tokenizer has no mask token")
        self.mask_id = int(tokenizer.mask_token_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.vocab_size = int(vocab_size or len(tokenizer))
        self.special_ids = {int(i) for i in tokenizer.all_special_ids if i is not None}
        self.probability = probability

    def __call__(self, data: Encoded, indices: Sequence[int], rng: np.random.Generator) -> dict[str, Any]:
        import torch

        width = max(len(data.input_ids[i]) for i in indices)
        ids = torch.full((len(indices), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(indices), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            masked, lab = mask_sequence(
                data.input_ids[i],
                data.word_ids[i],
                probability=self.probability,
                mask_id=self.mask_id,
                vocab_size=self.vocab_size,
                special_ids=self.special_ids,
                rng=rng,
            )
            n = len(masked)
            ids[row, :n] = torch.tensor(masked)
            labels[row, :n] = torch.tensor(lab)
            attention[row, :n] = 1
        return {"input_ids": ids, "attention_mask": attention, "labels": labels}


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, mega: int = 50) -> list[list[int]]:
    """Shuffled batches of similar-length texts (little padding), like HF's LengthGroupedSampler."""
    order = rng.permutation(len(lengths))
    size = batch_size * mega
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        group = sorted(order[start : start + size].tolist(), key=lambda i: -lengths[i])
        batches.extend(group[k : k + batch_size] for k in range(0, len(group), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[int(k)] for k in perm]
