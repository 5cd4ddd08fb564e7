"""Data layer: the record type, readers/writers with row-precise validation, probability files."""

from .entities import format_entity_string, parse_entity_string
from .io import Dataset, Problem, read_dataset, read_examples, write_csv, write_jsonl
from .records import Entity, Example

__all__ = [
    "Dataset",
    "Entity",
    "Example",
    "Problem",
    "format_entity_string",
    "parse_entity_string",
    "read_dataset",
    "read_examples",
    "write_csv",
    "write_jsonl",
]
