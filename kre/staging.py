"""Staging folders: one process per folder, clean-up of folders that crashed commands left, SIGTERM as Ctrl-C.

A version is built in `<kind>/.staging-<key>/`; its lock file `<kind>/.locks/.staging-<key>.lock` holds
the builder's pid, command line and start time, and the builder holds an exclusive
`flock` on it while it works: a second process that wants the same folder is refused
with the first one's pid, and a folder whose lock nobody holds (its process is gone)
is stale. The lock file stays with a resumable (keyed) folder, so the next command knows
what it is; stale one-off folders are removed by the next command on the root, and
`kre gc` lists and removes every stale folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ArtifactError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: fall back to checking the recorded pid
    fcntl = None  # type: ignore[assignment]

PREFIX = ".staging-"
LOCK_SUFFIX = ".lock"
LOCKS = ".locks"
_RETRIES = 10  # a clean-up may hold a free lock for a moment: retry before calling it taken
_reported: set[str] = set()


def lock_path(staging: Path) -> Path:
    """The lock file of a staging folder."""
    return staging.parent / LOCKS / (staging.name + LOCK_SUFFIX)


def read_lock(lock: Path) -> dict[str, Any]:
    """What a lock file records (pid, command, started, resumable); {} when unreadable."""
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_lock(fd: int, lock: Path) -> bool:
    """Take the exclusive lock on an open lock file without waiting."""
    if fcntl is None:  # pragma: no cover
        pid = read_lock(lock).get("pid")
        return pid == os.getpid() or not _pid_alive(pid)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _open_locked(lock: Path, *, create: bool = True) -> int | None:
    """Open and lock `lock` (created if needed, else it must exist); None when another process holds it."""
    for attempt in range(_RETRIES):
        try:
            fd = os.open(lock, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
        except FileNotFoundError:
            if not create:
                return None  # removed meanwhile: nothing to hold
            lock.parent.mkdir(exist_ok=True)  # another process removed the empty .locks folder just now
            continue
        if not _try_lock(fd, lock):
            os.close(fd)
            if attempt + 1 < _RETRIES and not _pid_alive(read_lock(lock).get("pid")):
                time.sleep(0.05)  # its recorded holder is gone: a clean-up holds it for a moment
                continue
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed the file after we opened it: open the new one
    return None


@dataclass
class StagingLock:
    """The held lock of a staging folder; `release` frees it."""

    staging: Path
    fd: int

    def release(self) -> None:
        """Unlock; the lock file (and an empty .locks folder) goes too unless a (resumable) staging folder stays."""
        lock = lock_path(self.staging)
        if not self.staging.exists():
            lock.unlink(missing_ok=True)
        os.close(self.fd)
        _remove_if_empty(lock.parent)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def acquire(staging: Path, *, resumable: bool, command: str) -> StagingLock:
    """Lock a staging folder for this process, or raise ArtifactError naming the process that has it."""
    lock = lock_path(staging)
    lock.parent.mkdir(exist_ok=True)
    fd = _open_locked(lock)
    if fd is None:
        holder = read_lock(lock)
        since = f", since {holder['started']}" if holder.get("started") else ""
        what = f"`{holder['command']}`" if holder.get("command") else "another kre command"
        raise ArtifactError(
            f"{staging}: in use by process {holder.get('pid', '?')} ({what}{since})",
            hint="two identical commands cannot share one staging folder: wait for that process to finish, or stop it",
        )
    record = {
        "pid": os.getpid(),
        "command": command,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumable": resumable,
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record, sort_keys=True).encode("utf-8"), 0)
    return StagingLock(staging, fd)


@dataclass
class StagingFolder:
    """A staging folder (or an orphan lock file) found under an artifact root."""

    kind: str
    path: Path
    live: bool  # a running process holds its lock
    pid: int | None
    command: str | None
    started: str | None
    resumable: bool | None  # None: no lock file (left by an older kre)

    @property
    def lock(self) -> Path:
        return lock_path(self.path)

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    def size(self) -> int:
        """Bytes of the files inside (links not followed)."""
        total = 0
        for top, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(top, name)).st_size
                except OSError:
                    pass
        return total


def _held(lock: Path) -> bool:
    if not lock.exists():
        return False
    fd = _open_locked(lock, create=False)
    if fd is None:
        return lock.exists()
    os.close(fd)
    return False


def find_staging(root: Path, kinds: tuple[str, ...]) -> list[StagingFolder]:
    """Every staging folder and orphan lock file under the root's kind folders."""
    out: list[StagingFolder] = []
    for kind in kinds:
        folder = root / kind
        if not folder.is_dir():
            continue
        stems = {p.name for p in folder.iterdir() if p.name.startswith(PREFIX)}
        locks = folder / LOCKS
        if locks.is_dir():
            stems |= {p.name[: -len(LOCK_SUFFIX)] for p in locks.iterdir() if p.name.endswith(LOCK_SUFFIX)}
        for stem in sorted(stems):
            path = folder / stem
            lock = lock_path(path)
            if not lock.exists():
                if path.is_dir():
                    out.append(StagingFolder(kind, path, False, None, None, None, None))
                continue
            record = read_lock(lock)
            pid = record.get("pid") if isinstance(record.get("pid"), int) else None
            out.append(StagingFolder(
                kind, path, _held(lock), pid, record.get("command"), record.get("started"), bool(record.get("resumable")),
            ))
    return out


def remove_staging(entry: StagingFolder) -> bool:
    """Remove a stale staging folder and its lock file; False when a process holds it now."""
    lock = entry.lock
    if not lock.exists():
        shutil.rmtree(entry.path, ignore_errors=True)
        return True
    fd = _open_locked(lock, create=False)
    if fd is None:
        return not lock.exists()
    try:
        shutil.rmtree(entry.path, ignore_errors=True)
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
    _remove_if_empty(lock.parent)
    return True


def sweep_staging(root: Path, kinds: tuple[str, ...]) -> None:
    """Remove the stale one-off staging folders under `root`; say once which resumable ones wait."""
    from .console import info

    removed = 0
    for entry in find_staging(root, kinds):
        if entry.live:
            continue
        if entry.resumable is False or not entry.exists:
            removed += remove_staging(entry)
            continue
        key = str(entry.path.resolve())
        if key in _reported:
            continue
        _reported.add(key)
        who = f"process {entry.pid} is gone" if entry.pid else "left by an older kre"
        what = "checkpoints of a stopped run" if entry.resumable else "a stopped command's files"
        info(f"{entry.kind}/{entry.path.name}: {what} ({who}); the same command with --resume continues it, `kre gc` removes it")
    if removed:
        info(f"removed {removed} staging folder(s) left by crashed commands under {root}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so it cleans up like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@dataclass
class CleanUp:
    """What `clean_staging` did (or would do) with one staging folder."""

    entry: StagingFolder
    size: int
    action: str  # "removed", "would remove", "kept (in use)", "kept (resumable)"


def clean_staging(root: Path, kinds: tuple[str, ...], *, dry_run: bool = False, keep_resumable: bool = False) -> list[CleanUp]:
    """Remove every stale staging folder under `root` (`dry_run`: only say which); folders in use are kept."""
    out: list[CleanUp] = []
    for entry in find_staging(root, kinds):
        size = entry.size() if entry.exists else 0
        if entry.live:
            action = "kept (in use)"
        elif keep_resumable and entry.resumable:
            action = "kept (resumable)"
        elif dry_run:
            action = "would remove"
        else:
            action = "removed" if remove_staging(entry) else "kept (in use)"
        out.append(CleanUp(entry, size, action))
    return out
