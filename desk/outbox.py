"""The durable outbox of announcements: who gets what, and where each recipient stands.

An announcement is ``scheduled`` (to start at a time, or right away), then ``running`` with its
recipient list frozen (:meth:`Outbox.begin`), then ``done`` or ``cancelled``; its
:class:`Figures` say how many were sent, failed, blocked... Each recipient is ``pending``, then
``inflight`` (its intent durable, before the send) and then final. :func:`resolve_audience`
turns an :class:`Audience` into recipients (an opt-out always wins). The paced, exactly-once
sending that drives these states is :class:`desk.broadcast.Delivery`.

Pure: never imports ``telegram``. Methods are blocking (call them off the event loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from store import Database, Stores
from store.clock import Clock, iso, utc_now
from store.durable import Doc

log = logging.getLogger(__name__)

#: States of an announcement in the outbox.
SCHEDULED, RUNNING, DONE, CANCELLED = "scheduled", "running", "done", "cancelled"
#: States of one recipient; the last five are final.
PENDING, INFLIGHT = "pending", "inflight"
SENT, FAILED, BLOCKED, UNKNOWN, SKIPPED = "sent", "failed", "blocked", "unknown", "skipped"
FINAL_STATES = (SENT, FAILED, BLOCKED, UNKNOWN, SKIPPED)

#: Who an announcement goes to: every active subscriber, every active registration, or the
#: registrations with one screening outcome, interest, kecamatan or follow-up status.
AUDIENCE_KINDS = ("subscribers", "registered", "outcome", "programme", "kecamatan", "status")


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    lang: str = "id"


@dataclass(frozen=True)
class Audience:
    """``kind`` is one of :data:`AUDIENCE_KINDS`; ``value`` the filter value, if it has one."""

    kind: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in AUDIENCE_KINDS:
            raise ValueError(f"unknown audience {self.kind!r}")
        if (self.value is None) != (self.kind in ("subscribers", "registered")):
            raise ValueError(f"audience {self.kind!r} with value {self.value!r}")

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        return cls(data["kind"], data.get("value"))


@dataclass
class Figures:
    """Delivery figures of one announcement."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    unknown: int = 0
    skipped: int = 0
    retries: int = 0
    rate_limited: int = 0

    @property
    def settled(self) -> int:
        """Recipients with a final outcome."""
        return self.sent + self.failed + self.blocked + self.unknown + self.skipped

    @property
    def remaining(self) -> int:
        return self.total - self.settled

    def count(self, state: str) -> None:
        setattr(self, state, getattr(self, state) + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Figures:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in names})


# -- the outbox ------------------------------------------------------------------------------


