"""Filesystem helpers: private permissions whatever the umask, fsync, atomic replace, locks."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make it 0700, whatever the umask."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def open_private(path: Path, flags: int) -> int:
    """Open (creating if asked) a file readable by its owner only and return the descriptor.

    The mode is forced with ``fchmod`` so that neither the umask nor an older file's mode matter.
    """
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (created, renamed or removed files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_data(fd: int) -> None:
    """Flush a file's data (and the metadata needed to read it back) to stable storage."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS has no fdatasync
        os.fsync(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``, looping over short writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path: Path, chunks: Iterable[str]) -> None:
    """Replace ``path`` with the text ``chunks`` so that a crash leaves the old or the new file.

    Temp file in the same directory, fsync, ``os.replace``, fsync of the directory.
    """
    temp = temp_path(path)
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


def temp_path(path: Path) -> Path:
    """The temp file ``atomic_write`` uses for ``path`` (a leftover is removed at start-up)."""
    return path.with_name(path.name + ".tmp")


def try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking ``flock`` on ``fd``; False if another holder has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
