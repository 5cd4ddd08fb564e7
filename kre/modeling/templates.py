"""Input templates: how a sentence and its entity pair are written for the encoder.

A template turns one `Example` into one or two text segments plus the character spans
of both marked entities, so that `kre.modeling.encoding` can find the entity tokens
after tokenization.

Markers (`Marker`):

- `none`: the starter's input: first segment `subject[SEP]object` (the tokenizer's own
  separator token), second segment the plain sentence.
- `entity-mask`: each entity is replaced by one typed mask token (`[SUBJ-PER]`, `[OBJ-LOC]`).
- `entity-marker`: `[E1] 이순신 [/E1] ... [E2] 1545년 [/E2]`.
- `entity-marker-punct`: `@ 이순신 @ ... # 1545년 #`.
- `typed-marker`: `<S:PER> 이순신 </S:PER> ... <O:DAT> 1545년 </O:DAT>`.
- `typed-marker-punct` (default): `@ * 사람 * 이순신 @ ... # ^ 날짜 ^ 1545년 # ...`.

Marker tokens in brackets (`[E1]`, `<S:PER>`, `[SUBJ-PER]`) are added to the tokenizer
as special tokens (`prepare_tokenizer`); they always use the type tags, so the token set
does not depend on `type_words`. `type_words` chooses how a type is *written as text*
(the punct template and the query segment): `ko` (사람, 단체, 날짜, 장소, 기타, 수량),
`en` (person, organization, date, location, other, number) or `tag` (PER, ORG, ...).

`query=True` adds a segment that names the pair and the types in the template's own
style, e.g. `@ * 사람 * 이순신 @과 # ^ 날짜 ^ 1545년 #의 관계`. It is the second
segment; with `none` (whose first segment already names the pair) the query replaces
the `subject[SEP]object` segment, so the sentence stays the second segment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

from ..errors import ConfigError
from ..korean import particle_for
from ..labels import OBJECT_TYPES, SUBJECT_TYPES

#: Every entity type a marker token exists for (subjects and objects alike).
ENTITY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(SUBJECT_TYPES + OBJECT_TYPES))
#: Type used for the special tokens of an entity whose type is not one of ENTITY_TYPES.
FALLBACK_TYPE = "POH"


class Marker(str, Enum):
    """How entities are marked in the input text."""

    none = "none"
    entity_mask = "entity-mask"
    entity_marker = "entity-marker"
    entity_marker_punct = "entity-marker-punct"
    typed_marker = "typed-marker"
    typed_marker_punct = "typed-marker-punct"


class TypeWords(str, Enum):
    """How entity types are written as text."""

    en = "en"
    ko = "ko"
    tag = "tag"


TYPE_WORDS: dict[str, dict[str, str]] = {
    "ko": {"PER": "사람", "ORG": "단체", "DAT": "날짜", "LOC": "장소", "POH": "기타", "NOH": "수량"},
    "en": {"PER": "person", "ORG": "organization", "DAT": "date", "LOC": "location", "POH": "other", "NOH": "number"},
    "tag": {t: t for t in ENTITY_TYPES},
}


@dataclass(frozen=True)
class TemplateConfig:
    """Everything that decides how an example becomes model input."""

    marker: str = Marker.typed_marker_punct.value
    query: bool = False
    type_words: str = TypeWords.ko.value
    max_length: int = 256

    def __post_init__(self) -> None:
        marker = self.marker.value if isinstance(self.marker, Enum) else str(self.marker)
        words = self.type_words.value if isinstance(self.type_words, Enum) else str(self.type_words)
        if marker not in {m.value for m in Marker}:
            raise ConfigError(f"unknown marker '{marker}'", hint=f"choose one of: {', '.join(m.value for m in Marker)}")
        if words not in TYPE_WORDS:
            raise ConfigError(f"unknown type words '{words}'", hint="choose one of: en, ko, tag")
        if not isinstance(self.max_length, int) or self.max_length < 16:
            raise ConfigError(f"max_length must be an integer >= 16, got {self.max_length!r}")
        object.__setattr__(self, "marker", marker)
        object.__setattr__(self, "type_words", words)
        object.__setattr__(self, "query", bool(self.query))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TemplateConfig":
        """Build from a dict (unknown keys are ignored, missing keys take defaults)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _tag(etype: str) -> str:
    return etype if etype in ENTITY_TYPES else FALLBACK_TYPE


def type_word(etype: str, type_words: str) -> str:
    """The text for an entity type (unknown types are written as they are)."""
    return TYPE_WORDS[type_words].get(etype, etype)


def special_tokens(config: TemplateConfig) -> list[str]:
    """The marker tokens a template needs added to the tokenizer (may be empty)."""
    marker = config.marker
    if marker == Marker.entity_mask.value:
        return [f"[SUBJ-{t}]" for t in ENTITY_TYPES] + [f"[OBJ-{t}]" for t in ENTITY_TYPES]
    if marker == Marker.entity_marker.value:
        return ["[E1]", "[/E1]", "[E2]", "[/E2]"]
    if marker == Marker.typed_marker.value:
        out = []
        for role in ("S", "O"):
            for t in ENTITY_TYPES:
                out += [f"<{role}:{t}>", f"</{role}:{t}>"]
        return out
    return []


def prepare_tokenizer(tokenizer: Any, config: TemplateConfig) -> int:
    """Add the template's marker tokens as special tokens; return how many were new.

    The caller must resize the model's embeddings when the result is > 0
    (`build_model` does this).
    """
    needed = special_tokens(config)
    vocab = tokenizer.get_vocab()
    missing = [t for t in needed if t not in vocab]
    if not missing:
        return 0
    return int(tokenizer.add_tokens(missing, special_tokens=True))