class Outbox:
    """Announcements and, while one runs, the state of each of its recipients.

    In the database ``broadcasts``: table ``outbox`` (one document per announcement), table
    ``figures`` (its delivery figures, small, rewritten with every batch) and, while it runs, a
    table ``recipients_<id>`` with ``{"c": chat_id, "l": lang, "s": state}`` per recipient,
    dropped when it finishes (the figures stay). Methods are blocking: call them off the event
    loop (``AsyncStores.call`` runs them in this store's own thread).
    """

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._outbox = database.table("outbox")
        self._figures = database.table("figures")
        self._meta = database.table("meta")

    # -- reading ----------------------------------------------------------------------------

    def get(self, broadcast_id: str) -> Doc | None:
        """The announcement with its current ``figures``, or None."""
        doc = self._outbox.get(broadcast_id)
        if doc is not None:
            doc["figures"] = self._figures.get(broadcast_id) or Figures().as_dict()
        return doc

    def history(self, *, states: Iterable[str] | None = None, limit: int = 20) -> list[Doc]:
        """Announcements newest first (optionally only in ``states``), with their figures."""
        wanted = set(states) if states is not None else None
        keys = [
            key
            for key in reversed(self._outbox.keys())
            if wanted is None or (self._outbox.get(key) or {}).get("state") in wanted
        ][:limit]
        return [doc for doc in map(self.get, keys) if doc is not None]

    def ids_in(self, state: str) -> list[str]:
        """Ids of the announcements in ``state``, oldest first."""
        return [doc["id"] for doc in self._outbox.find(lambda doc: doc["state"] == state)]

    # -- writing ----------------------------------------------------------------------------

    def create(
        self,
        *,
        author: int,
        chat_id: int,
        lang: str,
        content: Mapping[str, Any],
        audience: Audience,
        scheduled_for: datetime | None = None,
    ) -> Doc:
        """A new announcement, scheduled or (``scheduled_for`` None) to be started right away."""
        now = iso(self._clock())
        with self.database.batch() as batch:
            number = int((self._meta.get("next_id") or {"n": 1})["n"])
            broadcast_id = str(number)
            doc: Doc = {
                "id": broadcast_id,
                "state": SCHEDULED,
                "author": author,
                "chat_id": chat_id,
                "lang": lang,
                "content": dict(content),
                "audience": audience.as_dict(),
                "created_at": now,
                "scheduled_for": iso(scheduled_for) if scheduled_for else None,
                "started_at": None,
                "finished_at": None,
                "report": None,
            }
            batch.put("meta", "next_id", {"n": number + 1})
            batch.put("outbox", broadcast_id, doc)
            batch.put("figures", broadcast_id, Figures().as_dict())
        return self.get(broadcast_id) or doc

    def set_report(self, broadcast_id: str, chat_id: int, message_id: int) -> None:
        """Remember the staff message that shows the progress (edited again after a restart)."""
        self._update(broadcast_id, report={"chat_id": chat_id, "message_id": message_id})

    def begin(self, broadcast_id: str, recipients: Sequence[Recipient]) -> Doc | None:
        """Freeze the recipient list and mark the announcement running, in one durable write.

        Returns None unless the announcement is scheduled (a cancelled or finished one never
        starts; a running one keeps the recipients it has).
        """
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None or doc["state"] != SCHEDULED:
                return None
            unique = list({r.chat_id: r for r in recipients}.values())
            doc.update(state=RUNNING, started_at=iso(self._clock()))
            table = _recipients(broadcast_id)
            with self.database.batch() as batch:
                for index, recipient in enumerate(unique):
                    batch.put(table, _key(index), _recipient_doc(recipient, PENDING))
                batch.put("outbox", broadcast_id, doc)
                batch.put("figures", broadcast_id, Figures(total=len(unique)).as_dict())
            return self.get(broadcast_id)

    def resume(self, broadcast_id: str) -> tuple[list[tuple[int, Recipient]], Figures]:
        """The recipients still to send, and the figures so far, of a running announcement.

        Recipients whose send was in flight when the bot stopped (intent recorded, outcome not)
        become ``unknown`` here, durably, and are never sent again.
        """
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None or doc["state"] != RUNNING:
                raise LookupError(f"broadcast {broadcast_id} is not running")
            table = self.database.table(_recipients(broadcast_id))
            stored = Figures.from_dict(self._figures.get(broadcast_id))
            figures = Figures(total=0, retries=stored.retries, rate_limited=stored.rate_limited)
            pending: list[tuple[int, Recipient]] = []
            lost: list[tuple[str, Doc]] = []
            for key, entry in table.items():
                figures.total += 1
                recipient, state = Recipient(entry["c"], entry["l"]), entry["s"]
                if state == PENDING:
                    pending.append((int(key), recipient))
                    continue
                if state == INFLIGHT:
                    lost.append((key, _recipient_doc(recipient, UNKNOWN)))
                    state = UNKNOWN
                figures.count(state)
            if lost:
                log.warning("broadcast %s: %d sends of unknown outcome", broadcast_id, len(lost))
                with self.database.batch() as batch:
                    for key, doc in lost:
                        batch.put(table.name, key, doc)
                    batch.put("figures", broadcast_id, figures.as_dict())
            return pending, figures

    def record(
        self,
        broadcast_id: str,
        figures: Figures,
        *,
        outcomes: Sequence[tuple[int, Recipient, str]] = (),
        claims: Sequence[tuple[int, Recipient]] = (),
        releases: Sequence[tuple[int, Recipient]] = (),
    ) -> None:
        """One durable write: final ``outcomes``, the intents of ``claims`` (about to be sent),
        ``releases`` (claimed, never attempted: back to pending) and the figures."""
        table = _recipients(broadcast_id)
        with self.database.batch() as batch:
            for index, recipient, state in outcomes:
                batch.put(table, _key(index), _recipient_doc(recipient, state))
            for index, recipient in claims:
                batch.put(table, _key(index), _recipient_doc(recipient, INFLIGHT))
            for index, recipient in releases:
                batch.put(table, _key(index), _recipient_doc(recipient, PENDING))
            batch.put("figures", broadcast_id, figures.as_dict())

    def finish(self, broadcast_id: str, state: str, figures: Figures) -> Doc | None:
        """Close a running announcement (``done`` or ``cancelled``) with its final figures and
        forget its recipient list, in one durable write."""
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None:
                return None
            table = self.database.table(_recipients(broadcast_id))
            doc.update(state=state, finished_at=iso(self._clock()))
            with self.database.batch() as batch:
                for key in table:
                    batch.delete(table.name, key)
                batch.put("outbox", broadcast_id, doc)
                batch.put("figures", broadcast_id, figures.as_dict())
            return self.get(broadcast_id)

    def cancel_scheduled(self, broadcast_id: str) -> Doc | None:
        """Cancel an announcement that has not started; None if it is not scheduled."""
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None or doc["state"] != SCHEDULED:
                return None
            return self._update(broadcast_id, state=CANCELLED, finished_at=iso(self._clock()))

    def request_stop(self, broadcast_id: str) -> bool:
        """Ask the process sending a running announcement to stop it (several workers: the
        sender looks for ``stop_requested``); False if it is not running."""
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None or doc["state"] != RUNNING:
                return False
            return self._update(broadcast_id, stop_requested=True) is not None

    def _update(self, broadcast_id: str, **changes: Any) -> Doc | None:
        with self.database.locked():
            doc = self._outbox.get(broadcast_id)
            if doc is None:
                return None
            doc.update(changes)
            self._outbox.put(broadcast_id, doc)
            return self.get(broadcast_id)


