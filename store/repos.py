"""The small repositories: consents, screenings, users, subscribers, unanswered questions, audit,
and the key/value store behind the bot's conversation persistence."""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from store.clock import Clock, iso, parse, utc_now
from store.durable import Database, Doc

LANGUAGES = ("id", "en")
#: ``UserRepo.touch`` writes ``last_seen`` at most this often per user (every write is an fsync).
TOUCH_INTERVAL = timedelta(minutes=10)


def new_id(moment: datetime) -> str:
    """A unique id that sorts by time: ``<UTC yyyymmddHHMMSS>-<random hex>``."""
    return f"{moment.astimezone(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}"


class ConsentRepo:
    """Consent decisions, append-only: the latest record per purpose is the current one."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("consents", indexes=("user_id",))

    def record(self, user_id: int, purpose: str, version: str, granted: bool) -> Doc:
        """Record a grant or a withdrawal (proof of consent, UU PDP Pasal 24)."""
        now = self._clock()
        doc: Doc = {
            "id": new_id(now),
            "user_id": user_id,
            "purpose": purpose,
            "version": version,
            "granted": granted,
            "at": iso(now),
        }
        self._records.put(doc["id"], doc)
        return doc

    def current(self, user_id: int, purpose: str) -> Doc | None:
        """The user's latest decision for ``purpose``, or None."""
        decisions = [d for d in self.history(user_id) if d["purpose"] == purpose]
        return decisions[-1] if decisions else None

    def history(self, user_id: int) -> list[Doc]:
        """Every decision of the user, oldest first."""
        return self._records.find_by("user_id", user_id)

    def delete_user(self, user_id: int) -> int:
        """Delete the user's consent records; returns how many."""
        with self.database.locked():
            return self._records.delete_many(d["id"] for d in self.history(user_id))


class ScreeningRepo:
    """The latest pre-screening of each user. Answers (health, criminal record) are kept only
    when the user consented; the result alone is kept otherwise."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("screenings")

    def save(
        self, user_id: int, answers: dict[str, Any], result: dict[str, Any], consent: bool
    ) -> Doc:
        """Store (replacing) the user's screening and return it."""
        doc: Doc = {
            "user_id": user_id,
            "answers": answers if consent else None,
            "result": result,
            "consent": consent,
            "at": iso(self._clock()),
        }
        self._records.put(str(user_id), doc)
        return doc

    def get(self, user_id: int) -> Doc | None:
        """The user's screening, or None."""
        return self._records.get(str(user_id))

    def delete_user(self, user_id: int) -> int:
        """Delete the user's screening; returns 1 or 0."""
        return int(self._records.delete(str(user_id)))

    def older_than(self, cutoff: datetime) -> list[Doc]:
        """Screenings taken before ``cutoff``."""
        limit = iso(cutoff)
        return self._records.find(lambda doc: doc["at"] < limit)

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete screenings taken before ``cutoff`` (retention); returns how many."""
        with self.database.locked():
            return self._records.delete_many(str(d["user_id"]) for d in self.older_than(cutoff))


class UserRepo:
    """Per-user preferences and activity: language, first seen, last seen."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("users")

    def get(self, user_id: int) -> Doc | None:
        """The user's record, or None."""
        return self._records.get(str(user_id))

    def language(self, user_id: int) -> str | None:
        """The chosen language (``id``/``en``), or None if never chosen."""
        record = self.get(user_id)
        return None if record is None else record.get("lang")

    def set_language(self, user_id: int, lang: str) -> Doc:
        """Remember the user's language."""
        if lang not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, not {lang!r}")
        with self.database.locked():
            record = self._fresh(user_id)
            record["lang"] = lang
            self._records.put(str(user_id), record)
            return record

    def touch(self, user_id: int) -> Doc:
        """Note that the user was seen now (written at most once per ``TOUCH_INTERVAL``)."""
        with self.database.locked():
            record = self.get(user_id)
            now = self._clock()
            if record is not None and now - parse(record["last_seen"]) < TOUCH_INTERVAL:
                return record
            record = record or self._fresh(user_id)
            record["last_seen"] = iso(now)
            self._records.put(str(user_id), record)
            return record

    def delete_user(self, user_id: int) -> int:
        """Forget the user; returns 1 or 0."""
        return int(self._records.delete(str(user_id)))

    def delete_inactive_since(self, cutoff: datetime) -> int:
        """Forget users not seen since ``cutoff`` (retention); returns how many."""
        return len(self.delete_inactive_ids(cutoff))

    def delete_inactive_ids(self, cutoff: datetime) -> list[int]:
        """``delete_inactive_since``, returning the ids of the users forgotten."""
        limit = iso(cutoff)
        with self.database.locked():
            stale = [
                doc["user_id"] for doc in self._records.find(lambda d: d["last_seen"] < limit)
            ]
            self._records.delete_many(str(user_id) for user_id in stale)
            return stale

    def _fresh(self, user_id: int) -> Doc:
        now = iso(self._clock())
        return self.get(user_id) or {
            "user_id": user_id,
            "lang": None,
            "first_seen": now,
            "last_seen": now,
        }


class SubscriberRepo:
    """Who receives announcements. Unsubscribed or unreachable chats stay, marked inactive."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("subscribers", indexes=("chat_id",))

    def subscribe(self, user_id: int, chat_id: int, *, source: str) -> Doc:
        """Subscribe (or re-subscribe) the user; ``source`` says where they asked ("start"...)."""
        doc: Doc = {
            "user_id": user_id,
            "chat_id": chat_id,
            "source": source,
            "active": True,
            "subscribed_at": iso(self._clock()),
            "inactive_since": None,
            "inactive_reason": None,
        }
        self._records.put(str(user_id), doc)
        return doc

    def unsubscribe(self, user_id: int) -> bool:
        """Stop announcements to the user; False if they were not subscribed."""
        return self._deactivate([str(user_id)], "unsubscribed") == 1

    def is_subscribed(self, user_id: int) -> bool:
        """True if the user currently receives announcements."""
        record = self._records.get(str(user_id))
        return bool(record and record["active"])

    def active_chat_ids(self) -> list[int]:
        """The chats to send an announcement to, without duplicates, in subscription order."""
        docs = self._records.find(lambda doc: doc["active"])
        return list(dict.fromkeys(doc["chat_id"] for doc in docs))

    def mark_inactive(self, chat_id: int, reason: str) -> int:
        """Deactivate every subscription of a chat that cannot be reached (bot blocked...)."""
        with self.database.locked():
            docs = self._records.find_by("chat_id", chat_id)
            return self._deactivate([str(doc["user_id"]) for doc in docs], reason)

    def count_active(self) -> int:
        """How many subscriptions are active."""
        return len(self._records.find(lambda doc: doc["active"]))

    def delete_user(self, user_id: int) -> int:
        """Forget the user's subscription; returns 1 or 0."""
        return int(self._records.delete(str(user_id)))

    def delete_inactive_since(self, cutoff: datetime) -> int:
        """Forget subscriptions inactive since before ``cutoff`` (retention)."""
        limit = iso(cutoff)
        with self.database.locked():
            stale = self._records.find(
                lambda doc: not doc["active"] and doc["inactive_since"] < limit
            )
            return self._records.delete_many(str(doc["user_id"]) for doc in stale)

    def _deactivate(self, keys: list[str], reason: str) -> int:
        now = iso(self._clock())
        with self.database.locked():
            changed = []
            for key in keys:
                doc = self._records.get(key)
                if doc and doc["active"]:
                    doc.update(active=False, inactive_since=now, inactive_reason=reason)
                    changed.append((key, doc))
            self._records.put_many(changed)
            return len(changed)


