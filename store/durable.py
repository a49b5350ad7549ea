"""One durable store: an atomic JSON snapshot plus an fsync'd, append-only journal.

Files in the data directory, for a store called ``name``:

``name.json``
    The snapshot: ``{"format": 1, "seq": S, "tables": {table: {key: doc}}}``, one document a
    line. Only ever replaced whole (temp file, fsync, ``os.replace``, fsync of the directory).
``name.journal``
    One line per acknowledged write: ``<crc32 hex> {"s": N, "ops": [...]}``. A write is
    acknowledged after the line is fsync'd; the ops of one line apply together or not at all.
``name.<seq>.journal``
    A journal switched out by a compaction still being written (or one that failed): its lines
    end at ``seq`` and are replayed before ``name.journal`` until a snapshot holds them.

Opening replays the journal lines newer than the snapshot's ``seq``. A torn last piece (no
newline: an unacknowledged write cut by a crash) is truncated away. A complete line that fails
its checksum is damage, never a torn write: opening refuses with :class:`StoreCorruptError`
(file, line, byte offset, what to do) after copying the file to ``<file>.damaged``, and writes
nothing else; so does an unreadable snapshot. A file of the wrong kind, of another owner or
without permission raises the typed errors of ``store.errors`` instead of a raw ``OSError``.

Compaction (:meth:`Database.compact`) runs beside the writes: under the lock the journal is
switched to a fresh file and a frozen view of the tables is taken; the snapshot is written
outside the lock (in a background thread when a write crosses the size threshold), then the
switched-out journal is removed. A crash at any point leaves files that replay to every
acknowledged write; leftovers (temp snapshot, half-made journal) are removed at the next open.

TinyDB holds the data in memory through :class:`_LiveStorage`, so ``Collection.find`` accepts
TinyDB queries. Writes go to the journal and then straight into that memory: TinyDB's own write
path rebuilds and rewrites the whole table on every change, which is what made stock TinyDB slow.

Beside this module: ``store/fileformat.py`` (the bytes of a journal line and of a snapshot, and
their checks), ``store/collection.py`` (a table's reads, queries and indexes) and ``store/fs.py``
(fsync, atomic replace, locks, and the typed error for what the operating system refuses).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from store import fs
from store.collection import Collection, gc_paused
from store.errors import (
    StoreClosedError,
    StoreCorruptError,
    StoreLockedError,
)
from store.fileformat import (
    Doc,
    decode_line,
    dumps,
    short,
    snapshot_chunks,
    snapshot_problem,
)
from store.fs import check_owner, keep_damaged, open_directory, open_error

log = logging.getLogger(__name__)

DEFAULT_COMPACT_MIN_BYTES = 4 * 1024 * 1024
#: Above this snapshot size, the loaded objects are moved out of the GC's reach (``gc.freeze``):
#: otherwise every full collection walks millions of documents that live as long as the bot.
FREEZE_MIN_BYTES = 8 * 1024 * 1024
#: ``observer(store_name, seconds)`` after every durable write (append + fsync), e.g. metrics.
CommitObserver = Callable[[str, float], None]
_COMMIT_OBSERVERS: list[CommitObserver] = []


def observe_commits(observer: CommitObserver) -> Callable[[], None]:
    """Have ``observer`` called after every acknowledged write of any store in this process;
    returns the function that removes it again. An observer must be quick and never raise."""
    _COMMIT_OBSERVERS.append(observer)

    def remove() -> None:
        if observer in _COMMIT_OBSERVERS:
            _COMMIT_OBSERVERS.remove(observer)

    return remove


class _LiveStorage(Storage):
    """A TinyDB storage over the store's in-memory tables (read-only for TinyDB)."""

    def __init__(self, tables: dict[str, dict[str, Doc]]) -> None:
        self._tables = tables

    def read(self) -> dict[str, dict[str, Any]]:
        return self._tables

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        raise TypeError("write through Collection/Database, never through TinyDB")


