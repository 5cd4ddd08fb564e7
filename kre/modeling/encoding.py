"""Tokenize examples once, find the entity tokens, truncate around the entities, cache.

`encode_examples` renders each example with its template, tokenizes all of them in one
batch call of the fast tokenizer (with offset mapping) and maps the entity character
spans to token indices. Each encoding is a dict:

- `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer returns them):
  lists of ints, unpadded;
- `subj_pos`, `obj_pos`: index of the subject / object start-marker token (for `none`
  and `entity-mask`: the first token of the entity / the mask token);
- `labels`: the label id, or -100 for an unlabeled example;
- `length`: the number of tokens.

Entity-aware truncation (design §5). Only the sentence segment is ever shortened; the
special tokens ([CLS]/[SEP]) and the other segment (the query, or `subject[SEP]object`
for `none`) are always kept. When the sentence has more tokens than fit:

1. if the token span from the first entity's opening marker to the second entity's
   closing marker fits, a window of exactly the available size is centred on that span
   (shifted inward at the sentence edges);
2. otherwise both marked entity spans are kept whole and the remaining room is given
   to context around each of them (half before, half after, split evenly between the
   two); the text between the two windows is dropped (the pieces are simply joined);
3. if even the two entity spans do not fit (entities longer than about half of
   `max_length`), the start of each span is kept (half the room each), so the
   positions still point at their markers.

`encode_dataset` stores the encodings as a memory-mapped `datasets.Dataset` (Arrow file)
keyed by a hash of the data, the tokenizer (its full serialized definition, which
includes the vocabulary and added tokens), the template config, the label set and the
kre/encoding version.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, console
from ..errors import ConfigError, DataError
from ..labels import LabelSet
from .templates import Rendered, TemplateConfig, render

#: Bump when the encoding output changes for the same inputs (invalidates caches).
ENCODING_VERSION = 2
IGNORE_INDEX = -100


def _token_of(offsets: np.ndarray, mask: np.ndarray, char: int) -> int:
    """First token of the segment (mask) whose character span ends after `char`."""
    ends = np.where(mask, offsets[:, 1], -1)
    hits = np.nonzero(ends > char)[0]
    if hits.size == 0:
        raise ValueError("character offset outside the segment")
    return int(hits[0])


def _span_tokens(offsets: np.ndarray, mask: np.ndarray, span: tuple[int, int]) -> tuple[int, int]:
    """Token indices (inclusive) of the first and last token overlapping a char span."""
    start, end = span
    inside = mask & (offsets[:, 1] > start) & (offsets[:, 0] < end) & (offsets[:, 1] > offsets[:, 0])
    idx = np.nonzero(inside)[0]
    if idx.size == 0:
        t = _token_of(offsets, mask, start)
        return t, t
    return int(idx[0]), int(idx[-1])


def entity_window(n: int, spans: Sequence[tuple[int, int]], budget: int) -> np.ndarray:
    """Sorted indices (of `n` segment tokens) to keep so that `budget` tokens hold both entity spans.

    `spans` are inclusive token ranges within the segment. See the module docstring.
    """
    if n <= budget:
        return np.arange(n)
    (a0, a1), (b0, b1) = sorted(spans)
    lo, hi = min(a0, b0), max(a1, b1)
    cover = hi - lo + 1
    if cover <= budget:
        start = lo - (budget - cover) // 2
        start = max(0, min(start, n - budget))
        return np.arange(start, start + budget)
    if a1 >= b0:  # overlapping spans longer than the budget: keep from the first start
        keep = np.arange(lo, lo + budget)
        if b0 > keep[-1]:
            keep[-1] = b0
        return keep
    la, lb = a1 - a0 + 1, b1 - b0 + 1
    if la + lb > budget:
        ka = min(la, max(1, budget - min(lb, budget // 2)))
        kb = budget - ka
        return np.concatenate([np.arange(a0, a0 + ka), np.arange(b0, b0 + kb)])
    extra = budget - la - lb
    ea = extra // 2
    eb = extra - ea
    # piece A: context before/after, moved to the other side at the sentence start
    a_before = min(ea // 2, a0)
    a_after = ea - a_before
    # piece B: context before/after, moved to the other side at the sentence end
    b_after = min(eb - eb // 2, n - 1 - b1)
    b_before = eb - b_after
    piece_a = np.arange(a0 - a_before, a1 + a_after + 1)
    piece_b = np.arange(b0 - b_before, b1 + b_after + 1)
    return np.concatenate([piece_a, piece_b])


def _labels_of(examples: Sequence[Any], labels: LabelSet) -> list[int]:
    out = []
    for e in examples:
        if e.label is None:
            out.append(IGNORE_INDEX)
        elif e.label in labels:
            out.append(labels.id(e.label))
        else:
            raise DataError("data", f"unknown label '{e.label}' (id {e.id})", field="label",
                            hint="use the label set the data was read with")
    return out


def _check_tokenizer(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("a fast (Rust) tokenizer is needed for entity offsets",
                          hint="use a model folder with tokenizer.json, or AutoTokenizer(use_fast=True)")


def _plain_backend(tokenizer: Any) -> Any:
    """The Rust tokenizer behind a fast tokenizer, without truncation or padding (a copy if it had them)."""
    backend = tokenizer.backend_tokenizer
    if backend.truncation is not None or backend.padding is not None:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(backend.to_str())
        backend.no_truncation()
        backend.no_padding()
    return backend


def encode_examples(
    examples: Sequence[Any],
    tokenizer: Any,
    config: TemplateConfig,
    labels: LabelSet,
    *,
    batch_size: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Encode examples for the model (see the module docstring for the fields).

    `progress`, when given, is called with the number of examples done after each chunk
    of `batch_size` (e.g. a progress task's `advance`; no bar is drawn here, so callers
    inside their own progress display stay safe).
    """
    _check_tokenizer(tokenizer)
    label_ids = _labels_of(examples, labels)
    sep = tokenizer.sep_token or "[SEP]"
    want_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    backend = _plain_backend(tokenizer)
    out: list[dict[str, Any]] = []
    for b in range(0, len(examples), batch_size):
        chunk = examples[b : b + batch_size]
        rendered = [render(e, config, sep) for e in chunk]
        firsts = [r.first for r in rendered]
        if rendered and rendered[0].second is not None:
            inputs: list[Any] = [(r.first, r.second) for r in rendered]
        else:
            inputs = firsts
        encodings = backend.encode_batch(inputs, add_special_tokens=True)
        for k, (example, r) in enumerate(zip(chunk, rendered)):
            enc = encodings[k]
            try:
                item = _one(enc, r, config.max_length, want_types)
            except ValueError as exc:
                raise DataError("data", f"cannot place the entities of example {example.id} ({exc})",
                                field="sentence") from None
            item["labels"] = label_ids[b + k]
            out.append(item)
        if progress is not None:
            progress(len(chunk))
    return out


