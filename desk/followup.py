"""The follow-up desk's rules: what a contact outcome does to a lead, the order of the work
queue, and what each staff member's daily digest says. Pure Python, no Telegram.

What an outcome does (``outcome_effect``), on the lead as it is before the attempt:

=================  =====================================  =====================================
outcome            status                                 next follow-up date
=================  =====================================  =====================================
no_answer          unchanged                              tomorrow, unless a later one is set
wrong_number       ``baru`` (never reached) -> tidak       cleared when dropped, else unchanged
                   lanjut, reason ``unreachable``; after
                   a first contact it stays
call_back          ``baru`` -> ``dihubungi``               the date asked for
interested         ``baru`` -> ``dihubungi``               cleared if due or a no-answer retry,
                                                          a later one set by staff kept
declined           any open status -> tidak lanjut,        cleared
                   reason ``withdrew`` (``berangkat`` and
                   ``tidak_lanjut`` stay)
visited_office     ``baru`` -> ``dihubungi``               as for interested
=================  =====================================  =====================================

A status never moves backwards: a lead in training that answers "tertarik" stays in training.

The queue (``build_queue``) holds the leads still being worked on (every status but
``berangkat`` and ``tidak_lanjut``), in three sections:

1. ``new``: status ``baru`` and never contacted, oldest registration first;
2. ``due``: a next follow-up date today or earlier, the most overdue first;
3. ``rest``: the others, the nearest follow-up date first (none last), then the one contacted
   longest ago.

"Mine" is the leads assigned to the staff member; "all" is every lead.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from store.clock import parse_date
from store.registrations import CONTACT_OUTCOMES, ContactEffect, FollowUpRow

LABELS_FILE = Path(__file__).with_name("followup.yaml")
OUTCOMES = CONTACT_OUTCOMES
DROPPED = "tidak_lanjut"
#: Statuses no longer followed up: out of the queue and the digest.
DONE_STATUSES = frozenset({"berangkat", DROPPED})
#: Statuses a "declined" outcome closes.
OPEN_STATUSES = ("baru", "dihubungi", "ikut_pelatihan", "lulus_pelatihan")
NEW, DUE, REST = "new", "due", "rest"
SECTIONS = (NEW, DUE, REST)
#: Follow-up date presets offered as buttons: (id, days from today).
DATE_PRESETS = (("tomorrow", 1), ("day_after", 2), ("week", 7))
#: A follow-up date is at most this far ahead (a typo such as 2062 is refused).
MAX_DAYS_AHEAD = 366
DIGEST_FIRST = 5


# -- labels --------------------------------------------------------------------------------


@cache
def _labels() -> dict[str, Any]:
    with LABELS_FILE.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def labels(section: str, lang: str) -> dict[str, str]:
    """``outcomes`` or ``sections`` labels in ``lang`` (Indonesian when missing)."""
    return {key: str(e.get(lang) or e["id"]) for key, e in _labels()[section].items()}


def outcome_labels(lang: str) -> dict[str, str]:
    """Contact outcome id -> label, e.g. ``no_answer`` -> "tidak diangkat"."""
    return labels("outcomes", lang)


# -- a contact's effect ------------------------------------------------------------------------


def _due(day: str | None, today: date) -> bool:
    return day is not None and date.fromisoformat(day) <= today


def outcome_effect(
    record: Mapping[str, Any], outcome: str, today: date, callback_on: date | None = None
) -> ContactEffect:
    """What recording ``outcome`` on ``record`` changes (the table in the module docstring)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown contact outcome {outcome!r}")
    status = record.get("status") or "baru"
    current = record.get("next_follow_up")
    if outcome == "no_answer":
        if current is not None and date.fromisoformat(current) > today:
            return ContactEffect()
        return ContactEffect(next_follow_up=today + timedelta(days=1), keep_follow_up=False)
    if outcome == "wrong_number":
        if status == "baru":
            return ContactEffect(DROPPED, "unreachable", None, keep_follow_up=False)
        return ContactEffect()
    if outcome == "declined":
        if status in OPEN_STATUSES:
            return ContactEffect(DROPPED, "withdrew", None, keep_follow_up=False)
        return ContactEffect()
    moved = "dihubungi" if status == "baru" else None
    if outcome == "call_back":
        if callback_on is None:
            raise ValueError("call_back needs the date to call back")
        return ContactEffect(moved, None, callback_on, keep_follow_up=False)
    # interested, visited_office: the person was reached, so a due follow-up is done, and so
    # is the retry a "no answer" scheduled; a later date a staff member chose stays.
    contacts: list[Mapping[str, Any]] = list(record.get("contacts") or ())
    retry = bool(contacts) and contacts[-1].get("outcome") == "no_answer"
    return ContactEffect(moved, None, None, keep_follow_up=not (_due(current, today) or retry))


# -- follow-up dates ---------------------------------------------------------------------------


