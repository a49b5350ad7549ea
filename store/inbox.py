"""The webhook inbox: every update Telegram delivered, stored durably before it is answered.

An update is ``put`` (one fsync'd journal line) before the webhook answers 200, so a process
killed right after that answer still has it; it is ``mark_done`` once the bot has handled it,
and every update stored but not done is handed out again by ``pending`` at the next start.
``put`` of an ``update_id`` already stored (pending or done) returns False: Telegram's
re-deliveries and replays are handled once.

What is kept: a pending update keeps its payload (as Telegram sent it: it may hold personal
data, so it lives in the 0600 data directory like the rest) and the id of the user it came
from (so that the user's erasure covers it); a done update keeps only its id and times, for
the de-duplication window (``prune``, default a day: Telegram re-delivers for at most 24 h).
``compact`` rewrites the files so that the payloads of done updates leave the disk too.

The interface (``UpdateInbox``) is what the webhook needs; the PostgreSQL inbox
(``store/pg_inbox.py``) implements the same methods over a table (``INSERT ... ON CONFLICT DO
NOTHING`` for ``put``) and adds the claim several workers share (``FOR UPDATE SKIP LOCKED``).
This module never imports ``telegram``: the caller passes the kind and user id it read from the
update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from store.clock import Clock, iso, utc_now
from store.durable import Database, Doc

#: How long a done update's id is kept to drop re-deliveries.
DEDUP_WINDOW = timedelta(days=1)

PENDING, DONE = "pending", "done"


@dataclass(frozen=True)
class NewUpdate:
    """An update as received: its id, its JSON, its kind and the user it came from."""

    update_id: int
    update: Mapping[str, Any]
    kind: str
    user_id: int | None
    #: The chat it belongs to (the PostgreSQL inbox hands one chat's updates out in order).
    chat_id: int | None = None


@dataclass(frozen=True)
class InboxItem:
    """One stored update not handled yet."""

    update_id: int
    update: dict[str, Any]
    received_at: str


class UpdateInbox(Protocol):
    """What the webhook needs from an inbox (embedded now, PostgreSQL later)."""

    def put(
        self,
        update_id: int,
        update: Mapping[str, Any],
        *,
        kind: str,
        user_id: int | None,
        chat_id: int | None = None,
    ) -> bool:
        """Store the update durably; False (and no write) when ``update_id`` is known."""
        ...

    def put_many(self, items: Sequence[NewUpdate]) -> list[bool]:
        """``put`` for several updates with one durable write (one fsync); a result each."""
        ...

    def mark_done(self, update_id: int) -> None:
        """The update was handled: drop its payload, keep its id for de-duplication."""
        ...

    def mark_done_many(self, update_ids: Sequence[int]) -> None:
        """``mark_done`` for several updates with one durable write."""
        ...

    def pending(self) -> list[InboxItem]:
        """Every update stored and not done, oldest (lowest ``update_id``) first."""
        ...

    def backlog(self) -> int:
        """How many updates are stored and not done."""
        ...

    def prune(self, older_than: timedelta = DEDUP_WINDOW) -> int:
        """Forget done updates handled longer ago than ``older_than``; returns how many."""
        ...

    def delete_user(self, user_id: int) -> int:
        """Drop the payloads of a user's pending updates (their erasure); returns how many."""
        ...


class Inbox:
    """The embedded inbox: the durable store ``inbox`` (table ``updates``, key = update id).

    Blocking, thread-safe; call it off the event loop (``AsyncStores.call`` runs it in the
    inbox's own thread, so it never queues behind the other stores).
    """

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._updates = database.table("updates", indexes=("s", "user"))

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
        now = iso(self._clock())
        results: list[bool] = []
        with self.database.locked():
            new: dict[str, Doc] = {}
            for item in items:
                key = str(item.update_id)
                if key in self._updates or key in new:
                    results.append(False)
                    continue
                new[key] = {
                    "id": item.update_id,
                    "s": PENDING,
                    "kind": item.kind,
                    "user": item.user_id,
                    "at": now,
                    "update": dict(item.update),
                }
                results.append(True)
            if new:
                self._updates.put_many(new.items())
        return results

    def mark_done(self, update_id: int) -> None:
        self.mark_done_many([update_id])

    def mark_done_many(self, update_ids: Sequence[int]) -> None:
        now = iso(self._clock())
        with self.database.locked():
            done: dict[str, Doc] = {}
            for update_id in update_ids:
                key = str(update_id)
                old = self._updates.get(key)
                if old is not None and old["s"] == DONE:
                    continue
                done[key] = {
                    "id": update_id,
                    "s": DONE,
                    "kind": (old or {}).get("kind"),
                    "at": (old or {}).get("at") or now,
                    "done_at": now,
                }
            if done:
                self._updates.put_many(done.items())

    def pending(self) -> list[InboxItem]:
        docs = self._updates.find_by("s", PENDING)
        docs.sort(key=lambda doc: doc["id"])
        return [InboxItem(doc["id"], doc["update"], doc["at"]) for doc in docs]

    def backlog(self) -> int:
        with self.database.locked():
            index = self._updates._indexes["s"]
            return len(index.get(PENDING, ()))

    def is_done(self, update_id: int) -> bool:
        doc = self._updates.get(str(update_id))
        return doc is not None and doc["s"] == DONE

    def __len__(self) -> int:
        return len(self._updates)

    def prune(self, older_than: timedelta = DEDUP_WINDOW) -> int:
        cutoff = iso(self._clock() - older_than)
        with self.database.locked():
            old = [
                str(doc["id"])
                for doc in self._updates.find_by("s", DONE)
                if doc.get("done_at", "") < cutoff
            ]
            return self._updates.delete_many(old) if old else 0

    def compact(self) -> None:
        """Rewrite the files: no payload of a done update stays on the disk."""
        self.database.compact()

    def delete_user(self, user_id: int) -> int:
        with self.database.locked():
            docs = [d for d in self._updates.find_by("user", user_id) if d["s"] == PENDING]
            now = iso(self._clock())
            items = [
                (str(d["id"]), {"id": d["id"], "s": DONE, "at": d["at"], "done_at": now})
                for d in docs
            ]
            if items:
                self._updates.put_many(items)
            return len(items)


def without_payloads(tables: dict[str, dict[str, Doc]]) -> dict[str, dict[str, Doc]]:
    """The inbox's tables as a backup keeps them: pending updates as done (no payload).

    A backup restored hours or days later must not answer again what citizens sent before it
    was taken (those updates were handled meanwhile, on the machine that was lost); their ids
    still drop a late re-delivery.
    """
    updates = {
        key: doc
        if doc.get("s") != PENDING
        else {"id": doc["id"], "s": DONE, "at": doc["at"], "done_at": doc["at"]}
        for key, doc in tables.get("updates", {}).items()
    }
    return {**tables, "updates": updates} if updates else dict(tables)
