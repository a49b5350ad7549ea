"""All the bot's stores in one data directory, and the facade the event loop uses."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from store import fs
from store.clock import Clock, utc_now
from store.durable import DEFAULT_COMPACT_MIN_BYTES, Database
from store.handoff import Tickets
from store.registrations import RegistrationRepo
from store.repos import (
    AuditRepo,
    ConsentRepo,
    KeyValueRepo,
    ScreeningRepo,
    SubscriberRepo,
    UnansweredRepo,
    UserRepo,
)

T = TypeVar("T")

#: Store files of the bot. Busy collections get their own file so they never queue behind
#: registrations; consents live with the screenings they authorise.
CORE_STORES = (
    "registrations",
    "screenings",
    "users",
    "subscribers",
    "unanswered",
    "audit",
    "kv",
    "handoff",
)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

#: ``actor`` recorded for actions the citizen or the system takes (no personal id in the audit).
SYSTEM_ACTOR = 0


class Stores:
    """The bot's stores, opened once at start-up (see ``open``)."""

    def __init__(
        self, data_dir: Path, *, clock: Clock = utc_now, compact_min_bytes: int | None = None
    ) -> None:
        """Prefer ``Stores.open``; this opens every core store, closing them again on failure."""
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._compact_min_bytes = compact_min_bytes or DEFAULT_COMPACT_MIN_BYTES
        self._databases: dict[str, Database] = {}
        fs.ensure_private_dir(self.data_dir)
        try:
            for name in CORE_STORES:
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
        self.handoff = Tickets(db["handoff"], clock=clock)

    @classmethod
    def open(
        cls, data_dir: Path, *, clock: Clock = utc_now, compact_min_bytes: int | None = None
    ) -> Stores:
        """Open (creating, 0700) the data directory and recover every store in it.

        Raises ``StoreCorruptError`` for a file that cannot be read (it is left untouched) and
        ``StoreLockedError`` if another process has the directory open.
        """
        return cls(data_dir, clock=clock, compact_min_bytes=compact_min_bytes)

    def database(self, name: str) -> Database:
        """The durable store ``name`` in the data directory (e.g. a broadcast outbox)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"store names are lowercase identifiers, not {name!r}")
        if name not in self._databases:
            self._databases[name] = Database(
                self.data_dir, name, compact_min_bytes=self._compact_min_bytes
            )
        return self._databases[name]

    @property
    def databases(self) -> dict[str, Database]:
        """The stores opened so far, by name."""
        return dict(self._databases)

    def delete_user(self, user_id: int, *, actor: int = SYSTEM_ACTOR) -> dict[str, int]:
        """Delete everything about a user (their own request, or staff ``actor``'s action).

        Keeps one audit line with the counts and no personal data. Returns counts per store.
        """
        counts = {
            "registrations": self.registrations.delete_user(user_id),
            "screenings": self.screenings.delete_user(user_id),
            "consents": self.consents.delete_user(user_id),
            "users": self.users.delete_user(user_id),
            "subscribers": self.subscribers.delete_user(user_id),
            "kv": self.kv.delete_user(user_id),
            "handoff": self.handoff.delete_user(user_id),
        }
        self.audit.record(actor, "user_data_deleted", None, {"counts": counts})
        return counts

    def purge(self, older_than_days: int) -> dict[str, int]:
        """Retention: anonymise old registrations, delete old screenings, questions, idle users
        and long-inactive subscriptions. Returns counts per kind."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = self._clock() - timedelta(days=older_than_days)
        counts = {
            "registrations_anonymised": self.registrations.anonymise_older_than(cutoff),
            "screenings": self.screenings.delete_older_than(cutoff),
            "unanswered": self.unanswered.delete_older_than(cutoff),
            "users": self.users.delete_inactive_since(cutoff),
            "subscribers": self.subscribers.delete_inactive_since(cutoff),
            "handoff": self.handoff.purge(older_than_days),
        }
        self.audit.record(
            SYSTEM_ACTOR, "retention_purge", None, {"days": older_than_days, "counts": counts}
        )
        return counts

    def close(self) -> None:
        """Close every store (releases the locks)."""
        for database in self._databases.values():
            database.close()

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