class FollowUpDateError(ValueError):
    """A typed follow-up date that cannot be used: ``format``, ``past`` or ``far``."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def preset_date(preset: str, today: date) -> date:
    """The date of a preset (``tomorrow``, ``day_after``, ``week``); KeyError if unknown."""
    return today + timedelta(days=dict(DATE_PRESETS)[preset])


def parse_follow_up_date(text: str, today: date) -> date:
    """A typed date (``03-12-2026``, ``3/12/2026``, ``2026-12-03``: ``store.clock``), from
    today up to a year ahead."""
    try:
        day = parse_date(text)
    except ValueError:
        raise FollowUpDateError("format", text) from None
    if day < today:
        raise FollowUpDateError("past", text)
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise FollowUpDateError("far", text)
    return day


# -- the queue ---------------------------------------------------------------------------------


class QueueItem(NamedTuple):
    row: FollowUpRow
    section: str
    #: Days past the follow-up date (0: due today) in ``due``; None elsewhere.
    overdue: int | None = None


def section_of(row: FollowUpRow, today: date) -> str | None:
    """The queue section of a lead, None when it is not followed up any more."""
    return _section(row, today.isoformat())


def _section(row: FollowUpRow, today: str) -> str | None:
    if row.status in DONE_STATUSES:
        return None
    if row.status == "baru" and row.attempts == 0:
        return NEW
    if row.next_follow_up is not None and row.next_follow_up <= today:  # ISO dates sort
        return DUE
    return REST


def build_queue(
    rows: Iterable[FollowUpRow], today: date, *, assigned_to: int | None = None
) -> list[QueueItem]:
    """The work queue, in order (module docstring); only ``assigned_to``'s leads if given."""
    was_enabled = gc.isenabled()
    gc.disable()  # tens of thousands of acyclic tuples: no cyclic GC passes over them
    try:
        return _build_queue(rows, today, assigned_to)
    finally:
        if was_enabled:
            gc.enable()


def _build_queue(
    rows: Iterable[FollowUpRow], today: date, assigned_to: int | None
) -> list[QueueItem]:
    new: list[FollowUpRow] = []
    due: list[FollowUpRow] = []
    rest: list[FollowUpRow] = []
    buckets = {NEW: new, DUE: due, REST: rest}
    day = today.isoformat()
    for row in rows:
        if assigned_to is not None and row.assigned_to != assigned_to:
            continue
        section = _section(row, day)
        if section is not None:
            buckets[section].append(row)
    new.sort(key=lambda r: (r.created_at, r.reg_no))
    due.sort(key=lambda r: (r.next_follow_up or "", r.created_at, r.reg_no))
    # No date sorts last ("~" after any digit), then the one contacted longest ago.
    rest.sort(
        key=lambda r: (r.next_follow_up or "~", r.last_contact or "", r.created_at, r.reg_no)
    )
    overdue: dict[str, int] = {}  # days past each due date, computed once per date
    items = [QueueItem(r, NEW) for r in new]
    for r in due:
        when = r.next_follow_up or day
        if when not in overdue:
            overdue[when] = (today - date.fromisoformat(when)).days
        items.append(QueueItem(r, DUE, overdue[when]))
    items += [QueueItem(r, REST) for r in rest]
    return items


# -- the daily digest --------------------------------------------------------------------------


@dataclass
class Digest:
    """What is due for one staff member: their own leads, and the leads nobody holds."""

    due: list[QueueItem] = field(default_factory=list)  # mine, due today or overdue
    new: list[QueueItem] = field(default_factory=list)  # mine, never contacted
    unassigned_due: int = 0
    unassigned_new: int = 0

    @property
    def empty(self) -> bool:
        return not (self.due or self.new or self.unassigned_due or self.unassigned_new)

    @property
    def overdue(self) -> int:
        return sum(1 for item in self.due if item.overdue)

    def first(self, count: int = DIGEST_FIRST) -> list[QueueItem]:
        """The first few to do: the due ones (most overdue first), then the new ones."""
        return [*self.due, *self.new][:count]


def build_digests(
    rows: Iterable[FollowUpRow], staff: Sequence[int], today: date
) -> dict[int, Digest]:
    """One digest per staff member (empty ones included; the sender skips them)."""
    queue = build_queue(rows, today)
    digests = {user_id: Digest() for user_id in staff}
    pool_due = sum(1 for i in queue if i.row.assigned_to is None and i.section == DUE)
    pool_new = sum(1 for i in queue if i.row.assigned_to is None and i.section == NEW)
    for item in queue:
        digest = digests.get(item.row.assigned_to) if item.row.assigned_to is not None else None
        if digest is None or item.section == REST:
            continue
        (digest.due if item.section == DUE else digest.new).append(item)
    for digest in digests.values():
        digest.unassigned_due, digest.unassigned_new = pool_due, pool_new
    return digests


# -- calling -----------------------------------------------------------------------------------


def whatsapp_number(phone: str | None) -> str | None:
    """The ``wa.me`` number (``62812…``) of an Indonesian mobile (``+628…``, ``628…``,
    ``08…``), None for anything else (a landline, nothing)."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("08"):
        digits = "62" + digits[1:]
    if digits.startswith("628") and 10 <= len(digits) <= 15:
        return digits
    return None