def _locate(enc: Any, seg: int, span: tuple[int, int], arrays: dict[str, np.ndarray]) -> tuple[int, int]:
    """First and last token (inclusive) of a character span in segment `seg`."""
    first = enc.char_to_token(span[0], seg)
    last = enc.char_to_token(span[1] - 1, seg)
    if first is not None and last is not None:
        return first, last
    # a character no token covers (e.g. dropped by the normalizer): use the offsets
    if not arrays:
        arrays["offsets"] = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        arrays["mask"] = np.asarray([s == seg for s in enc.sequence_ids], dtype=bool)
    return _span_tokens(arrays["offsets"], arrays["mask"], span)


def _one(enc: Any, r: Rendered, max_length: int, want_types: bool) -> dict[str, Any]:
    seg = r.sentence_segment
    arrays: dict[str, np.ndarray] = {}
    s_span = _locate(enc, seg, r.subj, arrays)
    o_span = _locate(enc, seg, r.obj, arrays)
    subj_pos, obj_pos = s_span[0], o_span[0]
    ids: list[int] = enc.ids
    types: list[int] | None = enc.type_ids if want_types else None
    if len(ids) > max_length:
        mask = np.asarray([s == seg for s in enc.sequence_ids], dtype=bool)
        seg_idx = np.nonzero(mask)[0]
        n = len(seg_idx)
        budget = max_length - (len(ids) - n)
        if budget < 1:
            raise ValueError(f"max_length {max_length} leaves no room for the sentence")
        first = int(seg_idx[0])
        spans = [(s_span[0] - first, s_span[1] - first), (o_span[0] - first, o_span[1] - first)]
        keep = np.concatenate([np.nonzero(~mask)[0], seg_idx[entity_window(n, spans, budget)]])
        keep.sort()
        ids = np.asarray(ids, dtype=np.int64)[keep].tolist()
        if types is not None:
            types = np.asarray(types, dtype=np.int64)[keep].tolist()
        subj_pos = int(np.searchsorted(keep, subj_pos))
        obj_pos = int(np.searchsorted(keep, obj_pos))
    item: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": [1] * len(ids),
        "subj_pos": int(subj_pos),
        "obj_pos": int(obj_pos),
        "length": len(ids),
    }
    if types is not None:
        item["token_type_ids"] = types
    return item