def _recipients(broadcast_id: str) -> str:
    return f"recipients_{broadcast_id}"


def _key(index: int) -> str:
    return f"{index:07d}"


def _recipient_doc(recipient: Recipient, state: str) -> Doc:
    return {"c": recipient.chat_id, "l": recipient.lang, "s": state}


# -- audiences -------------------------------------------------------------------------------


def resolve_audience(
    stores: Stores, audience: Audience, default_lang: str = "id"
) -> list[Recipient]:
    """The chats an announcement goes to, each once, in the reader's language.

    ``subscribers``: every active subscription. The registration audiences take active
    registrations (or, with a ``status`` filter, those in that status) and leave out every chat
    that unsubscribed or cannot be reached: an opt-out always wins.
    """
    if audience.kind == "subscribers":
        chats = stores.subscribers.active_chat_ids()
    else:
        filters: dict[str, Any] = {}
        if audience.kind != "registered":
            filters[audience.kind] = audience.value
        records = stores.registrations.search(**filters)
        opted_out = {
            doc["chat_id"]
            for doc in stores.subscribers.database.table("subscribers").find(
                lambda doc: not doc["active"]
            )
        }
        chats = [
            record["chat_id"]
            for record in reversed(records)  # oldest first
            if record.get("chat_id") is not None
            and record["chat_id"] not in opted_out
            and "anonymised_at" not in record
            and (audience.kind == "status" or record.get("status") != "tidak_lanjut")
        ]
    return [
        Recipient(chat, stores.users.language(chat) or default_lang)
        for chat in dict.fromkeys(chats)
    ]
