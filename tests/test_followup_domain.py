"""The follow-up desk's rules without Telegram: what each outcome does to a lead, the queue's
order (new oldest first, due most overdue first, the rest), mine vs all, the digest's content,
typed dates, the WhatsApp number, the store's follow-up methods and staff names."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from desk.followup import (
    DUE,
    NEW,
    OUTCOMES,
    REST,
    FollowUpDateError,
    build_digests,
    build_queue,
    outcome_effect,
    outcome_labels,
    parse_follow_up_date,
    whatsapp_number,
)
from store import ContactEffect, FollowUpRow, Stores

TODAY = date(2026, 12, 3)
STAFF, OTHER = 901, 902


def row(
    reg_no: str,
    *,
    created: str = "2026-11-01T00:00:00+00:00",
    status: str = "baru",
    assigned_to: int | None = None,
    attempts: int = 0,
    last: str | None = None,
    next_up: date | None = None,
) -> FollowUpRow:
    return FollowUpRow(
        reg_no,
        f"Warga {reg_no[-2:]}",
        created,
        status,
        assigned_to,
        attempts,
        last,
        next_up.isoformat() if next_up else None,
    )


def test_outcome_labels_cover_every_outcome_in_both_languages() -> None:
    for lang in ("id", "en"):
        assert set(outcome_labels(lang)) == set(OUTCOMES)
    assert outcome_labels("id")["call_back"] == "minta ditelepon ulang"


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        ("no_answer", "baru", ContactEffect(None, None, TODAY + timedelta(days=1), False)),
        ("wrong_number", "baru", ContactEffect("tidak_lanjut", "unreachable", None, False)),
        ("wrong_number", "dihubungi", ContactEffect()),
        ("interested", "baru", ContactEffect("dihubungi", None, None, True)),
        ("interested", "ikut_pelatihan", ContactEffect(None, None, None, True)),
        ("visited_office", "baru", ContactEffect("dihubungi", None, None, True)),
        ("declined", "lulus_pelatihan", ContactEffect("tidak_lanjut", "withdrew", None, False)),
        ("declined", "berangkat", ContactEffect()),
        ("declined", "tidak_lanjut", ContactEffect()),
    ],
)
def test_what_an_outcome_does(outcome: str, status: str, expected: ContactEffect) -> None:
    assert outcome_effect({"status": status}, outcome, TODAY) == expected


def test_outcomes_and_the_next_follow_up_date() -> None:
    later = (TODAY + timedelta(days=5)).isoformat()
    due = (TODAY - timedelta(days=1)).isoformat()
    # no answer: tomorrow, unless staff already chose a later day
    assert outcome_effect({"status": "baru", "next_follow_up": later}, "no_answer", TODAY) == (
        ContactEffect()
    )
    # reached: a due date is done, a later one chosen by staff stays, a no-answer retry goes
    reached: dict[str, Any] = {"status": "dihubungi", "next_follow_up": due}
    assert outcome_effect(reached, "interested", TODAY).keep_follow_up is False
    reached["next_follow_up"] = later
    assert outcome_effect(reached, "interested", TODAY).keep_follow_up is True
    reached["contacts"] = [{"outcome": "no_answer"}]
    assert outcome_effect(reached, "visited_office", TODAY).keep_follow_up is False
    # call back: the date asked for, and "baru" becomes "dihubungi"
    day = TODAY + timedelta(days=2)
    assert outcome_effect({"status": "baru"}, "call_back", TODAY, day) == ContactEffect(
        "dihubungi", None, day, False
    )
    with pytest.raises(ValueError):
        outcome_effect({"status": "baru"}, "call_back", TODAY)
    with pytest.raises(ValueError):
        outcome_effect({"status": "baru"}, "hung_up", TODAY)


def test_queue_order_mine_and_all() -> None:
    rows = [
        row("SRG-2026-000010", created="2026-11-20T00:00:00+00:00"),
        row("SRG-2026-000011", created="2026-11-02T00:00:00+00:00", assigned_to=STAFF),
        row("SRG-2026-000012", status="dihubungi", attempts=1, next_up=TODAY, assigned_to=STAFF),
        row("SRG-2026-000013", status="dihubungi", attempts=2, next_up=TODAY - timedelta(days=4)),
        row("SRG-2026-000014", status="ikut_pelatihan", attempts=1, next_up=TODAY + timedelta(3)),
        row("SRG-2026-000015", status="dihubungi", attempts=1, last="2026-11-05T00:00:00+00:00"),
        row("SRG-2026-000016", status="dihubungi", attempts=1, last="2026-11-01T00:00:00+00:00"),
        row("SRG-2026-000017", status="berangkat", attempts=3),
        row("SRG-2026-000018", status="tidak_lanjut", attempts=1, next_up=TODAY),
        # "baru" but already tried (no answer): no longer new, due tomorrow
        row("SRG-2026-000019", attempts=1, next_up=TODAY + timedelta(days=1)),
    ]
    queue = build_queue(rows, TODAY)
    assert [(i.row.reg_no[-2:], i.section) for i in queue] == [
        ("11", NEW),  # oldest registration first
        ("10", NEW),
        ("13", DUE),  # most overdue first
        ("12", DUE),
        ("19", REST),  # nearest follow-up date first
        ("14", REST),
        ("16", REST),  # no date: contacted longest ago first
        ("15", REST),
    ]
    assert [i.overdue for i in queue if i.section == DUE] == [4, 0]
    mine = build_queue(rows, TODAY, assigned_to=STAFF)
    assert [i.row.reg_no[-2:] for i in mine] == ["11", "12"]
    assert build_queue(rows, TODAY, assigned_to=OTHER) == []


def test_digests_count_mine_and_the_unassigned() -> None:
    rows = [
        row("SRG-2026-000001", assigned_to=STAFF),
        row("SRG-2026-000002", status="dihubungi", attempts=1, next_up=TODAY, assigned_to=STAFF),
        row("SRG-2026-000003", status="dihubungi", attempts=1, next_up=TODAY - timedelta(2),
            assigned_to=STAFF),
        row("SRG-2026-000004", status="dihubungi", attempts=1, next_up=TODAY + timedelta(2),
            assigned_to=OTHER),
        row("SRG-2026-000005", status="dihubungi", attempts=1, next_up=TODAY),
    ]  # fmt: skip
    digests = build_digests(rows, [STAFF, OTHER], TODAY)
    mine = digests[STAFF]
    assert (len(mine.due), mine.overdue, len(mine.new)) == (2, 1, 1)
    assert [i.row.reg_no[-1] for i in mine.first()] == ["3", "2", "1"]
    assert (mine.unassigned_due, mine.unassigned_new) == (1, 0)
    other = digests[OTHER]
    assert not other.due and not other.new and not other.empty  # the unassigned due one
    quiet = build_digests(rows[:4], [STAFF, OTHER], TODAY)
    assert quiet[OTHER].empty and not quiet[STAFF].empty  # nothing due: nothing to send


def test_typed_follow_up_dates() -> None:
    assert parse_follow_up_date("05-12-2026", TODAY) == date(2026, 12, 5)
    assert parse_follow_up_date("5/12/2026", TODAY) == date(2026, 12, 5)
    assert parse_follow_up_date("2026-12-03", TODAY) == TODAY
    for text, code in (("besok", "format"), ("31-02-2027", "format"), ("02-12-2026", "past"),
                       ("01-01-2030", "far")):  # fmt: skip
        with pytest.raises(FollowUpDateError) as caught:
            parse_follow_up_date(text, TODAY)
        assert caught.value.code == code


def test_whatsapp_only_for_mobiles() -> None:
    assert whatsapp_number("+6281234567890") == "6281234567890"
    assert whatsapp_number("0812-3456-7890") == "6281234567890"
    assert whatsapp_number("62 812 3456 7890") == "6281234567890"
    for phone in ("+62254123456", "(0254) 123456", "", None, "+628"):
        assert whatsapp_number(phone) is None


def test_the_store_keeps_contacts_dates_assignment_and_names(tmp_path: Path) -> None:
    with Stores.open(tmp_path / "data") as stores:
        regs = stores.registrations
        record, _ = regs.save(1, 1, {"full_name": "Siti", "phone": "+6281200001111"}, actor=1)
        number = record["reg_no"]
        assert [r.attempts for r in regs.follow_up_rows()] == [0]
        updated, effect = regs.record_contact(
            number,
            "declined",
            actor=STAFF,
            decide=lambda r: outcome_effect(r, "declined", TODAY),
        )
        assert (updated["status"], updated["status_reason"]) == ("tidak_lanjut", "withdrew")
        assert effect.status == "tidak_lanjut"
        assert [h["change"] for h in updated["history"]] == ["created", "contact", "status"]
        with pytest.raises(ValueError):
            regs.record_contact(number, "call_back", actor=STAFF)  # without its date
        regs.annotate_contact(number, 0, "pindah kerja", actor=STAFF)
        with pytest.raises(IndexError):
            regs.annotate_contact(number, 5, "x", actor=STAFF)
        regs.set_follow_up(number, TODAY, actor=STAFF)
        regs.assign(number, STAFF, actor=STAFF)
        [summary] = regs.follow_up_rows()
        assert (summary.attempts, summary.assigned_to, summary.next_follow_up) == (
            1, STAFF, TODAY.isoformat()
        )  # fmt: skip
        assert stores.staff_names.learn(STAFF, "  Dedi   Kurnia ") is True
        assert stores.staff_names.learn(STAFF, "Dedi Kurnia") is False  # unchanged: no write
    with Stores.open(tmp_path / "data") as stores:  # everything survived a reopen
        record = stores.registrations.get(number)
        assert record is not None and record["contacts"][0]["note"] == "pindah kerja"
        assert stores.staff_names.all() == {STAFF: "Dedi Kurnia"}
        stores.delete_user(STAFF)  # a staff member's erasure takes their name too
        assert stores.staff_names.all() == {}