# ---------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """`$KRE_CACHE/encodings`, else `~/.cache/kre/encodings`."""
    root = os.environ.get("KRE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "kre"
    return base / "encodings"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of the tokenizer's full definition (vocab, normalizer, added tokens, special tokens)."""
    digest = hashlib.sha256()
    digest.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode("utf-8"))
    else:  # pragma: no cover - slow tokenizers are refused earlier
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode("utf-8"))
    specials = {k: str(v) for k, v in sorted(getattr(tokenizer, "special_tokens_map", {}).items())}
    digest.update(json.dumps(specials, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    digest.update(json.dumps(list(getattr(tokenizer, "model_input_names", [])), ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def data_fingerprint(examples: Sequence[Any]) -> str:
    """Hash of what encoding reads from the examples (id, sentence, entities, label), in order."""
    digest = hashlib.sha256()
    for e in examples:
        s, o = e.subject, e.object
        row = (e.id, e.sentence, s.word, s.start, s.end, s.type, o.word, o.start, o.end, o.type, e.label)
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def cache_key(examples: Sequence[Any], tokenizer: Any, config: TemplateConfig, labels: LabelSet) -> str:
    """The cache key of one encoding job."""
    parts = {
        "data": data_fingerprint(examples),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "template": config.to_dict(),
        "labels": list(labels.names),
        "kre": __version__,
        "encoding": ENCODING_VERSION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def _columns(items: list[dict[str, Any]], want_types: bool) -> dict[str, list[Any]]:
    """Encodings (dicts) -> dataset columns; `attention_mask` is left out (the collator rebuilds it)."""
    cols: dict[str, list[Any]] = {name: [it[name] for it in items] for name in _COLUMNS}
    if want_types:
        cols["token_type_ids"] = [it["token_type_ids"] for it in items]
    return cols


_COLUMNS = ("input_ids", "subj_pos", "obj_pos", "labels", "length")


def _features(want_types: bool) -> Any:
    from datasets import Features, Sequence, Value

    spec = {"input_ids": Sequence(Value("int32")), "subj_pos": Value("int32"), "obj_pos": Value("int32"),
            "labels": Value("int64"), "length": Value("int32")}
    if want_types:
        spec["token_type_ids"] = Sequence(Value("int8"))
    return Features(spec)


def encode_dataset(
    examples: Sequence[Any],
    tokenizer: Any,
    config: TemplateConfig,
    labels: LabelSet,
    cache_dir: str | Path | None = None,
) -> Any:
    """The encodings of `examples` as a memory-mapped `datasets.Dataset`, cached on disk by fingerprint.

    Tokenized with a batched `Dataset.map` into `<cache_dir>/<key>.arrow` (key: data,
    tokenizer, template, labels, kre and encoding versions; default `default_cache_dir()`);
    a later call with the same inputs opens that file and encodes nothing. Columns:
    `input_ids`, `token_type_ids` (when the tokenizer has them), `subj_pos`, `obj_pos`,
    `labels`, `length`. A broken cache file is rewritten; an unwritable cache folder
    falls back to encoding in memory.
    """
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    _check_tokenizer(tokenizer)
    want_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{cache_key(examples, tokenizer, config, labels)}.arrow"

    def encode_rows(batch: dict[str, list[int]]) -> dict[str, list[Any]]:
        chunk = [examples[i] for i in batch["row"]]
        return _columns(encode_examples(chunk, tokenizer, config, labels), want_types)

    rows = Dataset.from_dict({"row": list(range(len(examples)))})
    options = dict(batched=True, batch_size=2048, remove_columns=["row"], features=_features(want_types))
    dataset, cached = map_cached(rows, encode_rows, path, options)
    console.debug(f"encodings: cache hit {path}" if cached else f"encodings: {len(examples)} examples encoded ({path})")
    return dataset


def map_cached(rows: Any, fn: Any, path: Path, options: dict[str, Any]) -> tuple[Any, bool]:
    """`rows.map(fn, **options)` stored at `path` (an Arrow file, memory-mapped); (dataset, True) when `path`
    already held as many rows. A broken file is rewritten; an unwritable folder falls back to memory."""
    from datasets import Dataset

    if path.exists():
        try:
            cached = Dataset.from_file(str(path))
            if len(cached) == len(rows):
                return cached, True
        except Exception:  # noqa: BLE001 - a broken cache file is rewritten below
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp.arrow"
        rows.map(fn, cache_file_name=str(tmp), load_from_cache_file=False, **options)
        os.replace(tmp, path)
    except OSError:  # a read-only cache must not stop training
        return rows.map(fn, keep_in_memory=True, **options), False
    return Dataset.from_file(str(path)), False


def cache_path(examples: Sequence[Any], tokenizer: Any, config: TemplateConfig, labels: LabelSet,
               cache_dir: str | Path | None = None) -> Path:
    """Where `encode_dataset` stores this job's encodings."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{cache_key(examples, tokenizer, config, labels)}.arrow"