class _KeyedTable(Table):
    """TinyDB table whose document ids are the store's string keys."""

    document_id_class = str  # type: ignore[assignment]  # TinyDB annotates int


class _TinyDB(TinyDB):
    table_class = _KeyedTable


class Batch:
    """Writes collected inside ``Database.batch()``: one journal line, one fsync."""

    def __init__(self) -> None:
        self._ops: list[str] = []
        self._effects: list[tuple[str, str, Doc | None]] = []

    def put(self, table: str, key: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace ``doc`` under ``key`` in ``table``."""
        if not isinstance(key, str):
            raise TypeError(f"keys are strings, got {type(key).__name__}")
        doc_json = dumps(doc)
        self._ops.append(f'{{"t":{dumps(table)},"op":"put","k":{dumps(key)},"d":{doc_json}}}')
        self._effects.append((table, key, json.loads(doc_json)))

    def delete(self, table: str, key: str) -> None:
        """Remove ``key`` from ``table`` (no error if it is absent)."""
        self._ops.append(f'{{"t":{dumps(table)},"op":"del","k":{dumps(key)}}}')
        self._effects.append((table, key, None))

    def __len__(self) -> int:
        return len(self._ops)


class Database:
    """One durable store (snapshot + journal pair); thread-safe, one writer at a time.

    ``compact_min_bytes``: the journal is compacted once it is larger than this and larger than
    the snapshot, so compaction costs O(1) per write on average. That compaction runs in a
    background thread beside the writes (see :meth:`compact`).
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        compact_min_bytes: int = DEFAULT_COMPACT_MIN_BYTES,
    ) -> None:
        self.name = name
        self.directory = Path(directory)
        self.snapshot_path = self.directory / f"{name}.json"
        self.journal_path = self.directory / f"{name}.journal"
        self.compact_min_bytes = compact_min_bytes
        self._lock = threading.RLock()
        self._tables: dict[str, dict[str, Doc]] = {}
        self._collections: dict[str, Collection] = {}
        self._tinydb = _TinyDB(self._tables, storage=_LiveStorage)
        self._seq = 0
        self._snapshot_bytes = 0
        self._journal_bytes = 0
        #: Switched-out journals whose lines the snapshot does not hold yet, oldest first.
        self._segments: list[Path] = []
        self._compacting = threading.Lock()  # one compaction at a time
        self._compactor: threading.Thread | None = None
        self._broken: BaseException | None = None
        self._journal_fd: int | None = None
        try:
            open_directory(self.directory)
            self._journal_fd = self._open_journal()
            self._recover()
        except BaseException:
            self.close()
            raise

    @property
    def _new_journal_path(self) -> Path:
        """Where the next journal is created before it is renamed into place."""
        return self.journal_path.with_name(self.journal_path.name + ".new")

    def _segment_path(self, seq: int) -> Path:
        return self.directory / f"{self.name}.{seq:012d}.journal"

    def files(self) -> list[Path]:
        """Every file this store keeps in the directory now (snapshot, journal, segments)."""
        with self._lock:
            found = [self.snapshot_path, *self._segments, self.journal_path]
            return [path for path in found if path.exists()]

    # -- opening and recovery -------------------------------------------------------------

    def _open_journal(self) -> int:
        """Open (creating) the journal for appending and lock it against other writers."""
        path = self.journal_path
        existed = os.path.lexists(path)
        try:
            fd = fs.open_private(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        except OSError as error:
            raise open_error(path, error) from error
        try:
            check_owner(path, os.fstat(fd))
            if not fs.try_lock(fd):
                raise StoreLockedError(path)
            if not existed:
                fs.fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _recover(self) -> None:
        """Remove leftovers, load the snapshot, replay the switched-out and current journals."""
        for leftover in (fs.temp_path(self.snapshot_path), self._new_journal_path):
            if os.path.lexists(leftover):
                log.warning("removing unfinished file %s", leftover)
                try:
                    fs.unlink(leftover)
                except OSError as error:
                    raise open_error(leftover, error) from error
                fs.fsync_dir(self.directory)
        segments = self._find_segments()
        has_snapshot = os.path.lexists(self.snapshot_path)
        if has_snapshot:
            self._load_snapshot()
        snapshot_seq = self._seq
        self._replay(segments, has_snapshot)
        covered = [path for path, last in segments if last <= snapshot_seq]
        for path in covered:  # a compaction was cut after its snapshot: the lines are in it
            fs.unlink(path)
        if covered:
            fs.fsync_dir(self.directory)
        self._segments = [path for path, _ in segments if path not in covered]

    def _find_segments(self) -> list[tuple[Path, int]]:
        """Switched-out journals, oldest first (a compaction cut right after linking one is
        undone: that link is still the current journal)."""
        pattern = re.compile(re.escape(self.name) + r"\.(\d{12})\.journal")
        found = []
        for path in self.directory.iterdir():
            match = pattern.fullmatch(path.name)
            if match is None:
                continue
            try:
                same = os.path.samefile(path, self.journal_path)
            except OSError as error:
                raise open_error(path, error) from error
            if same:
                log.warning("undoing an unfinished journal switch: %s", path)
                fs.unlink(path)
                fs.fsync_dir(self.directory)
                continue
            found.append((int(match.group(1)), path))
        return [(path, seq) for seq, path in sorted(found)]

    def _load_snapshot(self) -> None:
        path = self.snapshot_path
        try:
            check_owner(path, os.stat(path))
            os.chmod(path, fs.FILE_MODE)
            raw = path.read_bytes()
        except OSError as error:
            raise open_error(path, error) from error
        try:
            with gc_paused():
                data = json.loads(raw)
                if len(raw) >= FREEZE_MIN_BYTES:
                    gc.freeze()  # long-lived data: keep it out of every later GC pass
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            line = getattr(error, "lineno", None)
            raise StoreCorruptError(path, "bad_json", line, error=short(error)) from error
        problem = snapshot_problem(data)
        if problem:
            raise StoreCorruptError(path, "not_snapshot", error=problem)
        self._seq = data["seq"]
        self._tables.update(data["tables"])
        self._snapshot_bytes = len(raw)

    def _replay(self, segments: list[tuple[Path, int]], has_snapshot: bool) -> None:
        """Apply the journal lines newer than the snapshot, segments first; cut a torn tail."""
        assert self._journal_fd is not None
        records: list[tuple[Path, int, dict[str, Any]]] = []
        for path, _ in segments:
            try:
                check_owner(path, os.stat(path))
                raw = path.read_bytes()
            except OSError as error:
                raise open_error(path, error) from error
            records += [(path, n, r) for n, r in Database._parse(path, raw, current=False)[0]]
        path = self.journal_path
        try:
            raw = os.pread(self._journal_fd, os.fstat(self._journal_fd).st_size, 0)
        except OSError as error:
            raise open_error(path, error) from error
        parsed, end = Database._parse(path, raw, current=True)
        records += [(path, n, r) for n, r in parsed]
        expected = None
        for path, number, record in records:
            seq = record["s"]
            if expected is None and not has_snapshot and seq != 1:
                raise StoreCorruptError(
                    path, "snapshot_missing", number, found=seq, snapshot=self.snapshot_path.name
                )
            if expected is not None and seq != expected:
                raise StoreCorruptError(path, "sequence", number, expected=expected, found=seq)
            expected = seq + 1
            if seq <= self._seq:
                continue
            if seq != self._seq + 1:
                expected = self._seq + 1
                raise StoreCorruptError(path, "sequence", number, expected=expected, found=seq)
            for op in record["ops"]:
                self._apply(op["t"], op["k"], op["d"] if op["op"] == "put" else None)
            self._seq = seq
        if end < len(raw):
            self._truncate_journal(end, len(raw))
        self._journal_bytes = end

    @staticmethod
    def _parse(
        path: Path, raw: bytes, *, current: bool
    ) -> tuple[list[tuple[int, dict[str, Any]]], int]:
        """The records of one journal file and where the intact part ends.

        Only the current journal may end in a torn piece (no newline: a write cut by a crash,
        never acknowledged). A complete line that fails its checksum is damage: refused, and
        the file's bytes are copied to ``<file>.damaged`` first.
        """
        pieces = raw.split(b"\n")
        complete, tail = pieces[:-1], pieces[-1]
        if tail and not current:
            raise StoreCorruptError(
                path, "damaged_segment", len(pieces), offset=len(raw) - len(tail), error="torn"
            )
        records: list[tuple[int, dict[str, Any]]] = []
        end = 0
        for number, line in enumerate(complete, start=1):
            record, problem = decode_line(line)
            if record is None:
                if not current:
                    raise StoreCorruptError(
                        path, "damaged_segment", number, offset=end, error=problem
                    )
                if any(decode_line(later)[0] is not None for later in complete[number:]):
                    copy = keep_damaged(path, raw)
                    raise StoreCorruptError(
                        path, "bad_record", number, offset=end, error=problem, copy=copy
                    )
                copy = keep_damaged(path, raw)
                raise StoreCorruptError(
                    path, "damaged_tail", number, offset=end, error=problem, copy=copy, cut=end
                )
            records.append((number, record))
            end += len(line) + 1
        return records, end

    def _truncate_journal(self, offset: int, size: int) -> None:
        """Cut an unacknowledged, torn write from the end of the journal."""
        assert self._journal_fd is not None
        log.warning(
            "%s: discarding %d bytes of an unfinished write at the end",
            self.journal_path,
            size - offset,
        )
        os.ftruncate(self._journal_fd, offset)
        os.fsync(self._journal_fd)

    # -- reading --------------------------------------------------------------------------

    def table(self, name: str, *, indexes: Iterable[str] = ()) -> Collection:
        """The collection ``name`` (created empty on first write); ``indexes`` are fields
        looked up in O(1) by ``Collection.find_by`` (string or integer values)."""
        with self._lock:
            collection = self._collections.get(name)
            if collection is None:
                collection = Collection(self, name)
                self._collections[name] = collection
            for field in indexes:
                collection._add_index(field)
            return collection

    def table_names(self) -> list[str]:
        """Names of the tables that hold at least one document."""
        with self._lock:
            return [name for name, docs in self._tables.items() if docs]

    @property
    def seq(self) -> int:
        """Number of the last acknowledged write."""
        return self._seq

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock across a read-check-write sequence."""
        with self._lock:
            yield

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Collect writes and commit them as one durable, all-or-nothing journal line."""
        with self._lock:
            batch = Batch()
            yield batch
            self.commit(batch)

    def commit(self, batch: Batch) -> None:
        """Append the batch to the journal, fsync, then apply it in memory."""
        if not len(batch):
            return
        with self._lock:
            fd = self._writable_fd()
            seq = self._seq + 1
            payload = f'{{"s":{seq},"ops":[{",".join(batch._ops)}]}}'.encode()
            line = b"%08x %s\n" % (zlib.crc32(payload), payload)
            started = time.perf_counter()
            try:
                fs.write_all(fd, line)
                fs.sync_data(fd)
            except BaseException as error:
                self._undo_partial_write(fd, error)
                raise
            for observer in _COMMIT_OBSERVERS:
                observer(self.name, time.perf_counter() - started)
            self._seq = seq
            self._journal_bytes += len(line)
            for table, key, doc in batch._effects:
                self._apply(table, key, doc)
            if self._journal_bytes > max(self.compact_min_bytes, self._snapshot_bytes):
                self._compact_in_background()

    def _writable_fd(self) -> int:
        if self._journal_fd is None:
            raise StoreClosedError(self.name)
        if self._broken is not None:
            raise StoreClosedError(self.name) from self._broken
        return self._journal_fd

    def _undo_partial_write(self, fd: int, error: BaseException) -> None:
        """After a failed append (disk full...), cut the partial line or refuse further writes."""
        try:
            os.ftruncate(fd, self._journal_bytes)
            os.fsync(fd)
        except OSError:
            log.exception("%s: cannot undo a failed write; store is read-only", self.journal_path)
            self._broken = error

    def _apply(self, table: str, key: str, doc: Doc | None) -> None:
        docs = self._tables.setdefault(table, {})
        old = docs.pop(key, None) if doc is None else docs.get(key)
        if doc is not None:
            docs[key] = doc
        collection = self._collections.get(table)
        if collection is not None:
            collection._reindex(key, old, doc)

    # -- compaction -----------------------------------------------------------------------

    def compact(self) -> None:
        """Write the state as of this call as the snapshot and drop the journal lines it holds.

        Writes from other threads go on meanwhile: under the lock the journal is only switched
        (the current file gets a second name, ``<name>.<seq>.journal``, and a fresh, locked
        journal is renamed into place: a link, a rename, a directory fsync) and a shallow copy
        of the tables is taken (documents are never changed in place, so it is a frozen view);
        the snapshot of that view is written outside the lock, then the switched-out journal
        is removed. A crash at any point leaves the old snapshot with every journal, or the
        new snapshot with the journals it may not hold yet.

        When this returns, no file of the store holds a document, or an earlier version of
        one, that the state as of the call does not have (erasure relies on it). It waits for
        a compaction already running in the background.
        """
        with self._compacting:
            self._run_compaction()

    def _compact_in_background(self) -> None:
        """Start a compaction in a thread unless one is running (called by ``commit``)."""
        if not self._compacting.acquire(blocking=False):
            return
        thread = threading.Thread(
            target=self._background_compaction, name=f"compact-{self.name}", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            self._compacting.release()
            raise
        self._compactor = thread

    def _background_compaction(self) -> None:
        try:
            self._run_compaction()
        except StoreClosedError:
            pass
        except Exception:  # a failure here must not fail any write: the journal keeps growing
            log.exception("%s: compaction failed; the journal keeps growing", self.name)
        finally:
            self._compacting.release()

    def _run_compaction(self) -> None:
        """Switch the journal and take the frozen view (under the lock), then write it."""
        with self._lock:
            fd = self._writable_fd()
            if self._journal_bytes:
                self._switch_journal(fd)
            if not self._segments:
                return  # the snapshot already holds the whole state
            seq = self._seq
            tables = {table: dict(docs) for table, docs in self._tables.items() if docs}
            segments = list(self._segments)
        fs.atomic_write(self.snapshot_path, snapshot_chunks(seq, tables))
        size = self.snapshot_path.stat().st_size
        with self._lock:
            self._snapshot_bytes = size
        for segment in segments:
            fs.unlink(segment)
        fs.fsync_dir(self.directory)
        with self._lock:
            self._segments = [path for path in self._segments if path not in segments]

    def _switch_journal(self, old_fd: int) -> None:
        """Give the current journal its segment name and put a fresh journal in its place;
        ``<name>.journal`` exists (and is locked) at every instant."""
        segment = self._segment_path(self._seq)
        new = self._new_journal_path
        fs.remove_quietly(new)
        fs.link(self.journal_path, segment)
        try:
            fd = fs.open_private(new, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND)
            try:
                if not fs.try_lock(fd):
                    raise StoreLockedError(new)
                fs.replace(new, self.journal_path)
            except BaseException:
                os.close(fd)
                fs.remove_quietly(new)
                raise
        except BaseException:
            fs.remove_quietly(segment)
            raise
        self._journal_fd = fd
        self._journal_bytes = 0
        self._segments.append(segment)
        os.close(old_fd)
        # Before any write to the new journal is acknowledged, its name must be durable.
        fs.fsync_dir(self.directory)

    def close(self) -> None:
        """Release the journal and its lock (after a running compaction has finished);
        further use raises ``StoreClosedError``."""
        compactor = self._compactor
        if compactor is not None and compactor is not threading.current_thread():
            compactor.join()
        with self._lock:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None

    def __repr__(self) -> str:
        return f"Database({str(self.directory)!r}, {self.name!r})"
