"""A NIK never stays in the chat: typed anywhere, in free text, to the staff, or edited in."""

from __future__ import annotations

from bot.handlers.nik_guard import holds_nik
from tests.harness import BotHarness, texts_of
from tests.test_handoff import CITIZEN, GROUP, desk, group_message  # noqa: F401 (fixture)
from tests.test_registration import NIK, to_nik_step

NOTE = "berisi nomor NIK"


def deleted(bot: BotHarness, since: int) -> int:
    return sum(1 for c in bot.emu.calls[since:] if c.method == "deleteMessage" and c.ok)


def test_nik_shapes() -> None:
    for text in (
        NIK,
        "3673 0141 0199 0001",
        "nik sy 3673.0141.0199.0001 min",
        "3673-014101-990001",
    ):
        assert holds_nik(text), text
    not_niks = (
        "081234567890",
        "+6281234567890",
        "12345678901234567",
        "tahun 2026",
        "/statistik 01-11-2026 30-11-2026",  # two dates are 16 digits, not a NIK
        "/statistik 2026-11-01 2026-11-30",
        "/statistik 1/11/2026 30/11/2026",
    )
    for text in not_niks:
        assert not holds_nik(text), text
    assert holds_nik(f"01-11-2026 {NIK}")


async def test_a_nik_in_a_question_is_removed(desk: BotHarness) -> None:  # noqa: F811
    since = len(desk.emu.calls)
    replies = await desk.send(CITIZEN, f"min nik saya {NIK} bisa daftar gak?")
    assert deleted(desk, since) == 1 and NOTE in texts_of(replies)


async def test_a_nik_sent_to_the_staff_is_removed_and_masked(desk: BotHarness) -> None:  # noqa: F811
    await desk.send(CITIZEN, "/petugas")
    since = len(desk.emu.calls)
    replies = await desk.send(CITIZEN, f"NIK saya {NIK}, tolong dicek")
    assert deleted(desk, since) == 1 and NOTE in texts_of(replies)
    assert NIK not in group_message(desk, since)["text"], "relayed masked"


async def test_a_nik_edited_in_is_removed(desk: BotHarness) -> None:  # noqa: F811
    sent = desk.emu.send_text(CITIZEN, "syarat umur berapa")
    await desk.processed(sent["update_id"])
    since = len(desk.emu.calls)
    edit = desk.emu.edit_text(CITIZEN, sent["message"]["message_id"], f"syarat umur {NIK}")
    await desk.processed(edit["update_id"])
    assert deleted(desk, since) == 1
    assert any(NOTE in (c.params.get("text") or "") for c in desk.emu.calls[since:])


async def test_the_registration_nik_step_deletes_it_once(desk: BotHarness) -> None:  # noqa: F811
    await to_nik_step(desk, CITIZEN)
    since = len(desk.emu.calls)
    replies = await desk.send(CITIZEN, NIK)
    assert deleted(desk, since) == 1 and NOTE not in texts_of(replies)
