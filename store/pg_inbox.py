"""The webhook inbox on PostgreSQL, shared by every worker: stored once, claimed once, in order.

With several bot processes (``bot/fleet.py``) every worker's webhook stores what Telegram posts
to it here, and every worker claims updates from here to process them, so an update received by
a worker that is killed right after its 200 is processed by another.

* ``put_many``: ``INSERT ... ON CONFLICT (update_id) DO NOTHING RETURNING``: a re-delivery (to
  whichever worker) is dropped fleet-wide, in one statement for every update of a batch.
* ``claim``: the oldest claimable updates, each taken by one worker only (``FOR UPDATE SKIP
  LOCKED``: two claimers never wait for each other nor get the same row), with a lease
  (``claimed_by``, ``lease_until``). An update is claimable when it is not done, its lease (if
  any) has run out, and **no older update of its chat is still not done**: a chat's updates
  are handed out one at a time, in ``update_id`` order, and the next one only once the one
  before is done. While an update is processed its worker renews the lease (``renew``), so
  the lease is the per-chat lock; a worker that dies stops renewing, and the update is claimed
  again by another once the lease has run out (``attempts`` counts the claims).
* ``save_before``: the conversation state the first attempt started from; a later attempt
  starts from it again instead of from what the dead worker may have half written.
* ``mark_done_many``: done, its payload and ``before`` dropped, its id kept for ``prune``'s
  de-duplication window.

Blocking; call it off the event loop (``AsyncStores.call`` runs it in the inbox's thread).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from store.inbox import DEDUP_WINDOW, InboxItem, NewUpdate

if TYPE_CHECKING:
    from store.durable import Database
    from store.pg import PgBackend

#: A claim holds an update this long unless renewed (``BOT_INBOX_LEASE_SECONDS``).
LEASE_SECONDS = 30.0

_CLAIM = """
WITH picked AS (
    SELECT i.update_id FROM inbox i
    WHERE i.done_at IS NULL
      AND (i.lease_until IS NULL OR i.lease_until < now())
      AND NOT EXISTS (
          SELECT 1 FROM inbox e
          WHERE e.chat_key = i.chat_key AND e.done_at IS NULL AND e.update_id < i.update_id)
    ORDER BY i.update_id
    LIMIT %(limit)s
    FOR UPDATE OF i SKIP LOCKED
)
UPDATE inbox u
SET claimed_by = %(worker)s, lease_until = now() + make_interval(secs => %(lease)s),
    attempts = u.attempts + 1
