"""Display names of staff members learned from Telegram (their first name when they use the
bot), so that cards, history and the audit say "Budi" and not "petugas 555001". Names set in
the config (``staff.names``) win over these; the bot decides who is staff, this store only
keeps what it is told."""

from __future__ import annotations

from store.clock import Clock, iso, utc_now
from store.durable import Database

MAX_NAME_CHARS = 64


def clean_name(text: str) -> str:
    """A name as kept: single spaces, at most ``MAX_NAME_CHARS`` characters."""
    return " ".join(text.split())[:MAX_NAME_CHARS]


class StaffNameRepo:
    """Telegram user id -> the first name last seen, one small table."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("names")

    def all(self) -> dict[int, str]:
        """Every learned name by user id."""
        return {int(key): doc["name"] for key, doc in self._records.items()}

    def learn(self, user_id: int, first_name: str) -> bool:
        """Remember ``first_name`` for ``user_id``; True if it was new or changed (a write),
        False if it is the one kept already or blank (no write)."""
        name = clean_name(first_name)
        if not name:
            return False
        with self.database.locked():
            current = self._records.get(str(user_id))
            if current is not None and current["name"] == name:
                return False
            doc = {"user_id": user_id, "name": name, "at": iso(self._clock())}
            self._records.put(str(user_id), doc)
            return True

    def delete_user(self, user_id: int) -> int:
        """Forget the user's name (their erasure); returns 1 or 0."""
        return int(self._records.delete(str(user_id)))
