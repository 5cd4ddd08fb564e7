"""Small file helpers: hashing, atomic writes, JSON with sorted keys."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, IO

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_tree(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every file below a folder, keyed by its relative POSIX path (sorted)."""
    folder = Path(folder)
    out: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        out[path.relative_to(folder).as_posix()] = sha256_file(path)
    return out


def scan_tree(folder: str | Path) -> tuple[dict[str, str], list[str]]:
    """Hash the regular files below a folder without following links.

    Returns the SHA-256 of every regular file keyed by its relative POSIX path, and the
    relative paths of everything else found (symbolic links to files or folders, FIFOs,
    sockets ...), which are neither followed nor hashed.
    """
    folder = Path(folder)
    hashes: dict[str, str] = {}
    odd: list[str] = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        base = Path(top)
        for name in list(dirs):
            if (base / name).is_symlink():
                odd.append((base / name).relative_to(folder).as_posix())
                dirs.remove(name)
        for name in files:
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not stat.S_ISREG(path.lstat().st_mode):
                odd.append(rel)
            else:
                hashes[rel] = sha256_file(path)
    return dict(sorted(hashes.items())), sorted(odd)


def printable(text: str, limit: int = 60) -> str:
    """File content made safe to quote in a message: control characters, undecodable
    bytes and invisible characters escaped (as Python writes them), at most `limit` characters."""
    out: list[str] = []
    size = 0
    for ch in str(text):
        if "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            piece = f"\\x{ord(ch) - 0xDC00:02x}"
        elif ch.isprintable() or ch == " ":
            piece = ch
        else:
            piece = ch.encode("unicode_escape", errors="backslashreplace").decode("ascii")
        if size + len(piece) > limit:
            while out and size + 1 > limit:
                size -= len(out.pop())
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def human_size(n: int) -> str:
    """A byte count as B / KB / MB / GB."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def tree_digest(hashes: dict[str, str]) -> str:
    """One digest over relative paths and their hashes (names count, unlike a bare content hash)."""
    return sha256_text("\n".join(f"{k}\t{v}" for k, v in sorted(hashes.items())))


def dumps_json(data: Any) -> str:
    """JSON text with sorted keys, indentation and UTF-8 kept readable."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (sorted keys, indented)."""
    atomic_write_text(path, dumps_json(data))


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is a one-line ConfigError."""
    import tomllib

    from .errors import ConfigError

    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