FROM picked WHERE u.update_id = picked.update_id
RETURNING u.update_id, u.payload, u.received_at, u.attempts, u.before
"""


@dataclass(frozen=True)
class Claimed:
    """An update this worker now holds: process it, then ``mark_done``."""

    update_id: int
    update: dict[str, Any]
    received_at: str
    attempts: int
    before: dict[str, Any] | None


class PgInbox:
    """``store.inbox.UpdateInbox`` over the ``inbox`` table, plus the claim (see above)."""

    def __init__(
        self, backend: PgBackend, database: Database, *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.backend = backend
        #: The ``inbox`` store: only so that ``AsyncStores.call`` gives the inbox its own thread.
        self.database = database
        self.lease_seconds = lease_seconds

    def put(
        self,
        update_id: int,
        update: Mapping[str, Any],
        *,
        kind: str,
        user_id: int | None,
        chat_id: int | None = None,
    ) -> bool:
        return self.put_many([NewUpdate(update_id, update, kind, user_id, chat_id)])[0]

    def put_many(self, items: Sequence[NewUpdate]) -> list[bool]:
        if not items:
            return []
        rows = [
            (
                item.update_id,
                item.chat_id if item.chat_id is not None else item.user_id,
                item.kind,
                item.user_id,
                json.dumps(dict(item.update), ensure_ascii=False).replace("\\u0000", "\ufffd"),
            )
            for item in items
        ]
        with self.backend.connection() as conn, conn.transaction():
            stored: set[int] = set()
            with conn.cursor() as cursor:
                for row in rows:  # one round trip each, in one transaction (one commit)
                    cursor.execute(
                        "INSERT INTO inbox (update_id, chat_key, kind, user_id, payload)"
                        " VALUES (%s, %s, %s, %s, %s::jsonb)"
                        " ON CONFLICT (update_id) DO NOTHING RETURNING update_id",
                        row,
                    )
                    if cursor.fetchone() is not None:
                        stored.add(row[0])
        seen: set[int] = set()
        results = []
        for item in items:  # the same id twice in one batch: the first one counts
            results.append(item.update_id in stored and item.update_id not in seen)
            seen.add(item.update_id)
        return results

    def claim(self, worker: str, limit: int = 32) -> list[Claimed]:
        """Take up to ``limit`` claimable updates (oldest first, at most one per chat)."""
        with self.backend.connection() as conn:
            rows = conn.execute(
                _CLAIM, {"limit": limit, "worker": worker, "lease": self.lease_seconds}
            ).fetchall()
        claimed = [
            Claimed(row[0], row[1] or {}, row[2].isoformat(), row[3], row[4]) for row in rows
        ]
        claimed.sort(key=lambda c: c.update_id)
        return claimed

    def renew(self, worker: str, update_ids: Sequence[int]) -> int:
        """Extend the leases ``worker`` holds on ``update_ids``; how many it still holds."""
        if not update_ids:
            return 0
        with self.backend.connection() as conn:
            cursor = conn.execute(
                "UPDATE inbox SET lease_until = now() + make_interval(secs => %s)"
                " WHERE update_id = ANY(%s) AND claimed_by = %s AND done_at IS NULL",
                (self.lease_seconds, list(update_ids), worker),
            )
            return cursor.rowcount

    def release(self, worker: str, update_ids: Sequence[int]) -> int:
        """Give back claimed updates not processed (a graceful stop): claimable at once."""
        if not update_ids:
            return 0
        with self.backend.connection() as conn:
            cursor = conn.execute(
                "UPDATE inbox SET lease_until = NULL, claimed_by = NULL"
                " WHERE update_id = ANY(%s) AND claimed_by = %s AND done_at IS NULL",
                (list(update_ids), worker),
            )
            return cursor.rowcount

    def save_before(self, update_id: int, before: Mapping[str, Any]) -> None:
        """Keep the state the first attempt starts from (a later attempt restores it)."""
        with self.backend.connection() as conn:
            conn.execute(
                "UPDATE inbox SET before = %s::jsonb WHERE update_id = %s AND before IS NULL",
                (json.dumps(dict(before), ensure_ascii=False), update_id),
            )

    def mark_done(self, update_id: int) -> None:
        self.mark_done_many([update_id])

    def mark_done_many(self, update_ids: Sequence[int]) -> None:
        if not update_ids:
            return
        with self.backend.connection() as conn:
            conn.execute(
                "UPDATE inbox SET done_at = now(), payload = NULL, before = NULL,"
                " lease_until = NULL WHERE update_id = ANY(%s) AND done_at IS NULL",
                (list(update_ids),),
            )

    def pending(self) -> list[InboxItem]:
        with self.backend.connection() as conn:
            rows = conn.execute(
                "SELECT update_id, payload, received_at FROM inbox"
                " WHERE done_at IS NULL ORDER BY update_id"
            ).fetchall()
        return [InboxItem(row[0], row[1] or {}, row[2].isoformat()) for row in rows]

    def backlog(self) -> int:
        with self.backend.connection() as conn:
            row = conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NULL").fetchone()
        return int(row[0]) if row else 0

    def is_done(self, update_id: int) -> bool:
        with self.backend.connection() as conn:
            row = conn.execute(
                "SELECT done_at IS NOT NULL FROM inbox WHERE update_id = %s", (update_id,)
            ).fetchone()
        return bool(row and row[0])

    def attempts(self, update_id: int) -> int:
        """How many times the update was claimed (tests, benchmarks)."""
        with self.backend.connection() as conn:
            row = conn.execute(
                "SELECT attempts FROM inbox WHERE update_id = %s", (update_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        with self.backend.connection() as conn:
            row = conn.execute("SELECT count(*) FROM inbox").fetchone()
        return int(row[0]) if row else 0

    def prune(self, older_than: timedelta = DEDUP_WINDOW) -> int:
        with self.backend.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM inbox WHERE done_at < now() - make_interval(secs => %s)",
                (older_than.total_seconds(),),
            )
            return cursor.rowcount

    def compact(self) -> None:
        """Nothing to rewrite: a done update's payload is gone from every read (VACUUM and
        backups are the operator's part, as for every table: see store/pg.py)."""

    def delete_user(self, user_id: int) -> int:
        with self.backend.connection() as conn:
            cursor = conn.execute(
                "UPDATE inbox SET done_at = now(), payload = NULL, before = NULL,"
                " lease_until = NULL WHERE user_id = %s AND done_at IS NULL",
                (user_id,),
            )
            return cursor.rowcount


class Workers:
    """The live workers: a heartbeat row each (``workers``), seen within ``stale_seconds``."""

    def __init__(self, backend: PgBackend, database: Database) -> None:
        self.backend = backend
        self.database = database

    def beat(self, worker: str, *, leads: bool = False) -> None:
        with self.backend.connection() as conn:
            conn.execute(
                "INSERT INTO workers (id, leads) VALUES (%s, %s)"
                " ON CONFLICT (id) DO UPDATE SET seen_at = now(), leads = EXCLUDED.leads",
                (worker, leads),
            )

    def leader(self, stale_seconds: float) -> str | None:
        """The live worker that says it leads (operators, tests)."""
        with self.backend.connection() as conn:
            row = conn.execute(
                "SELECT id FROM workers WHERE leads"
                " AND seen_at > now() - make_interval(secs => %s) ORDER BY seen_at DESC LIMIT 1",
                (stale_seconds,),
            ).fetchone()
        return str(row[0]) if row else None

    def live(self, stale_seconds: float) -> int:
        """How many workers beat within ``stale_seconds`` (forgetting the long dead)."""
        with self.backend.connection() as conn:
            conn.execute("DELETE FROM workers WHERE seen_at < now() - interval '1 day'")
            row = conn.execute(
                "SELECT count(*) FROM workers WHERE seen_at > now() - make_interval(secs => %s)",
                (stale_seconds,),
            ).fetchone()
        return int(row[0]) if row else 0

    def leave(self, worker: str) -> None:
        with self.backend.connection() as conn:
            conn.execute("DELETE FROM workers WHERE id = %s", (worker,))
