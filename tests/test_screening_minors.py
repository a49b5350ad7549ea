"""Minors: under 18 no registration for work programmes (with the date they can), and a
scholarship registration only with a parent's or guardian's consent (UU PDP Pasal 25)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from screening.engine import Engine
from screening.identity import InvalidNik, parse_nik
from screening.minors import (
    ADULT_AGE,
    GUARDIAN_RELATIONSHIPS,
    birthday,
    guardian_consent_record,
    minor_status,
    relationship_label,
)
from screening.model import LANGS, load_texts

TODAY = date(2026, 12, 2)


def test_a_14_year_old_cannot_register_for_work_in_korea() -> None:
    # Her NIK itself is refused as the NIK of someone under 15 (screening.identity); the rule
    # for minors holds on the birth date alone.
    with pytest.raises(InvalidNik):
        parse_nik("3673015505120001", today=TODAY)  # a girl born 15 May 2012
    status = minor_status(date(2012, 5, 15), ["korea_work"], TODAY)
    assert (status.age, status.minor) == (14, True)
    assert status.work_blocked and not status.can_register
    assert status.blocked_interests == ("korea_work",)
    assert status.adult_on == date(2030, 5, 15)
    assert not status.guardian_consent_required  # nothing is stored
    work, subscribe = status.messages("id")
    assert "14 tahun" in work and "mulai 15 Mei 2030" in work
    assert "/langganan" in subscribe
    assert "from 15 May 2030" in status.messages("en")[0]


def test_a_17_year_old_for_a_scholarship_needs_a_guardian() -> None:
    status = minor_status(date(2009, 6, 1), ["scholarship"], TODAY)
    assert status.age == 17 and status.can_register and not status.work_blocked
    assert status.guardian_consent_required
    (message,) = status.messages("id")
    assert "orang tua atau wali" in message and "Pasal 25" in message


def test_work_and_scholarship_together_keep_only_the_scholarship() -> None:
    status = minor_status("2009-06-01", ["korea_work", "japan_work", "scholarship"], TODAY)
    assert status.blocked_interests == ("korea_work", "japan_work")
    assert status.allowed_interests == ("scholarship",)
    assert status.guardian_consent_required
    assert len(status.messages("en")) == 2


def test_programme_ids_are_read_as_interests() -> None:
    status = minor_status(date(2010, 1, 1), ["eps_korea", "gks_undergrad"], TODAY)
    assert status.interests == ("korea_work", "scholarship")
    assert status.work_blocked and status.guardian_consent_required


def test_a_minor_who_has_not_chosen_yet_needs_a_guardian_before_any_data() -> None:
    status = minor_status(date(2010, 1, 1), [], TODAY)
    assert status.can_register and status.guardian_consent_required


@pytest.mark.parametrize(
    ("born", "minor"),
    [
        (date(2008, 12, 1), False),  # turned 18 yesterday
        (date(2008, 12, 2), False),  # turns 18 today
        (date(2008, 12, 3), True),  # turns 18 tomorrow
    ],
)
def test_the_18th_birthday_boundary(born: date, minor: bool) -> None:
    status = minor_status(born, ["korea_work"], TODAY)
    assert status.minor is minor and status.work_blocked is minor
    assert status.adult_on == born.replace(year=born.year + ADULT_AGE)
    if minor:
        assert "mulai 2 Desember 2026" not in status.messages("id")[0]
        assert "mulai 3 Desember 2026" in status.messages("id")[0]
    else:
        assert status.messages("id") == [] and not status.guardian_consent_required


def test_born_on_29_february_is_18_on_1_march() -> None:
    assert birthday(date(2008, 2, 29), 18) == date(2026, 3, 1)
    assert minor_status(date(2008, 2, 29), ["korea_work"], date(2026, 2, 28)).minor
    assert not minor_status(date(2008, 2, 29), ["korea_work"], date(2026, 3, 1)).minor


def test_the_engine_counts_on_today_not_on_a_future_registration_window() -> None:
    # 17 today, 18 on the announced window: still a child whose data needs a guardian now.
    engine = Engine.default(date(2027, 3, 1), today=TODAY)
    status = engine.minor_status(date(2009, 1, 10), ["korea_work"])
    assert status.on == TODAY and status.minor and status.work_blocked
    assert engine.minor_status(date(2009, 1, 10), [], today=date(2027, 1, 10)).minor is False


def test_the_guardian_consent_record() -> None:
    at = datetime(2026, 12, 2, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    record = guardian_consent_record(
        name="  Siti   Aminah ", relationship="mother", consent_version="2026-11", at=at
    )
    assert record == {
        "name": "Siti Aminah",
        "relationship": "mother",
        "consent_version": "2026-11",
        "at": datetime(2026, 12, 2, 2, 30, tzinfo=UTC).isoformat(),
    }
    for bad in (
        {"name": " ", "relationship": "mother", "consent_version": "1", "at": at},
        {"name": "x" * 101, "relationship": "mother", "consent_version": "1", "at": at},
        {"name": "Budi", "relationship": "uncle", "consent_version": "1", "at": at},
        {"name": "Budi", "relationship": "father", "consent_version": " ", "at": at},
        {
            "name": "Budi",
            "relationship": "father",
            "consent_version": "1",
            "at": datetime(2026, 1, 1),
        },
    ):
        with pytest.raises(ValueError):
            guardian_consent_record(**bad)  # type: ignore[arg-type]


def test_every_minor_text_exists_in_both_languages() -> None:
    texts = load_texts()
    for key in ("work_blocked", "guardian_needed", "guardian_declined", "subscribe_offer"):
        for lang in LANGS:
            text = texts.get(f"minors.{key}", lang, age=16, adult_on="1 Juni 2028")
            assert text.strip() and "{" not in text
    for relationship in GUARDIAN_RELATIONSHIPS:
        assert relationship_label(relationship, "id") != relationship_label(relationship, "en")
