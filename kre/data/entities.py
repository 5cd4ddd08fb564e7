"""Entity dict strings (`{'word': ..., 'start_idx': ..., 'end_idx': ..., 'type': ...}`): safe parsing and writing."""

from __future__ import annotations

import ast
from typing import Any

from .records import Entity

ENTITY_KEYS = ("word", "start_idx", "end_idx", "type")
_MAX_LEN = 10_000


class EntityParseError(ValueError):
    """The text is not a valid entity dict; the message says why."""


def parse_entity_string(text: str) -> Entity:
    """Parse a Python-dict entity string without evaluating code.

    Only a literal dict of string/int constants is accepted (parsed with `ast`,
    never `eval`); the four keys word, start_idx, end_idx and type are required.
    """
    text = text.strip()
    if not text:
        raise EntityParseError("empty")
    if len(text) > _MAX_LEN:
        raise EntityParseError("too long")
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise EntityParseError(f"not a dict literal: {text[:60]!r}") from None
    if not isinstance(node, ast.Dict):
        raise EntityParseError(f"not a dict literal: {text[:60]!r}")
    data: dict[str, Any] = {}
    for key, value in zip(node.keys, node.values):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise EntityParseError("dict keys must be strings")
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
            value = ast.Constant(-value.operand.value) if isinstance(value.operand.value, int) else value
        if not (isinstance(value, ast.Constant) and isinstance(value.value, (str, int)) and not isinstance(value.value, bool)):
            raise EntityParseError(f"value of '{key.value}' must be a string or an integer")
        data[key.value] = value.value
    return entity_from_mapping(data)


def entity_from_mapping(data: Any) -> Entity:
    """Build an Entity from a mapping with keys word, start_idx, end_idx, type."""
    if not isinstance(data, dict):
        raise EntityParseError("expected an object with word, start_idx, end_idx, type")
    missing = [k for k in ENTITY_KEYS if k not in data]
    if missing:
        raise EntityParseError(f"missing key(s): {', '.join(missing)}")
    word, start, end, etype = (data[k] for k in ENTITY_KEYS)
    if not isinstance(word, str) or not isinstance(etype, str):
        raise EntityParseError("word and type must be strings")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise EntityParseError("start_idx and end_idx must be integers")
    return Entity(word=word, start=start, end=end, type=etype)


def entity_to_mapping(entity: Entity) -> dict[str, Any]:
    """The entity as a dict with the competition's key names and order."""
    return {"word": entity.word, "start_idx": entity.start, "end_idx": entity.end, "type": entity.type}


def format_entity_string(entity: Entity) -> str:
    """The competition's Python-dict string for an entity (as `str(dict)` writes it)."""
    return repr(entity_to_mapping(entity))
