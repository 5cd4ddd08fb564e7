"""Exception types: library code raises these, only the CLI turns them into output."""

from __future__ import annotations

from pathlib import Path


class KreError(Exception):
    """A user-facing error: one readable message plus an optional next-step hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class DataError(KreError):
    """Bad input data; the message names the file, the row and the field."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.field = field
        self.detail = message
        where = self.path
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f", field '{field}'" if row is not None else f": field '{field}'"
        super().__init__(f"{where}: {message}", hint)


class ArtifactError(KreError):
    """A missing, incomplete or modified artifact folder, or a bad reference to one."""


class ConfigError(KreError):
    """A bad option value or configuration file."""


class TrainingError(KreError):
    """Training cannot go on (for example a NaN loss)."""
