"""Friendlier errors when a command that expects an artifact is given something else."""

from __future__ import annotations

import shlex
from pathlib import Path

from .errors import ArtifactError

#: Suffixes of the data files users tend to pass where an artifact is expected.
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def data_file_error(path: Path) -> ArtifactError | None:
    """An error telling the user to split `path` first, if `path` is a data file (None otherwise)."""
    if not (path.is_file() and path.suffix.lower() in DATA_SUFFIXES):
        return None
    quoted = shlex.quote(str(path))
    return ArtifactError(
        f"{path} is a data file, not an artifact: run `kre split {quoted}` first",
        hint="then pass the split it writes (splits/latest) to train, tapt or augment",
    )
