"""Registrations: numbering, the one-active-registration-per-citizen rule, history, retention."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from store.clock import Clock, iso, local_date, utc_now, zone
from store.durable import Database, Doc
from store.errors import NikTakenError, NotFoundError, StatusError
from store.lead_index import Hit, IndexedCollection, LeadIndex

TABLE = "registrations"
COUNTERS = "counters"

STATUSES = ("baru", "dihubungi", "ikut_pelatihan", "lulus_pelatihan", "berangkat", "tidak_lanjut")
#: A registration in a closed status no longer counts as the citizen's active one.
CLOSED_STATUSES = frozenset({"tidak_lanjut"})
REASON_REQUIRED = frozenset({"tidak_lanjut"})

#: Fields the repository manages; callers cannot set them through ``save``.
SYSTEM_FIELDS = frozenset(
    {
        "reg_no",
        "user_id",
        "chat_id",
        "status",
        "status_reason",
        "notes",
        "history",
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
        self, reg_no: str, status: str, *, actor: int, reason: str | None = None
    ) -> Doc:
        """Move a registration to a follow-up status (``tidak_lanjut`` needs a reason)."""
        if status not in STATUSES:
            raise StatusError("unknown_status", status, STATUSES)
        if status in REASON_REQUIRED and not (reason and reason.strip()):
            raise StatusError("reason_required", status, STATUSES)
        with self.database.locked():
            record = self._require(reg_no)
            if record["status"] == status and record["status_reason"] == reason:
                return record
            now = iso(self._clock())
            change = {"at": now, "by": actor, "change": "status", "from": record["status"]}
            record.update(status=status, status_reason=reason, updated_at=now)
            record["history"].append({**change, "to": status})
            self._records.put(reg_no, record)
            return record

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
