"""Backups of the embedded store: taken while the bot runs, restored only while it does not.

**Reading without the lock.** The running bot holds every store's journal lock, so a backup
reads the files as they are, which the store's own format makes safe: the snapshot is only ever
replaced whole (``os.replace``), the journal is only appended to, every line carries its
sequence number and a checksum, and a line without its final newline is a write still under
way (never acknowledged). A store is read as snapshot + switched-out journals + journal; the
lines newer than the snapshot must follow it without a gap. A compaction that switched files
between two reads shows up as a gap or a vanished file, and the store is read again. The result
is each store exactly as of one acknowledged write (the stores are independent; a write that
spans two stores, like an erasure, is finished by ``Stores.open`` after a restore, as after a
crash).

**The archive** (``write_backup``) is a gzip'd tar, created 0600 through a temp file, fsync and
rename: ``manifest.json`` (format, time, per store: sequence number, document counts per table,
SHA-256 and size of its snapshot), then ``stores/<name>.json`` per store, each a snapshot in the
store's own format. The webhook inbox is kept without the payloads of updates not handled yet
(``store.inbox.without_payloads``): a restore never answers old messages again.
``verify_backup`` checks all of it before anything is written.

**Restoring** (``restore_backup``) refuses while any store of the data directory is locked (the
bot runs: ``StoreLockedError``), and holds the locks itself meanwhile. The current files are
moved into ``pre-restore-<time>/`` inside the data directory (kept for the operator to delete),
the backup's snapshots written with empty journals. A marker file says a restore is under way:
``Stores.open`` refuses while it is there (``RestoreUnfinishedError``); running the same restore
again finishes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store import fs
from store.durable import Doc
from store.errors import BackupInvalidError, StoreIOError, StoreLockedError
from store.fileformat import decode_line as _decode_line
from store.fileformat import snapshot_chunks as _snapshot_chunks
from store.fileformat import snapshot_problem as _snapshot_problem
from store.fs import open_error
from store.inbox import without_payloads

FORMAT = "serang-bot-backup"
INBOX = "inbox"
VERSION = 1
#: A restore under way; ``Stores.open`` refuses the directory while it exists.
RESTORE_MARKER = "RESTORE-IN-PROGRESS"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_STORE_FILE = re.compile(r"([a-z][a-z0-9_]{0,39})(?:\.json|\.journal|\.(\d{12})\.journal)")
_MEMBER = re.compile(r"stores/([a-z][a-z0-9_]{0,39})\.json")
#: Reads of one store retried when a compaction switched its files meanwhile.
ATTEMPTS = 50

Tables = dict[str, dict[str, Doc]]


class _Moved(Exception):
    """A compaction changed the files while they were read: read again."""


@dataclass(frozen=True)
class StoreImage:
    """One store as of one acknowledged write."""

    name: str
    seq: int
    tables: Tables

    def counts(self) -> dict[str, int]:
        return {table: len(docs) for table, docs in self.tables.items() if docs}


def store_names(data_dir: Path) -> list[str]:
    """The stores with files in the data directory."""
    found = {m.group(1) for p in Path(data_dir).iterdir() if (m := _STORE_FILE.fullmatch(p.name))}
    return sorted(found)


def read_store(data_dir: Path, name: str) -> Tables:
    """The tables of store ``name`` as of its last acknowledged write, read without its lock."""
    return read_image(data_dir, name).tables


def read_image(data_dir: Path, name: str) -> StoreImage:
    for _ in range(ATTEMPTS):
        try:
            return _read_once(Path(data_dir), name)
        except _Moved:
            time.sleep(0.001)
    raise StoreIOError(Path(data_dir) / f"{name}.journal", error="kept changing while read")


def _read_once(directory: Path, name: str) -> StoreImage:
    snapshot = directory / f"{name}.json"
    seq, tables = 0, {}
    try:
        raw = snapshot.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as error:
        raise open_error(snapshot, error) from error
    if raw is not None:
        try:
            data = json.loads(raw)
        except ValueError as error:  # replaced whole, never in place: this is damage
            raise BackupInvalidError(snapshot, "the snapshot is not JSON") from error
        problem = _snapshot_problem(data)
        if problem:
            raise BackupInvalidError(snapshot, problem)
        seq, tables = data["seq"], data["tables"]
    pattern = re.compile(re.escape(name) + r"\.(\d{12})\.journal")
    segments = sorted(
        (int(m.group(1)), p) for p in directory.iterdir() if (m := pattern.fullmatch(p.name))
    )
    files = [path for _, path in segments] + [directory / f"{name}.journal"]
    expected = seq + 1
    for path in files:
        try:
            content = path.read_bytes()
        except FileNotFoundError as error:
            raise _Moved from error  # a segment removed by a compaction that just finished
        except OSError as error:
            raise open_error(path, error) from error
        for line in content.split(b"\n")[:-1]:  # the piece after the last newline: unfinished
            record, _ = _decode_line(line)
            if record is None:
                raise BackupInvalidError(path, "a damaged journal line")
            if record["s"] < expected:
                continue  # already in the snapshot (or in a segment read before)
            if record["s"] != expected:
                raise _Moved  # lines switched out between the snapshot and this file
            for op in record["ops"]:
                docs = tables.setdefault(op["t"], {})
                if op["op"] == "put":
                    docs[op["k"]] = op["d"]
                else:
                    docs.pop(op["k"], None)
            expected += 1
    return StoreImage(name, expected - 1, tables)


# -- the archive -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    created_at: str
    stores: dict[str, dict[str, Any]]

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: info["counts"] for name, info in self.stores.items()}


def _snapshot_bytes(image: StoreImage) -> bytes:
    return "".join(_snapshot_chunks(image.seq, image.tables)).encode()


def write_backup(data_dir: Path, out: Path) -> Manifest:
    """Back up every store of ``data_dir`` into ``out`` (0600), while the bot may run."""
    data_dir, out = Path(data_dir), Path(out)
    if not data_dir.is_dir():
        raise StoreIOError(data_dir, error="no such data directory")
    images = [read_image(data_dir, name) for name in store_names(data_dir)]
    images = [  # updates not handled at backup time are not answered again after a restore
        StoreImage(i.name, i.seq, without_payloads(i.tables)) if i.name == INBOX else i
        for i in images
    ]
    payloads = {image.name: _snapshot_bytes(image) for image in images}
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        stores={
            image.name: {
                "seq": image.seq,
                "counts": image.counts(),
                "sha256": hashlib.sha256(payloads[image.name]).hexdigest(),
                "bytes": len(payloads[image.name]),
            }
            for image in images
        },
    )
    head = {"format": FORMAT, "version": VERSION, "created_at": manifest.created_at}
    head["stores"] = manifest.stores
    temp = fs.temp_path(out)
    fd = fs.open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz", compresslevel=6) as tar:
                _add(tar, "manifest.json", json.dumps(head, indent=1).encode())
                for name, payload in payloads.items():
                    _add(tar, f"stores/{name}.json", payload)
            handle.flush()
            os.fsync(handle.fileno())
        fs.replace(temp, out)
    except BaseException:
        fs.remove_quietly(temp)
        raise
    fs.fsync_dir(out.parent if str(out.parent) else Path("."))
    return manifest


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(payload))


def verify_backup(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """Read and check a whole archive: the manifest, every snapshot's checksum, format,
    sequence number and counts. Raises ``BackupInvalidError``; returns the snapshots."""
    path = Path(path)
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            members = {}
            for member in tar:
                if not member.isfile():
                    raise BackupInvalidError(path, f"unexpected entry {member.name!r}")
                handle = tar.extractfile(member)
                assert handle is not None
                members[member.name] = handle.read()
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BackupInvalidError(path, f"cannot be read: {error}") from error
    try:
        head = json.loads(members.pop("manifest.json"))
    except (KeyError, ValueError) as error:
        raise BackupInvalidError(path, "no readable manifest.json") from error
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise BackupInvalidError(path, "not a backup of this bot")
    if head.get("version") != VERSION:
        raise BackupInvalidError(path, f"backup version {head.get('version')!r} is not known")
    stores = head.get("stores")
    if not isinstance(stores, dict):
        raise BackupInvalidError(path, "the manifest lists no stores")
    snapshots: dict[str, bytes] = {}
    for entry, payload in members.items():
        match = _MEMBER.fullmatch(entry)
        if match is None:
            raise BackupInvalidError(path, f"unexpected entry {entry!r}")
        snapshots[match.group(1)] = payload
    if set(snapshots) != set(stores):
        raise BackupInvalidError(path, "the stores in it differ from its manifest")
    for name, payload in snapshots.items():
        info = stores[name]
        if hashlib.sha256(payload).hexdigest() != info.get("sha256"):
            raise BackupInvalidError(path, f"{name}: checksum mismatch")
        try:
            data = json.loads(payload)
        except ValueError as error:
            raise BackupInvalidError(path, f"{name}: not JSON") from error
        problem = _snapshot_problem(data)
        if problem or data["seq"] != info.get("seq"):
            raise BackupInvalidError(path, f"{name}: not a snapshot ({problem or 'seq'})")
        counts = {table: len(docs) for table, docs in data["tables"].items() if docs}
        if counts != info.get("counts"):
            raise BackupInvalidError(path, f"{name}: document counts differ from the manifest")
    return Manifest(str(head.get("created_at")), stores), snapshots


def restore_backup(path: Path, data_dir: Path) -> tuple[Manifest, Path | None]:
    """Replace the stores of ``data_dir`` by the archive's (see the module docstring).

    Returns the manifest and where the previous files were moved (None if there were none).
    Raises ``BackupInvalidError`` before touching anything, ``StoreLockedError`` while a bot
    runs on the directory.
    """
    manifest, snapshots = verify_backup(path)
    data_dir = Path(data_dir)
    fs.ensure_private_dir(data_dir)
    locks: list[int] = []
    try:
        for name in sorted(set(store_names(data_dir)) | set(snapshots)):
            locks.append(_lock(data_dir / f"{name}.journal"))
        marker = data_dir / RESTORE_MARKER
        fs.atomic_write(marker, [json.dumps({"backup": str(path), "at": manifest.created_at})])
        aside = _move_aside(data_dir)
        for fd in locks:  # every journal empty: each restored snapshot holds its whole store
            os.ftruncate(fd, 0)
            os.fsync(fd)
        for name, payload in snapshots.items():
            fs.atomic_write(data_dir / f"{name}.json", [payload])
        fs.fsync_dir(data_dir)
        fs.unlink(marker)
        fs.fsync_dir(data_dir)
    finally:
        for fd in locks:
            os.close(fd)
    return manifest, aside


def _lock(journal: Path) -> int:
    try:
        fd = fs.open_private(journal, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    except OSError as error:
        raise open_error(journal, error) from error
    if not fs.try_lock(fd):
        os.close(fd)
        raise StoreLockedError(journal)
    return fd


def _move_aside(data_dir: Path) -> Path | None:
    """Move the current snapshots and switched-out journals into ``pre-restore-<time>/``;
    journals are copied there and then emptied (they stay in place: they carry the locks)."""
    files = [p for p in data_dir.iterdir() if _STORE_FILE.fullmatch(p.name)]
    if not any(p.stat().st_size for p in files):
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = data_dir / f"pre-restore-{stamp}"
    fs.ensure_private_dir(aside)
    for path in files:
        if path.name.endswith(".journal") and path.name.count(".") == 1:  # the current journal
            fs.atomic_write(aside / path.name, _chunks(path))
        else:
            fs.replace(path, aside / path.name)
    fs.fsync_dir(aside)
    fs.fsync_dir(data_dir)
    return aside


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk
