"""Registrations: numbering, the one-active-registration-per-citizen rule, history, retention."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from store.clock import Clock, iso, local_date, utc_now, zone
from store.collection import gc_paused
from store.durable import Database, Doc
from store.errors import NikTakenError, NotFoundError, StatusError
from store.lead_index import Hit, IndexedCollection, LeadIndex

TABLE = "registrations"
COUNTERS = "counters"
#: Per staff member, the last status change (single or bulk) that can be undone.
UNDO = "status_undo"

STATUSES = ("baru", "dihubungi", "ikut_pelatihan", "lulus_pelatihan", "berangkat", "tidak_lanjut")
#: A registration in a closed status no longer counts as the citizen's active one.
CLOSED_STATUSES = frozenset({"tidak_lanjut"})
REASON_REQUIRED = frozenset({"tidak_lanjut"})
#: Outcomes of a contact attempt (``contacts[].outcome``), in the order the desk offers them.
CONTACT_OUTCOMES = (
    "no_answer",
    "wrong_number",
    "call_back",
    "interested",
    "declined",
    "visited_office",
)

#: Fields the repository manages; callers cannot set them through ``save``.
SYSTEM_FIELDS = frozenset(
    {
        "reg_no",
        "user_id",
        "chat_id",
        "status",
        "status_reason",
        "status_reason_text",
        "notes",
        "history",
        "assigned_to",
        "contacts",
        "next_follow_up",
        "created_at",
        "updated_at",
        "anonymised_at",
    }
)
#: What retention keeps: nothing that identifies a person, enough for statistics.
ANONYMOUS_FIELDS = (
    "reg_no",
    "kecamatan",
    "kelurahan",
    "domicile_confirmed",
    "programmes",
    "training_willing",
    "screening",
    "status",
    "created_at",
    "updated_at",
)


def is_active(record: Mapping[str, Any]) -> bool:
    """True unless the registration is closed (``tidak_lanjut``) or anonymised."""
    return record.get("status") not in CLOSED_STATUSES and "anonymised_at" not in record


class RegistrationRepo:
    """Registrations keyed by ``reg_no`` (``SRG-<year>-<6 digits>``, sequential per WIB year)."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self._clock = clock
        #: seen through the search index, which every put and delete keeps in step
        self._records = IndexedCollection(
            database.table(TABLE, indexes=("user_id", "nik")), LeadIndex()
        )
        self._counters = database.table(COUNTERS)
        self._undo = database.table(UNDO)

    # -- lookups --------------------------------------------------------------------------

    def get(self, reg_no: str) -> Doc | None:
        """The registration ``reg_no``, active or not."""
        return self._records.get(reg_no)

    def get_by_user(self, user_id: int) -> Doc | None:
        """The user's active registration, or None."""
        return _newest_active(self._records.find_by("user_id", user_id))

    def get_by_nik(self, nik: str) -> Doc | None:
        """The active registration holding ``nik``, or None."""
        return _newest_active(self._records.find_by("nik", nik))

    def numbers_of(self, user_id: int) -> list[str]:
        """The numbers of every registration of the user (any status), oldest first."""
        return [record["reg_no"] for record in self._records.find_by("user_id", user_id)]

    def __len__(self) -> int:
        return len(self._records)

    def iter_all(self) -> Iterator[Doc]:
        """Every registration (anonymised ones included), oldest first."""
        yield from self._records.all()

    def search(
        self,
        *,
        programme: str | None = None,
        outcome: str | None = None,
        kecamatan: str | None = None,
        status: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[Doc]:
        """Registrations matching every given filter, newest first.

        ``programme`` matches an interest (``korea_work``...) or a screened programme
        (``eps_korea``...); ``outcome`` a screening outcome (for ``programme`` if it is a screened
        one, else for any); ``since``/``until`` are inclusive Jakarta dates of ``created_at``.
        """
        found = self._records.find(
            lambda r: matches(r, programme, outcome, kecamatan, status, since, until)
        )
        found.sort(key=lambda r: (r["created_at"], r["reg_no"]), reverse=True)
        return found

    def find_leads(self, query: str, *, limit: int = 50) -> list[tuple[Doc, Hit]]:
        """Registrations a staff member's search text may mean, best first: a registration
        number or its last digits, a NIK or its last 4-6 digits, a phone in any form, or a name
        fragment (see ``store.lead_index``)."""
        with self.database.locked():
            hits = self._records.searchable().search(query, limit=limit)
            found = [(self._records.get(hit.reg_no), hit) for hit in hits]
        return [(record, hit) for record, hit in found if record is not None]

    def count(self, **filters: Any) -> int:
        """How many registrations ``search(**filters)`` would return."""
        return len(self.search(**filters))

    # -- writes ---------------------------------------------------------------------------

    def save(
        self, user_id: int, chat_id: int, data: Mapping[str, Any], *, actor: int
    ) -> tuple[Doc, bool]:
        """Create the user's registration or update their active one; returns (record, created).

        History names the changed fields, never their values. Raises ``NikTakenError`` when the
        NIK belongs to another user's active registration.
        """
        reserved = SYSTEM_FIELDS & data.keys()
        if reserved:
            raise ValueError(f"save() cannot set {sorted(reserved)}")
        with self.database.locked():
            nik = data.get("nik")
            holder = self.get_by_nik(nik) if nik else None
            if holder is not None and holder["user_id"] != user_id:
                raise NikTakenError()
            current = self.get_by_user(user_id)
            now = iso(self._clock())
            if current is None:
                return self._create(user_id, chat_id, data, actor, now), True
            changed = sorted(key for key, value in data.items() if current.get(key) != value)
            if chat_id != current["chat_id"]:
                changed.append("chat_id")
            if not changed:
                return current, False
            record = {**current, **data, "chat_id": chat_id, "updated_at": now}
            record["history"] = [
                *current["history"],
                {"at": now, "by": actor, "change": "updated", "fields": changed},
            ]
            self._records.put(record["reg_no"], record)
            return record, False

    def _create(
        self, user_id: int, chat_id: int, data: Mapping[str, Any], actor: int, now: str
    ) -> Doc:
        year = self._clock().astimezone(zone()).year
        counter_key = f"reg_no:{year}"
        number = (self._counters.get(counter_key) or {"last": 0})["last"] + 1
        reg_no = f"SRG-{year}-{number:06d}"
        record: Doc = {
            "reg_no": reg_no,
            "user_id": user_id,
            "chat_id": chat_id,
            "email": None,
            "screening": None,
            **data,
            "status": "baru",
            "status_reason": None,
            "notes": [],
            "history": [{"at": now, "by": actor, "change": "created"}],
            "created_at": now,
            "updated_at": now,
        }
        with self.database.batch() as batch:
            batch.put(COUNTERS, counter_key, {"last": number})
            batch.put(TABLE, reg_no, record)
        if self._records.index.built:
            self._records.index.put(record)
        return record

    def set_status(
        self,
        reg_no: str,
        status: str,
        *,
        actor: int,
        reason: str | None = None,
        reason_text: str | None = None,
    ) -> Doc:
        """Move a registration to a follow-up status (``tidak_lanjut`` needs a reason: an id
        such as ``unreachable``, or ``other`` with the typed ``reason_text``). The change can
        be undone by the same staff member for a while (:meth:`undo_last`)."""
        _check_status(status, reason)
        with self.database.locked():
            record = self._require(reg_no)
            if (
                record["status"] == status
                and record["status_reason"] == reason
                and record.get("status_reason_text") == reason_text
            ):
                return record
            now = iso(self._clock())
            undo = {"at": now, "actor": actor, "kind": "single", "changes": []}
            _move(record, status, reason, reason_text, actor, now, undo)
            with self.database.batch() as batch:
                batch.put(TABLE, reg_no, record)
                batch.put(UNDO, str(actor), undo)
            if self._records.index.built:
                self._records.index.put(record)
            return record

    def bulk_set_status(
        self, reg_nos: list[str], status: str, *, actor: int, reason: str | None = None
    ) -> int:
        """Move every registration of ``reg_nos`` not yet in ``status`` to it, in one atomic
        write; returns how many moved. Undone as one by :meth:`undo_last`."""
        _check_status(status, reason)
        with self.database.locked():
            now = iso(self._clock())
            undo = {"at": now, "actor": actor, "kind": "bulk", "changes": []}
            moved = []
            for reg_no in dict.fromkeys(reg_nos):
                record = self._records.get(reg_no)
                if record is None or "anonymised_at" in record or record["status"] == status:
                    continue
                _move(record, status, reason, None, actor, now, undo)
                moved.append(record)
            if moved:
                with self.database.batch() as batch:
                    for record in moved:
                        batch.put(TABLE, record["reg_no"], record)
                    batch.put(UNDO, str(actor), undo)
                if self._records.index.built:
                    for record in moved:
                        self._records.index.put(record)
            return len(moved)

    def last_change(self, actor: int) -> Doc | None:
        """The staff member's last status change that can still be undone, if any."""
        return self._undo.get(str(actor))

    def undo_last(self, actor: int, *, within: timedelta) -> UndoResult:
        """Put back the statuses the staff member's last change (single or bulk) replaced, if it
        is younger than ``within``; a registration changed since is left as it is (counted)."""
        with self.database.locked():
            undo = self._undo.get(str(actor))
            if undo is None:
                return UndoResult("nothing", 0, 0)
            now = self._clock()
            if now - datetime.fromisoformat(undo["at"]) > within:
                self._undo.delete(str(actor))
                return UndoResult("expired", 0, 0, undo["kind"])
            stamp = iso(now)
            restored, skipped = [], 0
            for change in undo["changes"]:
                record = self._records.get(change["reg_no"])
                if record is None or _status_changes(record) != change["changes"]:
                    skipped += 1  # erased, or changed again since: left as it is
                    continue
                entry = {"at": stamp, "by": actor, "change": "status", "from": record["status"]}
                record.update(
                    status=change["status"],
                    status_reason=change["reason"],
                    status_reason_text=change["reason_text"],
                    updated_at=stamp,
                )
                record["history"].append({**entry, "to": change["status"], "undo": True})
                restored.append(record)
            with self.database.batch() as batch:
                for record in restored:
                    batch.put(TABLE, record["reg_no"], record)
                batch.delete(UNDO, str(actor))
            if self._records.index.built:
                for record in restored:
                    self._records.index.put(record)
            return UndoResult("undone", len(restored), skipped, undo["kind"])

    def add_note(self, reg_no: str, text: str, *, actor: int) -> Doc:
        """Append a staff note."""
        with self.database.locked():
            record = self._require(reg_no)
            now = iso(self._clock())
            record["notes"].append({"at": now, "by": actor, "text": text})
            record["history"].append({"at": now, "by": actor, "change": "note"})
            record["updated_at"] = now
            self._records.put(reg_no, record)
            return record

    # -- follow-up: contact attempts, the next follow-up date, assignment ------------------
    # Fields absent from older records: ``contacts`` (oldest first), ``next_follow_up``
    # ("YYYY-MM-DD" or None), ``assigned_to`` (a staff member's Telegram id or None).

    def record_contact(
        self,
        reg_no: str,
        outcome: str,
        *,
        actor: int,
        note: str | None = None,
        callback_on: date | None = None,
        decide: Callable[[Mapping[str, Any]], ContactEffect] | None = None,
    ) -> tuple[Doc, ContactEffect]:
        """Append a contact attempt; ``decide(record)`` (run under the store's lock, on the
        record as it is before the attempt) says what it changes: the status (with a reason
        id) and the next follow-up date. Returns the record and the effect applied."""
        if outcome not in CONTACT_OUTCOMES:
            raise ValueError(f"unknown contact outcome {outcome!r}")
        if (outcome == "call_back") != (callback_on is not None):
            raise ValueError("a call-back date goes with the call_back outcome only")
        with self.database.locked():
            record = self._require(reg_no)
            effect = decide(record) if decide is not None else ContactEffect()
            if effect.status is not None and effect.status not in STATUSES:
                raise StatusError("unknown_status", effect.status, STATUSES)
            now = iso(self._clock())
            contact = {
                "at": now,
                "by": actor,
                "outcome": outcome,
                "note": note,
                "callback_on": callback_on.isoformat() if callback_on else None,
            }
            record["contacts"] = [*(record.get("contacts") or ()), contact]
            history = record["history"]
            history.append({"at": now, "by": actor, "change": "contact", "outcome": outcome})
            if effect.status is not None and effect.status != record["status"]:
                history.append(
                    {
                        "at": now,
                        "by": actor,
                        "change": "status",
                        "from": record["status"],
                        "to": effect.status,
                    }
                )
                record.update(status=effect.status, status_reason=effect.reason)
                record.pop("status_reason_text", None)  # a preset reason id has no typed text
            else:
                effect = ContactEffect(None, None, effect.next_follow_up, effect.keep_follow_up)
            if not effect.keep_follow_up:
                day = effect.next_follow_up.isoformat() if effect.next_follow_up else None
                record["next_follow_up"] = day
            record["updated_at"] = now
            self._records.put(reg_no, record)
            return record, effect

    def annotate_contact(self, reg_no: str, index: int, note: str, *, actor: int) -> Doc:
        """Put a typed note on contact attempt ``index`` (IndexError if there is none)."""
        with self.database.locked():
            record = self._require(reg_no)
            contacts = record.get("contacts") or []
            if not 0 <= index < len(contacts):
                raise IndexError(index)
            now = iso(self._clock())
            contacts[index]["note"] = note
            record["history"].append({"at": now, "by": actor, "change": "contact_note"})
            record["updated_at"] = now
            self._records.put(reg_no, record)
            return record

    def set_follow_up(self, reg_no: str, day: date | None, *, actor: int) -> Doc:
        """Set (or clear, with None) the next follow-up date."""
        with self.database.locked():
            record = self._require(reg_no)
            value = day.isoformat() if day else None
            if record.get("next_follow_up") == value:
                return record
            now = iso(self._clock())
            record["next_follow_up"] = value
            record["history"].append({"at": now, "by": actor, "change": "follow_up", "on": value})
            record["updated_at"] = now
            self._records.put(reg_no, record)
            return record

    def assign(self, reg_no: str, user_id: int | None, *, actor: int) -> Doc:
        """Assign the lead to staff member ``user_id`` (None: to nobody)."""
        with self.database.locked():
            record = self._require(reg_no)
            old = record.get("assigned_to")
            if old == user_id:
                return record
            now = iso(self._clock())
            record["assigned_to"] = user_id
            change = {"at": now, "by": actor, "change": "assigned", "from": old, "to": user_id}
            record["history"].append(change)
            record["updated_at"] = now
            self._records.put(reg_no, record)
            return record

    def follow_up_rows(self) -> list[FollowUpRow]:
        """What the follow-up queue and the digest read of every lead, as light rows (no
        anonymised record). Built in one pass under the store's lock without copying the
        records: ``find`` copies only what its predicate accepts, and this one accepts none."""
        rows: list[FollowUpRow] = []

        def collect(record: Mapping[str, Any]) -> bool:
            if "anonymised_at" not in record:
                contacts = record.get("contacts") or ()
                rows.append(
                    FollowUpRow(
                        record["reg_no"],
                        record.get("full_name") or "",
                        record["created_at"],
                        record.get("status") or "baru",
                        record.get("assigned_to"),
                        len(contacts),
                        contacts[-1]["at"] if contacts else None,
                        record.get("next_follow_up"),
                    )
                )
            return False

        with gc_paused():  # 100k acyclic tuples: the cyclic GC would walk them again and again
            self._records.find(collect)
        return rows

    def delete_user(self, user_id: int) -> int:
        """Delete every registration of the user (any status); returns how many."""
        with self.database.locked():
            return self._records.delete_many(self.numbers_of(user_id))

    def anonymise_older_than(self, cutoff: datetime) -> int:
        """Strip identity (name, NIK, phone, e-mail, Telegram ids, notes, history) from
        registrations last updated before ``cutoff``; keep the fields statistics need."""
        limit = iso(cutoff)
        now = iso(self._clock())
        with self.database.locked():
            stale = self._records.find(
                lambda r: "anonymised_at" not in r and r["updated_at"] < limit
            )
            self._records.put_many(
                (
                    record["reg_no"],
                    {
                        **{field: record.get(field) for field in ANONYMOUS_FIELDS},
                        "anonymised_at": now,
                    },
                )
                for record in stale
            )
            return len(stale)

    def _require(self, reg_no: str) -> Doc:
        record = self._records.get(reg_no)
        if record is None:
            raise NotFoundError(reg_no)
        return record


@dataclass(frozen=True)
class ContactEffect:
    """What a contact attempt changes: the status (None: unchanged) with its reason id, and
    the next follow-up date (None: cleared) unless ``keep_follow_up``."""

    status: str | None = None
    reason: str | None = None
    next_follow_up: date | None = None
    keep_follow_up: bool = True


class FollowUpRow(NamedTuple):
    """One lead as the follow-up queue reads it (a tuple: 100k of them are built per read)."""

    reg_no: str
    name: str
    created_at: str
    status: str
    assigned_to: int | None
    attempts: int
    last_contact: str | None
    next_follow_up: str | None


@dataclass(frozen=True)
class UndoResult:
    """What :meth:`RegistrationRepo.undo_last` did: ``undone``, ``expired`` or ``nothing``."""

    outcome: str
    restored: int
    skipped: int
    kind: str = "single"


def _check_status(status: str, reason: str | None) -> None:
    if status not in STATUSES:
        raise StatusError("unknown_status", status, STATUSES)
    if status in REASON_REQUIRED and not (reason and reason.strip()):
        raise StatusError("reason_required", status, STATUSES)


def _move(
    record: Doc,
    status: str,
    reason: str | None,
    reason_text: str | None,
    actor: int,
    now: str,
    undo: Doc,
) -> None:
    """Change ``record``'s status in memory, with its history line and what undo needs (the
    number and statuses only: no personal data in the undo log)."""
    undo["changes"].append(
        {
            "reg_no": record["reg_no"],
            "status": record["status"],
            "reason": record.get("status_reason"),
            "reason_text": record.get("status_reason_text"),
            # the status changes the record will have had: one more means changed again since
            "changes": _status_changes(record) + 1,
        }
    )
    change = {"at": now, "by": actor, "change": "status", "from": record["status"]}
    record.update(
        status=status, status_reason=reason, status_reason_text=reason_text, updated_at=now
    )
    record["history"].append({**change, "to": status})


def _status_changes(record: Mapping[str, Any]) -> int:
    return sum(1 for entry in record.get("history") or () if entry.get("change") == "status")


def _newest_active(records: list[Doc]) -> Doc | None:
    active = [record for record in records if is_active(record)]
    return active[-1] if active else None


def matches(
    record: Mapping[str, Any],
    programme: str | None,
    outcome: str | None,
    kecamatan: str | None,
    status: str | None,
    since: date | None,
    until: date | None,
) -> bool:
    """The ``search`` filters, all of which must hold (``desk.export.filter_records`` too)."""
    screening: dict[str, str] = record.get("screening") or {}
    if programme is not None and not (
        programme in (record.get("programmes") or ()) or programme in screening
    ):
        return False
    if outcome is not None:
        screened = screening.get(programme) if programme is not None else None
        outcomes = [screened] if screened is not None else list(screening.values())
        if outcome not in outcomes:
            return False
    if kecamatan is not None and record.get("kecamatan") != kecamatan:
        return False
    if status is not None and record.get("status") != status:
        return False
    if since is not None or until is not None:
        created = local_date(record["created_at"])
        if (since is not None and created < since) or (until is not None and created > until):
            return False
    return True
