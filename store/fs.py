"""Filesystem helpers: private permissions whatever the umask, fsync, atomic replace, locks,
and the typed store error for what the operating system refuses."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from store.errors import StoreError, StoreIOError, StoreNotAFileError, StorePermissionError

log = logging.getLogger(__name__)

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


#: ``atomic_write`` hands the kernel this much at a time, and flushes it to the disk every
#: ``SYNC_EVERY`` bytes: a long snapshot never piles up gigabytes of dirty pages that a small
#: journal fsync in another thread would then have to wait behind.
WRITE_CHUNK = 1 << 20
SYNC_EVERY = 32 << 20


def atomic_write(path: Path, chunks: Iterable[str | bytes]) -> None:
    """Replace ``path`` with ``chunks`` (text as UTF-8, or bytes): a crash leaves the old or
    the new file.

    Temp file in the same directory, fsync, ``os.replace``, fsync of the directory. On any
    failure (disk full...) the temp file is removed again, so it never holds the space.
    """
    temp = temp_path(path)
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        try:
            pending: list[bytes] = []
            size = unsynced = 0
            for chunk in chunks:
                data = chunk.encode() if isinstance(chunk, str) else chunk
                pending.append(data)
                size += len(data)
                if size >= WRITE_CHUNK:
                    write_all(fd, b"".join(pending))
                    pending, unsynced, size = [], unsynced + size, 0
                    if unsynced >= SYNC_EVERY:
                        sync_data(fd)
                        unsynced = 0
            write_all(fd, b"".join(pending))
            os.fsync(fd)
        finally:
            os.close(fd)
        replace(temp, path)
    except BaseException:
        remove_quietly(temp)
        raise
    fsync_dir(path.parent)


def replace(source: Path, target: Path) -> None:
    """``os.replace`` (atomic on POSIX)."""
    os.replace(source, target)


def link(source: Path, target: Path) -> None:
    """A second name for ``source`` (a hard link; ``target`` must not exist)."""
    os.link(source, target)


def unlink(path: Path) -> None:
    """Remove ``path`` (an error if it is absent)."""
    os.unlink(path)


def remove_quietly(path: Path) -> None:
    """Remove ``path`` if it exists; errors are ignored (used while cleaning up a failure)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


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


def open_directory(path: Path) -> None:
    """Create the data directory (0700) or check the one there; typed errors for a file in
    its place, another owner, or no permission."""
    try:
        ensure_private_dir(path)
        check_owner(path, os.stat(path))
    except (FileExistsError, NotADirectoryError) as error:
        raise StoreNotAFileError(path, expected="directory") from error
    except OSError as error:
        raise open_error(path, error) from error


def check_owner(path: Path, status: os.stat_result) -> None:
    """Refuse a data file owned by another user (even root would then write files that the
    bot's own user cannot read back)."""
    uid = os.geteuid()
    if status.st_uid != uid:
        raise StorePermissionError(
            path, owner=status.st_uid, mode=stat.S_IMODE(status.st_mode), uid=uid
        )


def open_error(path: Path, error: OSError) -> StoreError:
    """The typed store error for an operating-system error on one of the store's files."""
    if isinstance(error, IsADirectoryError):
        return StoreNotAFileError(path, expected="file")
    if isinstance(error, NotADirectoryError):
        return StoreNotAFileError(path.parent, expected="directory")
    if isinstance(error, PermissionError):
        owner: int | None = None
        mode: int | None = None
        with contextlib.suppress(OSError):
            status = os.stat(path)
            owner, mode = status.st_uid, stat.S_IMODE(status.st_mode)
        return StorePermissionError(path, owner=owner, mode=mode, uid=os.geteuid())
    return StoreIOError(path, error=error.strerror or str(error))


def keep_damaged(path: Path, raw: bytes) -> Path:
    """Copy a damaged file's bytes to ``<file>.damaged`` (or ``.damaged.2``... when an older,
    different copy is there) before refusing it, so no later repair can lose them."""
    for number in range(1, 100):
        copy = path.with_name(path.name + ".damaged" + (f".{number}" if number > 1 else ""))
        try:
            if not os.path.lexists(copy):
                atomic_write(copy, [raw])
                return copy
            if copy.is_file() and copy.read_bytes() == raw:
                return copy
        except OSError:
            log.exception("%s: cannot keep a copy of the damaged file", path)
            return path
    return path
