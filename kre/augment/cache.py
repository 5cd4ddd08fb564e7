"""A persistent SQLite translation cache and a translator wrapper that uses it.

Keys are (translator, source, target, text). Every translation is committed as soon as
it arrives, so a run that is interrupted, or that loses the network, keeps everything it
got, and the next run asks only for what is missing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from .translators import TranslationError, Translator

CACHE_ENV = "KRE_CACHE"
CACHE_FILE = "translations.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    translator TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    translation TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (translator, source, target, text)
)
"""


def default_cache_path() -> Path:
    """`$KRE_CACHE` (a file, or a folder holding translations.sqlite), else the user cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        path = Path(env).expanduser()
        return path / CACHE_FILE if path.is_dir() else path
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kre" / CACHE_FILE


class TranslationCache:
    """Translations stored in one SQLite file (safe to share between processes)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: cannot open the translation cache ({exc})", hint="pass another --cache PATH") from None
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create the translation cache ({exc})", hint="pass another --cache PATH") from None

    def get_many(self, translator: str, source: str, target: str, texts: Iterable[str]) -> dict[str, str]:
        """Cached translations of the given texts (missing ones are absent)."""
        wanted = list(dict.fromkeys(texts))
        found: dict[str, str] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT text, translation FROM translations WHERE translator=? AND source=? AND target=? AND text IN ({marks})",
                (translator, source, target, *chunk),
            )
            found.update(rows.fetchall())
        return found

    def put(self, translator: str, source: str, target: str, text: str, translation: str) -> None:
        """Store one translation and commit it at once."""
        self.put_many(translator, source, target, [(text, translation)])

    def put_many(self, translator: str, source: str, target: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Store translations and commit."""
        now = time.time()
        rows = [(translator, source, target, t, tr, now) for t, tr in pairs]
        if rows:
            self._db.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM translations").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "TranslationCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CachedTranslator:
    """A translator that answers from the cache and asks `inner` only for texts it lacks.

    Missing texts go to `inner` in batches of `batch_size`; every batch (and the finished
    part of a failed one) is committed before the next request.
    """

    def __init__(self, inner: Translator, cache: TranslationCache, *, batch_size: int = 16) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.batch_size = max(1, batch_size)
        self.hits = 0
        self.misses = 0
        #: Calls made to the inner translator.
        self.calls = 0
        self.stored = 0

    def lookup(self, texts: list[str], source: str, target: str) -> dict[str, str]:
        """Cached translations only (never asks the service)."""
        return self.cache.get_many(self.name, source, target, texts)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        found = self.lookup(texts, source, target)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        self.hits += sum(1 for t in texts if t in found)
        self.misses += len(missing)
        for i in range(0, len(missing), self.batch_size):
            chunk = missing[i : i + self.batch_size]
            self.calls += 1
            try:
                result = self.inner.translate(chunk, source, target)
            except TranslationError as exc:
                self._store(source, target, zip(chunk, exc.partial))
                found.update(zip(chunk, exc.partial))
                raise
            if len(result) != len(chunk):
                raise TranslationError(
                    f"{self.name} returned {len(result)} translations for {len(chunk)} texts", transient=False
                )
            self._store(source, target, zip(chunk, result))
            found.update(zip(chunk, result))
        return [found[t] for t in texts]

    def _store(self, source: str, target: str, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        self.cache.put_many(self.name, source, target, pairs)
        self.stored += len(pairs)