class UnansweredRepo:
    """Questions the FAQ could not answer, already masked by the caller, for staff to review.

    Each question keeps the id of the user who asked it (``user_id``, None for questions logged
    before it was kept), so that their erasure removes their questions too; staff screens never
    show it."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("questions", indexes=("user_id",))

    def log(self, text: str, lang: str, *, user_id: int | None = None) -> Doc:
        """Keep a question (``text`` must already have personal data masked) asked by
        ``user_id`` (pass it: without it the question cannot be erased with its author)."""
        now = self._clock()
        doc: Doc = {
            "id": new_id(now),
            "user_id": user_id,
            "text": text,
            "lang": lang,
            "at": iso(now),
            "handled": False,
            "handled_at": None,
            "handled_by": None,
        }
        self._records.put(doc["id"], doc)
        return doc

    def recent(self, limit: int = 20) -> list[Doc]:
        """The latest questions, handled or not, newest first."""
        with self.database.locked():
            keys = self._records.keys()[-limit:] if limit > 0 else []
            return [doc for key in reversed(keys) if (doc := self._records.get(key))]

    def all_open(self) -> list[Doc]:
        """Questions not yet handled, oldest first."""
        return self._records.find(lambda doc: not doc["handled"])

    def mark_handled(self, ids: Iterable[str], *, actor: int) -> int:
        """Mark questions as handled by staff ``actor``; returns how many changed."""
        now = iso(self._clock())
        with self.database.locked():
            changed = []
            for key in dict.fromkeys(ids):
                doc = self._records.get(key)
                if doc and not doc["handled"]:
                    doc.update(handled=True, handled_at=now, handled_by=actor)
                    changed.append((key, doc))
            self._records.put_many(changed)
            return len(changed)

    def count_total(self) -> int:
        """How many questions are kept."""
        return len(self._records)

    def delete_user(self, user_id: int) -> int:
        """Delete the questions ``user_id`` asked; returns how many."""
        with self.database.locked():
            return self._records.delete_many(
                d["id"] for d in self._records.find_by("user_id", user_id)
            )

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete questions asked before ``cutoff`` (retention)."""
        limit = iso(cutoff)
        with self.database.locked():
            stale = self._records.find(lambda doc: doc["at"] < limit)
            return self._records.delete_many(doc["id"] for doc in stale)


class AuditRepo:
    """Append-only record of staff actions. Never put personal data in ``target``/``details``."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        self._records = database.table("audit", indexes=("target",))

    def record(
        self, actor: int, action: str, target: str | None, details: dict[str, Any] | None = None
    ) -> Doc:
        """Append one audit line."""
        now = self._clock()
        doc: Doc = {
            "id": new_id(now),
            "at": iso(now),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
        }
        self._records.put(doc["id"], doc)
        return doc

    def list(self, target: str | None = None, limit: int = 100) -> builtins.list[Doc]:
        """The latest lines (about ``target`` if given), newest first."""
        docs = self._records.all() if target is None else self._records.find_by("target", target)
        return docs[::-1][:limit]


class KeyValueRepo:
    """JSON values under string keys, grouped in namespaces (one table each); used by the bot's
    PTB persistence for conversation state, user_data and chat_data."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        """The value, or ``default``."""
        doc = self.database.table(namespace).get(key)
        return default if doc is None else doc["value"]

    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value; durable when it returns."""
        self.database.table(namespace).put(key, {"value": value})

    def put_many(self, namespace: str, items: Iterable[tuple[str, Any]]) -> None:
        """Store several values with one fsync."""
        self.database.table(namespace).put_many((key, {"value": v}) for key, v in items)

    def update(self, namespace: str, key: str, change: Callable[[Any], Any]) -> Any:
        """Replace the value with ``change(current value or None)`` under the store's lock (a
        read-change-write no other writer interleaves with); ``None`` from ``change`` removes
        the key. Returns the new value."""
        with self.database.locked():
            value = change(self.get(namespace, key))
            if value is None:
                self.delete(namespace, key)
            else:
                self.put(namespace, key, value)
            return value

    def delete(self, namespace: str, key: str) -> bool:
        """Remove a key; False if it was absent."""
        return self.database.table(namespace).delete(key)

    def items(self, namespace: str) -> list[tuple[str, Any]]:
        """Every ``(key, value)`` of the namespace, in insertion order."""
        return [(key, doc["value"]) for key, doc in self.database.table(namespace).items()]

    def namespaces(self) -> list[str]:
        """Namespaces that hold at least one key."""
        return self.database.table_names()

    def delete_user(self, user_id: int) -> int:
        """Delete, in every namespace, the keys naming ``user_id`` as a whole number:
        ``"123"``, ``"123:456"``, ``"[456, 123]"``... Returns how many."""
        return self.delete_users([user_id])

    def delete_users(self, user_ids: Iterable[int]) -> int:
        """``delete_user`` for several users in one pass over the keys."""
        wanted = {str(user_id) for user_id in user_ids}
        removed = 0
        if not wanted:
            return 0
        with self.database.locked():
            for namespace in self.namespaces():
                table = self.database.table(namespace)
                keys = [key for key in table if wanted & set(re.findall(r"\d+", key))]
                removed += table.delete_many(keys)
        return removed
