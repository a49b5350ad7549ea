"""All the bot's stores in one data directory, and the facade the event loop uses."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from store.backup import RESTORE_MARKER
from store.clock import Clock, iso, utc_now
from store.durable import DEFAULT_COMPACT_MIN_BYTES, Database, Doc
from store.errors import RestoreUnfinishedError
from store.fs import open_directory
from store.handoff import Tickets
from store.inbox import Inbox
from store.registrations import RegistrationRepo
from store.repos import (
    AuditRepo,
    ConsentRepo,
    KeyValueRepo,
    ScreeningRepo,
    SubscriberRepo,
    UnansweredRepo,
    UserRepo,
    new_id,
)
from store.staff_names import StaffNameRepo

if TYPE_CHECKING:
    from store.pg import PgBackend
    from store.pg_inbox import PgInbox, Workers

log = logging.getLogger(__name__)

T = TypeVar("T")
UserDeleter = Callable[[int], int]

#: Store files of the bot. Busy collections get their own file so they never queue behind
#: registrations; consents live with the screenings they authorise.
CORE_STORES = ("registrations", "screenings", "users", "subscribers", "unanswered", "audit", "kv")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: A file of a store in the data directory: snapshot, journal, switched-out journal.
_STORE_FILE = re.compile(r"([a-z][a-z0-9_]{0,39})(?:\.json|\.journal|\.\d{12}\.journal)")
#: The core stores that hold a citizen's data; an erasure rewrites them (the audit holds none).
ERASED_STORES = ("registrations", "screenings", "users", "subscribers", "unanswered", "kv")
#: Erasures asked for and not finished yet (user id, registration numbers, time; no data).
ERASURES = "erasures"
#: The stores a retention purge removes data from, and so rewrites.
PURGED_STORES = ("registrations", "screenings", "users", "subscribers", "unanswered", "kv")
#: The webhook inbox (``store.inbox``): opened on first use, or at start-up when it is on disk.
INBOX = "inbox"

#: ``actor`` recorded for actions the citizen or the system takes (no personal id in the audit).
SYSTEM_ACTOR = 0


class Stores:
    """The bot's stores, opened once at start-up (see ``open``)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock = utc_now,
        compact_min_bytes: int | None = None,
        database_url: str | None = None,
        shared: bool = False,
    ) -> None:
        """Prefer ``Stores.open``; this opens every core store, closing them again on failure."""
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._compact_min_bytes = compact_min_bytes or DEFAULT_COMPACT_MIN_BYTES
        self._databases: dict[str, Database] = {}
        self._deleters: dict[str, UserDeleter] = {}
        self._erasing = threading.RLock()  # one erasure at a time
        self._inbox: Inbox | PgInbox | None = None
        self._backend: PgBackend | None = None
        open_directory(self.data_dir)  # on PostgreSQL too: exports and charts wait there
        if (self.data_dir / RESTORE_MARKER).exists():  # part old data, part a backup's
            raise RestoreUnfinishedError(self.data_dir / RESTORE_MARKER)
        try:
            if database_url:
                from store.pg import PgBackend  # psycopg only when PostgreSQL is used

                self._backend = PgBackend(database_url, shared=shared)
            for name in (*CORE_STORES, ERASURES, *self._stores_on_disk()):
                self.database(name)
        except BaseException:
            self.close()
            raise
        db = self._databases
        self.registrations = RegistrationRepo(db["registrations"], clock=clock)
        self.screenings = ScreeningRepo(db["screenings"], clock=clock)
        self.consents = ConsentRepo(db["screenings"], clock=clock)
        self.users = UserRepo(db["users"], clock=clock)
        self.subscribers = SubscriberRepo(db["subscribers"], clock=clock)
        self.unanswered = UnansweredRepo(db["unanswered"], clock=clock)
        self.audit = AuditRepo(db["audit"], clock=clock)
        self.kv = KeyValueRepo(db["kv"])
        self._pending = db[ERASURES].table("pending")
        try:
            # Handoff tickets tie a Telegram id to a registration number: erased with the rest.
            self.handoff = Tickets(self.database("handoff"), clock=clock)
            self._deleters["handoff"] = self.handoff.delete_user
            # Staff members' first names as Telegram shows them (the desk's display names).
            self.staff_names = StaffNameRepo(self.database("staff_names"), clock=clock)
            self._deleters["staff_names"] = self.staff_names.delete_user
            if INBOX in self._databases:  # updates a webhook stored: erased with the rest
                self._deleters[INBOX] = self.inbox.delete_user
            self._finish_erasures()
        except BaseException:
            self.close()
            raise

    def _stores_on_disk(self) -> list[str]:
        """Names of the stores whose files are in the data directory (or that exist in the
        PostgreSQL database): every store is opened, and so verified, at start-up."""
        if self._backend is not None:
            return self._backend.store_names()
        names = (
            m.group(1) for p in self.data_dir.iterdir() if (m := _STORE_FILE.fullmatch(p.name))
        )
        return sorted(set(names))

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        clock: Clock = utc_now,
        compact_min_bytes: int | None = None,
        database_url: str | None = None,
        shared: bool = False,
    ) -> Stores:
        """Open (creating, 0700) the data directory and recover every store in it; with
        ``database_url`` (``postgresql://...``), the stores in that PostgreSQL database instead
        (``store/pg.py``: the same interface, so every repository works on both).

        Every store with files in the directory is opened and verified, and an erasure that a
        crash interrupted is finished before this returns (see ``delete_user``).

        Raises ``StoreCorruptError`` for a file that cannot be read (it is left untouched),
        ``StoreLockedError`` if another process has the directory open, and the other
        ``StoreOpenError`` kinds for a file of the wrong kind, a permission or a disk problem.
        On PostgreSQL: ``StoreUnreachableError``, ``StoreSchemaError`` (run ``migrate``) and
        ``DatabaseLockedError`` (another bot process has the database open; with ``shared``,
        one of several webhook workers, refused only while a polling bot or a CLI holds it).
        """
        return cls(
            data_dir,
            clock=clock,
            compact_min_bytes=compact_min_bytes,
            database_url=database_url,
            shared=shared,
        )

    @property
    def backend(self) -> str:
        """``embedded`` (files in ``data_dir``) or ``postgresql``."""
        return "embedded" if self._backend is None else "postgresql"

    @property
    def shared(self) -> bool:
        """One of several workers on one PostgreSQL database (``bot/fleet.py``)."""
        return self._backend is not None and self._backend.shared

    @property
    def inbox(self) -> Inbox | PgInbox:
        """The webhook inbox: ``store.inbox`` (its files are created on first use), or on
        PostgreSQL the shared ``inbox`` table (``store/pg_inbox.py``)."""
        if self._inbox is None:
            if self._backend is not None:
                from store.pg_inbox import PgInbox

                self._inbox = PgInbox(self._backend, self.database(INBOX))
            else:
                self._inbox = Inbox(self.database(INBOX), clock=self._clock)
            if INBOX not in self._deleters:
                self.register_user_deleter(INBOX, self._inbox.delete_user)
        return self._inbox

    @property
    def workers(self) -> Workers:
        """The workers' heartbeats (PostgreSQL only: ``store/pg_inbox.py``)."""
        if self._backend is None:
            raise RuntimeError("workers are counted on PostgreSQL only")
        from store.pg_inbox import Workers

        return Workers(self._backend, self.database(INBOX))

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL database's URL (None for the embedded store); holds a password."""
        return self._backend.url if self._backend is not None else None

    def database(self, name: str) -> Database:
        """The durable store ``name`` in the data directory (e.g. a broadcast outbox)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"store names are lowercase identifiers, not {name!r}")
        if name not in self._databases:
            if self._backend is not None:
                from store.pg import PgDatabase

                self._databases[name] = PgDatabase(self._backend, name)
            else:
                self._databases[name] = Database(
                    self.data_dir, name, compact_min_bytes=self._compact_min_bytes
                )
        return self._databases[name]

    @property
    def databases(self) -> dict[str, Database]:
        """The stores opened so far, by name."""
        return dict(self._databases)

    def register_user_deleter(self, name: str, deleter: UserDeleter) -> None:
        """Have ``delete_user`` also call ``deleter(user_id) -> count`` and then rewrite the
        store ``name`` (opened here if needed) so that no file of it keeps the user's data.

        For repositories kept in other stores (``database(name)``): handoff tickets, a desk
        store... One deleter per store name (registering again replaces it); a deleter for a
        core store (``kv``...) runs in addition to the core one. Register at start-up: an
        erasure that a crash interrupted is finished for this store now, and an erasure asked
        for before a store has a deleter does not cover it.
        """
        self.database(name)
        with self._erasing:
            self._deleters[name] = deleter
            for _, record in self._pending.items():
                if name in record["extra"]:
                    self._erase(record)

    def delete_user(self, user_id: int, *, actor: int = SYSTEM_ACTOR) -> dict[str, int]:
        """Erase everything about a user (their own request, or staff ``actor``'s action).

        When this returns, no file in the data directory (snapshot, journal, switched-out
        journal, temp file) of a core store or of a store with a registered deleter holds the
        user's data any more: each is rewritten from its state after the deletion.

        In order: a pending-erasure record (user id, registration numbers, time) is written;
        the user's documents are deleted from every repository; the stores are compacted
        synchronously; one audit line records that an erasure happened (registration numbers,
        counts, time; nothing that was erased); the pending record is removed and its store
        rewritten too. A crash at any point leaves the data, or part of it, with the erasure
        still pending, and ``Stores.open`` finishes it before anything else. Returns counts.
        """
        with self._erasing:
            key = str(user_id)
            earlier = self._pending.get(key) or {}
            reg_nos = {*earlier.get("reg_nos", ()), *self.registrations.numbers_of(user_id)}
            now = self._clock()
            record: Doc = {
                "id": earlier.get("id") or new_id(now),
                "user_id": user_id,
                "reg_nos": sorted(reg_nos),
                "at": earlier.get("at") or iso(now),
                "actor": actor,
                "core_done": False,
                "extra": sorted({*earlier.get("extra", ()), *self._deleters}),
            }
            self._pending.put(key, record)
            return self._erase(record)

    def pending_erasures(self) -> list[int]:
        """Users whose erasure is not finished (a store still without its deleter)."""
        return [record["user_id"] for record in self._pending.all()]

    def _finish_erasures(self) -> None:
        """At start-up: finish every erasure a crash interrupted (the core stores now; a store
        with its own deleter once that deleter is registered)."""
        with self._erasing:
            for record in self._pending.all():
                log.warning("finishing an interrupted erasure (%s)", record["id"])
                self._erase(record)

    def _erase(self, record: Doc) -> dict[str, int]:
        user_id = record["user_id"]
        counts: dict[str, int] = {}
        touched: list[str] = []
        if not record["core_done"]:
            counts = {
                "registrations": self.registrations.delete_user(user_id),
                "screenings": self.screenings.delete_user(user_id),
                "consents": self.consents.delete_user(user_id),
                "users": self.users.delete_user(user_id),
                "subscribers": self.subscribers.delete_user(user_id),
                "unanswered": self.unanswered.delete_user(user_id),
                "kv": self.kv.delete_user(user_id),
            }
            touched += ERASED_STORES
        remaining = []
        for name in record["extra"]:
            deleter = self._deleters.get(name)
            if deleter is None:
                remaining.append(name)
                continue
            counts[name] = counts.get(name, 0) + deleter(user_id)
            touched.append(name)
        for name in dict.fromkeys(touched):
            self._databases[name].compact()
        if not record["core_done"]:
            target = f"erasure:{record['id']}"
            if not self.audit.list(target=target, limit=1):  # once, even when retried
                details = {
                    "reg_nos": record["reg_nos"],
                    "asked_at": record["at"],
                    "counts": counts,
                }
                self.audit.record(record["actor"], "user_data_deleted", target, details)
        key = str(user_id)
        if remaining:
            self._pending.put(key, {**record, "core_done": True, "extra": remaining})
        else:
            self._pending.delete(key)
            self._databases[ERASURES].compact()
        return counts

    def purge(self, older_than_days: int) -> dict[str, int]:
        """Retention: anonymise old registrations, delete old screenings, questions, idle users
        (and their conversation state) and long-inactive subscriptions, then rewrite those
        stores so that no file keeps what was removed. Returns counts per kind."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = self._clock() - timedelta(days=older_than_days)
        idle = self.users.delete_inactive_ids(cutoff)
        counts = {
            "registrations_anonymised": self.registrations.anonymise_older_than(cutoff),
            "screenings": self.screenings.delete_older_than(cutoff),
            "unanswered": self.unanswered.delete_older_than(cutoff),
            "users": len(idle),
            "subscribers": self.subscribers.delete_inactive_since(cutoff),
            "kv": self.kv.delete_users(idle),  # conversation state of the idle users
            "handoff": self.handoff.purge(older_than_days),
        }
        for name in (*PURGED_STORES, "handoff"):
            self._databases[name].compact()
        self.audit.record(
            SYSTEM_ACTOR, "retention_purge", None, {"days": older_than_days, "counts": counts}
        )
        return counts

    def close(self) -> None:
        """Close every store (releases the locks, and the PostgreSQL connections)."""
        for database in self._databases.values():
            database.close()
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStores:
    """Runs store calls off the event loop: one worker thread per store file, so calls to one
    store run one at a time, in order, and a busy store never delays another."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._executors: dict[str, ThreadPoolExecutor] = {}

    @classmethod
    async def open(cls, data_dir: Path, **options: Any) -> AsyncStores:
        """``Stores.open`` in a worker thread (start-up reads every file)."""
        return cls(await asyncio.to_thread(Stores.open, data_dir, **options))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``await call(stores.registrations.get_by_user, uid)``: run ``fn`` in the thread of
        the store it belongs to (methods of ``Stores`` itself use a shared thread)."""
        owner = getattr(fn, "__self__", None)
        database = getattr(owner, "database", None)
        lane = database.name if isinstance(database, Database) else "_shared"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor(lane), functools.partial(fn, *args, **kwargs)
        )

    def _executor(self, lane: str) -> ThreadPoolExecutor:
        executor = self._executors.get(lane)
        if executor is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"store-{lane}")
            self._executors[lane] = executor
        return executor

    async def aclose(self) -> None:
        """Finish queued calls, stop the threads, close the stores."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Blocking version of ``aclose``."""
        for executor in self._executors.values():
            executor.shutdown(wait=True)
        self._executors.clear()
        self.stores.close()