def _marks(marker: str, role: str, etype: str, words: str) -> tuple[str, str] | None:
    """Opening and closing text around an entity, or None when the entity is replaced/unchanged."""
    if marker == Marker.entity_marker.value:
        return ("[E1] ", " [/E1]") if role == "S" else ("[E2] ", " [/E2]")
    if marker == Marker.entity_marker_punct.value:
        return ("@ ", " @") if role == "S" else ("# ", " #")
    if marker == Marker.typed_marker.value:
        tag = _tag(etype)
        return (f"<{role}:{tag}> ", f" </{role}:{tag}>")
    if marker == Marker.typed_marker_punct.value:
        word = type_word(etype, words)
        return (f"@ * {word} * ", " @") if role == "S" else (f"# ^ {word} ^ ", " #")
    return None


def _mask_token(role: str, etype: str) -> str:
    return f"[{'SUBJ' if role == 'S' else 'OBJ'}-{_tag(etype)}]"


@dataclass(frozen=True)
class Rendered:
    """One example as text: segments, which one holds the sentence, and entity character spans.

    `subj`/`obj` are `(start, end)` character spans (end exclusive) inside segment
    `sentence_segment`, from the start of the opening marker (or the mask token, or the
    plain word) to the end of the closing marker.
    """

    first: str
    second: str | None
    sentence_segment: int
    subj: tuple[int, int]
    obj: tuple[int, int]


def _mark_sentence(sentence: str, subject: Any, obj: Any, config: TemplateConfig) -> tuple[str, tuple[int, int], tuple[int, int]]:
    marker = config.marker
    s0, s1 = subject.start, subject.end + 1
    o0, o1 = obj.start, obj.end + 1
    if marker == Marker.none.value:
        return sentence, (s0, s1), (o0, o1)
    if marker == Marker.entity_mask.value:
        ms, mo = _mask_token("S", subject.type), _mask_token("O", obj.type)
        if s1 <= o0 or o1 <= s0:  # disjoint: replace each
            first, second = ((s0, s1, ms), (o0, o1, mo)) if s0 < o0 else ((o0, o1, mo), (s0, s1, ms))
            a = sentence[: first[0]]
            b = sentence[first[1] : second[0]]
            c = sentence[second[1] :]
            text = a + first[2] + b + second[2] + c
            p1 = (len(a), len(a) + len(first[2]))
            q = len(a) + len(first[2]) + len(b)
            p2 = (q, q + len(second[2]))
            return (text, p1, p2) if s0 < o0 else (text, p2, p1)
        # overlapping mentions: replace their union by both mask tokens (subject first)
        u0, u1 = min(s0, o0), max(s1, o1)
        a = sentence[:u0]
        text = a + ms + " " + mo + sentence[u1:]
        return text, (len(a), len(a) + len(ms)), (len(a) + len(ms) + 1, len(a) + len(ms) + 1 + len(mo))
    ms_open, ms_close = _marks(marker, "S", subject.type, config.type_words)  # type: ignore[misc]
    mo_open, mo_close = _marks(marker, "O", obj.type, config.type_words)  # type: ignore[misc]
    # insertions (position, rank, text); at equal positions closings come before openings
    inserts = [(s0, 1, "so", ms_open), (s1, 0, "sc", ms_close), (o0, 1, "oo", mo_open), (o1, 0, "oc", mo_close)]
    inserts.sort(key=lambda t: (t[0], t[1]))
    parts: list[str] = []
    pos = 0
    length = 0
    where: dict[str, int] = {}
    for at, _, name, text in inserts:
        chunk = sentence[pos:at]
        parts.append(chunk)
        length += len(chunk)
        where[name] = length if name.endswith("o") else length + len(text)
        parts.append(text)
        length += len(text)
        pos = at
    parts.append(sentence[pos:])
    return "".join(parts), (where["so"], where["sc"]), (where["oo"], where["oc"])


def query_text(subject: Any, obj: Any, config: TemplateConfig) -> str:
    """The question-style segment naming the pair and their types, in the template's style."""
    marker, words = config.marker, config.type_words
    if marker == Marker.entity_mask.value:
        s, o = _mask_token("S", subject.type), _mask_token("O", obj.type)
        return f"{s}와 {o}의 관계"
    marks_s = _marks(marker, "S", subject.type, words)
    marks_o = _marks(marker, "O", obj.type, words)
    particle = particle_for(subject.word, "과", "와")
    if marker in (Marker.typed_marker.value, Marker.typed_marker_punct.value):
        assert marks_s and marks_o
        return f"{marks_s[0]}{subject.word}{marks_s[1]}{particle} {marks_o[0]}{obj.word}{marks_o[1]}의 관계"
    # untyped templates name the types as words in front of the entities
    ts, to = type_word(subject.type, words), type_word(obj.type, words)
    if marks_s and marks_o:
        return f"{ts} {marks_s[0]}{subject.word}{marks_s[1]}{particle} {to} {marks_o[0]}{obj.word}{marks_o[1]}의 관계"
    return f"{ts} {subject.word}{particle} {to} {obj.word}의 관계"


def render(example: Any, config: TemplateConfig, sep_token: str = "[SEP]") -> Rendered:
    """Write one example with the template (see the module docstring)."""
    text, subj, obj = _mark_sentence(example.sentence, example.subject, example.object, config)
    if config.marker == Marker.none.value:
        first = query_text(example.subject, example.object, config) if config.query else f"{example.subject.word}{sep_token}{example.object.word}"
        return Rendered(first, text, 1, subj, obj)
    second = query_text(example.subject, example.object, config) if config.query else None
    return Rendered(text, second, 0, subj, obj)
