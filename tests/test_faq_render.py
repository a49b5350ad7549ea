"""Answers as shown on a given day: placeholders from the config, dated statements, status."""

from __future__ import annotations

from datetime import date

import pytest

from faq.model import Localized, Statement, load_knowledge_base
from faq.render import StatusUpdate, format_date, office_values, render

KB = load_knowledge_base(today=date(2026, 12, 2))


def test_retention_comes_from_the_values_with_its_unit() -> None:
    entry = KB.by_id["data-retention"]
    shown = render(entry, "id", today=date(2026, 12, 2), values={"retention_days": 730})
    assert "<b>730 hari</b>" in shown.answer and "{" not in shown.answer
    english = render(entry, "en", today=date(2026, 12, 2), values={"retention_days": 30})
    assert "<b>30 days</b>" in english.answer


def test_missing_values_show_a_neutral_text_never_braces() -> None:
    for entry in KB.entries:
        for lang in ("id", "en"):
            shown = render(entry, lang, today=date(2026, 12, 2))
            assert "{" not in shown.answer and "{" not in (shown.detail or ""), entry.id
            # what callers that show entry.answer directly get: pre-filled the same way
            assert "{" not in entry.answer[lang], entry.id


def test_office_block_is_escaped() -> None:
    values = office_values(
        {"address": "Jl. Jend. Sudirman <No. 5>", "hours": "08.00", "phone": ""}
    )
    assert values == {"office_address": "Jl. Jend. Sudirman <No. 5>", "office_hours": "08.00"}
    shown = render(KB.by_id["disnaker-office"], "id", today=date(2026, 12, 2), values=values)
    assert "Jl. Jend. Sudirman &lt;No. 5&gt;" in shown.answer
    assert "08.00" in shown.answer and "Hubungi petugas" in shown.answer


def test_a_statement_says_when_it_was_made_and_when_its_target_passed() -> None:
    entry = KB.by_id["programme-timeline"]
    before = render(entry, "id", today=date(2025, 12, 1)).answer
    assert "disampaikan 24 September 2025" in before and "sudah lewat" not in before
    after = render(entry, "id", today=date(2026, 12, 2)).answer
    assert "target itu sudah lewat" in after and "per 2 Desember 2026" in after
    assert "has passed" in render(entry, "en", today=date(2026, 4, 1)).answer
    # on the target day itself it is still ahead
    assert "sudah lewat" not in render(entry, "id", today=date(2026, 3, 31)).answer


def test_status_update_tops_the_status_and_timeline_answers_only() -> None:
    update = StatusUpdate.parse("LOA sudah <b>terbit</b> 12-01-2027", date(2027, 1, 12))
    for entry_id in ("programme-status", "programme-timeline"):
        answer = render(KB.by_id[entry_id], "id", today=date(2027, 1, 13), status=update).answer
        assert answer.startswith("📢 <b>Kabar terbaru (12 Januari 2027):</b> LOA sudah")
    other = render(KB.by_id["age-limit"], "id", today=date(2027, 1, 13), status=update).answer
    assert "Kabar terbaru" not in other
    assert StatusUpdate.from_json(update.to_json()) == update


@pytest.mark.parametrize("text", ["", "LOA <script>", "<b>terbit", "x" * 501])
def test_status_update_is_validated_like_announcements(text: str) -> None:
    with pytest.raises(ValueError):
        StatusUpdate.parse(text, date(2027, 1, 12))


def test_statement_dates_are_written_in_the_answer_language() -> None:
    assert format_date(date(2025, 9, 24), "id") == "24 September 2025"
    assert format_date(date(2026, 12, 2), "en") == "2 December 2026"
    item = Statement(date(2025, 9, 24), date(2025, 11, 30), Localized("LOA dua bulan.", "LOA."))
    assert item.due > item.said


def test_no_answer_promises_a_departure_or_calls_g_to_g_free_in_general() -> None:
    for entry in KB.entries:
        for lang in ("id", "en"):
            text = render(entry, lang, today=date(2026, 12, 2)).answer.lower()
            for promise in ("pasti berangkat", "dijamin berangkat", "guaranteed departure"):
                assert promise not in text or "tidak" in text or "not" in text, entry.id
            assert "g to g korea gratis" not in text, entry.id
