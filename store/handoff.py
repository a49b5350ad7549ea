"""Handoff tickets: a citizen's conversation with the staff, and which staff-side bot message
belongs to which ticket (so a staff member's reply finds its citizen). No message text is kept:
only ids, the citizen's registration number and language, counts and times."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from store.clock import Clock, iso, utc_now
from store.durable import Database

Doc = dict[str, Any]
_TICKET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class Tickets:
    """Handoff tickets, and the staff-side messages that belong to them."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._tickets = database.table("tickets", indexes=("user_id",))
        self._links = database.table("links")
        open_now = self._tickets.find(lambda doc: doc["status"] == "open")
        self._open_users = {doc["user_id"] for doc in open_now}

    def has_open(self, user_id: int) -> bool:
        """Whether the user has an open ticket (from memory: safe on the event loop)."""
        return user_id in self._open_users

    def refresh(self, user_id: int) -> bool:
        """Read whether the user has an open ticket from the store (another worker may have
        opened or closed it: ``bot/fleet.py`` calls this before each update); the answer."""
        is_open = self.open_for(user_id) is not None
        if is_open:
            self._open_users.add(user_id)
        else:
            self._open_users.discard(user_id)
        return is_open

    def open_for(self, user_id: int) -> Doc | None:
        """The user's open ticket, or None."""
        found = [t for t in self._tickets.find_by("user_id", user_id) if t["status"] == "open"]
        return found[-1] if found else None

    def open(self, user_id: int, chat_id: int, reg_no: str | None, lang: str) -> tuple[Doc, bool]:
        """The user's open ticket, created if needed; returns (ticket, created)."""
        with self.database.locked():
            current = self.open_for(user_id)
            if current is not None:
                return current, False
            ticket_id = self._new_id()
            ticket: Doc = {
                "id": ticket_id,
                "user_id": user_id,
                "chat_id": chat_id,
                "reg_no": reg_no,
                "lang": lang,
                "status": "open",
                "messages": 0,
                "opened_at": iso(self._clock()),
                "closed_at": None,
                "closed_by": None,
            }
            self._tickets.put(ticket_id, ticket)
            self._open_users.add(user_id)
            return ticket, True

    def _new_id(self) -> str:
        while True:
            ticket_id = "T-" + "".join(secrets.choice(_TICKET_ALPHABET) for _ in range(5))
            if ticket_id not in self._tickets:
                return ticket_id

    def get(self, ticket_id: str) -> Doc | None:
        return self._tickets.get(ticket_id)

    def count_message(self, ticket_id: str) -> None:
        """One more citizen message relayed (no text is kept)."""
        with self.database.locked():
            ticket = self._tickets.get(ticket_id)
            if ticket is not None:
                ticket["messages"] += 1
                self._tickets.put(ticket_id, ticket)

    def link(self, chat_id: int, message_id: int, ticket_id: str) -> None:
        """Remember that a staff-side bot message belongs to ``ticket_id``."""
        self._links.put(f"{chat_id}:{message_id}", {"ticket": ticket_id})

    def linked(self, chat_id: int, message_id: int) -> Doc | None:
        """The ticket a staff-side bot message belongs to, or None."""
        link = self._links.get(f"{chat_id}:{message_id}")
        return self._tickets.get(link["ticket"]) if link else None

    def close(self, ticket_id: str, *, actor: int) -> Doc | None:
        """Close the ticket; None if it was already closed (or never existed)."""
        with self.database.locked():
            ticket = self._tickets.get(ticket_id)
            if ticket is None or ticket["status"] != "open":
                return None
            ticket.update(status="closed", closed_at=iso(self._clock()), closed_by=actor)
            self._tickets.put(ticket_id, ticket)
            self._open_users.discard(ticket["user_id"])
            return ticket

    def purge(self, older_than_days: int) -> int:
        """Retention: forget the tickets closed more than ``older_than_days`` ago and the links
        to them (a ticket ties a Telegram id to a registration number that retention
        anonymises). Returns how many tickets."""
        cutoff = iso(self._clock() - timedelta(days=older_than_days))
        with self.database.locked():
            stale = {
                doc["id"]
                for doc in self._tickets.find(
                    lambda doc: doc["status"] == "closed" and (doc["closed_at"] or "") < cutoff
                )
            }
            self._links.delete_many(
                [key for key, link in self._links.items() if link["ticket"] in stale]
            )
            return self._tickets.delete_many(stale)

    def delete_user(self, user_id: int) -> int:
        """Forget the user's tickets (their right to erasure); returns how many."""
        with self.database.locked():
            keys = [t["id"] for t in self._tickets.find_by("user_id", user_id)]
            self._open_users.discard(user_id)
            return self._tickets.delete_many(keys)
