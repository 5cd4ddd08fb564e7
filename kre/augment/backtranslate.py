"""`backtranslate`: source -> pivot -> source round trips with the two entities protected.

The subject and object spans are replaced by marker tokens (`ZQS`, `ZQO`: Latin letters
no translator has a word for, so they pass through unchanged). After the round trip each
marker must appear exactly once; it is then replaced by the original entity word and the
new offsets are taken from where the markers were. Rows whose markers were lost or
repeated are dropped and counted. Kept rows must be similar enough to the original
(cosine of sentence embeddings >= `min_similarity`).

When the translator gives up for good (network lost, rate limit past the retry budget),
no more requests are sent: the rows whose translations are already known (this run or
the cache) are finished and the rest are counted as `network_lost`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data import Entity, Example
from .common import MethodStats, derived, entities_overlap
from .embedders import Embedder, cosine_pairs
from .translators import TranslationError, Translator

METHOD = "backtranslate"


@dataclass(frozen=True)
class Markers:
    """Placeholder tokens for the subject and the object."""

    subject: str = "ZQS"
    object: str = "ZQO"

    def pattern(self, marker: str) -> re.Pattern[str]:
        """Finds the marker even if a translator changed its case or spaced out its letters."""
        body = r"\s?".join(re.escape(ch) for ch in marker)
        return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)


def protect(example: Example, markers: Markers = Markers()) -> str:
    """The sentence with the subject and object spans replaced by their markers."""
    spans = sorted(
        [(example.subject, markers.subject), (example.object, markers.object)], key=lambda pair: pair[0].start
    )
    text, last = [], 0
    for entity, marker in spans:
        text.append(example.sentence[last : entity.start])
        text.append(marker)
        last = entity.end + 1
    text.append(example.sentence[last:])
    return "".join(text)


def restore(text: str, example: Example, markers: Markers = Markers()) -> tuple[str, Entity, Entity] | str:
    """Put the entity words back in place of the markers.

    Returns the new sentence and entities, or the reason the row must be dropped
    (`entity_lost`, `entity_repeated`).
    """
    found = []
    for role, marker in (("subject", markers.subject), ("object", markers.object)):
        hits = list(markers.pattern(marker).finditer(text))
        if not hits:
            return "entity_lost"
        if len(hits) > 1:
            return "entity_repeated"
        found.append((hits[0].start(), hits[0].end(), role))
    found.sort()
    if found[0][1] > found[1][0]:
        return "entity_lost"
    pieces: list[str] = []
    last = 0
    length = 0
    placed: dict[str, Entity] = {}
    for start, end, role in found:
        before = text[last:start]
        pieces.append(before)
        length += len(before)
        entity: Entity = getattr(example, role)
        placed[role] = Entity(entity.word, length, length + len(entity.word) - 1, entity.type)
        pieces.append(entity.word)
        length += len(entity.word)
        last = end
    pieces.append(text[last:])
    sentence = "".join(pieces)
    # Strip outer whitespace and move the offsets with it.
    lead = len(sentence) - len(sentence.lstrip())
    sentence = sentence.strip()
    return sentence, placed["subject"].shifted(-lead), placed["object"].shifted(-lead)


@dataclass
class BacktranslateResult:
    """New rows and what happened on the way."""

    examples: list[Example] = field(default_factory=list)
    #: Similarity of every restored candidate (kept or not).
    scores: list[float] = field(default_factory=list)
    #: Why the run stopped asking the translator, or None.
    interrupted: str | None = None
    rows_translated: int = 0


class _Asker:
    """Asks a translator for what it can get, and stops asking after a transient failure."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator
        self.interrupted: TranslationError | None = None
        self.failed: set[str] = set()

    def _lookup(self, texts: list[str], source: str, target: str) -> dict[str, str]:
        lookup = getattr(self.translator, "lookup", None)
        return lookup(texts, source, target) if lookup is not None else {}

    def ask(self, texts: list[str], source: str, target: str) -> dict[str, str]:
        texts = list(dict.fromkeys(texts))
        if not texts:
            return {}
        if self.interrupted is not None:
            return self._lookup(texts, source, target)
        try:
            return dict(zip(texts, self.translator.translate(texts, source, target)))
        except TranslationError as exc:
            got = dict(zip(texts, exc.partial))
            if exc.transient:
                self.interrupted = exc
                got.update(self._lookup(texts, source, target))
                return got
        for text in texts:  # a text the service refuses: ask one by one, skip the bad ones
            if text in got:
                continue
            if self.interrupted is not None:
                got.update(self._lookup([text], source, target))
                continue
            try:
                got[text] = self.translator.translate([text], source, target)[0]
            except TranslationError as exc:
                if exc.transient:
                    self.interrupted = exc
                else:
                    self.failed.add(text)
        return got


def backtranslate(
    parents: Sequence[Example],
    *,
    translator: Translator,
    embedder: Embedder | None,
    pivots: Sequence[str] = ("en",),
    source: str = "ko",
    min_similarity: float = 0.9,
    batch_size: int = 32,
    markers: Markers = Markers(),
    stats: MethodStats | None = None,
    on_progress: Callable[[int, MethodStats], Any] | None = None,
) -> BacktranslateResult:
    """One candidate per parent and pivot language; see the module docstring.

    Args:
        embedder: needed when `min_similarity > 0`.
        on_progress: called with (rows done, stats) after every batch.
    """
    if embedder is None and min_similarity > 0:
        raise ValueError("an embedder is needed to filter by similarity")
    stats = stats if stats is not None else MethodStats()
    result = BacktranslateResult()
    prepared: list[tuple[Example, str]] = []
    for ex in parents:
        stats.tried += len(pivots)
        if entities_overlap(ex):
            stats.drop("overlapping_entities", len(pivots))
        elif any(markers.pattern(m).search(ex.sentence) for m in (markers.subject, markers.object)):
            stats.drop("marker_in_text", len(pivots))
        else:
            prepared.append((ex, protect(ex, markers)))
    asker = _Asker(translator)
    restored: list[tuple[Example, int, str, Entity, Entity]] = []
    done = 0
    for k, pivot in enumerate(pivots, start=1):
        for i in range(0, len(prepared), batch_size):
            chunk = prepared[i : i + batch_size]
            forward = asker.ask([text for _, text in chunk], source, pivot)
            back = asker.ask(list(dict.fromkeys(forward[t] for _, t in chunk if t in forward)), pivot, source)
            for ex, text in chunk:
                mid = forward.get(text)
                final = back.get(mid) if mid is not None else None
                if final is None:
                    failed = text in asker.failed or (mid is not None and mid in asker.failed)
                    stats.drop("translation_failed" if failed else "network_lost")
                    continue
                result.rows_translated += 1
                outcome = restore(final, ex, markers)
                if isinstance(outcome, str):
                    stats.drop(outcome)
                    continue
                sentence, subject, obj = outcome
                if " ".join(sentence.split()) == " ".join(ex.sentence.split()):
                    stats.drop("unchanged")
                    continue
                restored.append((ex, k, sentence, subject, obj))
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, stats)
    if asker.interrupted is not None:
        result.interrupted = asker.interrupted.message
    if embedder is not None and restored:
        scores = cosine_pairs(embedder, [ex.sentence for ex, *_ in restored], [r[2] for r in restored])
    else:
        scores = [1.0] * len(restored)
    if embedder is not None:
        result.scores = scores
    for (ex, k, sentence, subject, obj), score in zip(restored, scores):
        if score < min_similarity:
            stats.drop("low_similarity")
            continue
        result.examples.append(derived(ex, METHOD, k, sentence, subject, obj))
    return result
