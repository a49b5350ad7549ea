"""The follow-up desk through the emulator: the call log (outcomes, the status they move, a
note, a call-back date by button and typed), the next follow-up date, the queue (mine / all),
assignment with names, the daily digest job, and every follow-up button refused to citizens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.handlers.queue import DIGEST_JOB
from bot.i18n import Texts
from store import Stores, clock
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness, Reply, make_config
from tests.test_staff_bot import last_answer, reply_to, seed

STAFF, STAFF2, ADMIN, CITIZEN = 910, 911, 912, 5101
TEXTS = Texts.load()
STAFF_ONLY = TEXTS.get("staff_only", "id")


def followup_config(emu: BotAPIEmulator, data_dir: Path) -> Any:
    """An admin named in the config, two staff members known only by their Telegram names."""
    raw = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    raw["staff"] = {
        "admins": [ADMIN],
        "staff": [STAFF2],
        "group_chat_id": None,
        "names": {ADMIN: "Bu Admin"},
    }
    path = data_dir.parent / "followup-config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return make_config(emu, data_dir, BOT_CONFIG=str(path), BOT_STAFF_IDS=str(STAFF))


@pytest.fixture
async def desk(emu: BotAPIEmulator, data_dir: Path) -> AsyncIterator[BotHarness]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    emu.user(STAFF, "Dedi")
    emu.user(STAFF2, "Rina")
    emu.user(ADMIN, "Telegram-Admin")  # the config's name wins
    harness = BotHarness(emu, followup_config(emu, data_dir))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def stores_of(bot: BotHarness) -> Stores:
    assert bot.app is not None
    stores: Stores = bot.app.bot_data["services"].stores
    return stores


def lead(bot: BotHarness, number: str) -> dict[str, Any]:
    record = stores_of(bot).registrations.get(number)
    assert record is not None
    return record


def audit_of(bot: BotHarness, number: str) -> list[tuple[str, int, dict[str, Any]]]:
    """(action, actor, details) of the lead's audit, oldest first."""
    lines = stores_of(bot).audit.list(number)[::-1]
    return [(a["action"], a["actor"], a["details"] or {}) for a in lines]


async def card_of(bot: BotHarness, user: int, number: str) -> Reply:
    [card] = await bot.send(user, f"/pendaftar {number}")
    return card


def url_buttons(reply: Reply) -> list[str]:
    return [data for _, data in reply.buttons if data.startswith("http")]


# -- the call log ---------------------------------------------------------------------------------


async def test_call_log_outcomes_notes_and_the_card(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    phone = lead(desk, number)["phone"]
    card = await card_of(desk, STAFF, number)
    assert "belum pernah dihubungi" in card.text and "belum dijadwalkan" in card.text
    assert "+62 812-34" in card.text  # international form: Telegram makes it tappable
    assert url_buttons(card) == [f"https://wa.me/{phone.lstrip('+')}"]  # no tel: button
    [listing] = await desk.send(STAFF, "/pendaftar")
    assert "📞 belum" in listing.text

    [outcomes] = await desk.press(STAFF, card, "Catat kontak")
    assert "Bagaimana hasilnya" in outcomes.text and "0× dihubungi" in outcomes.text
    [after] = await desk.press(STAFF, outcomes, "Tidak diangkat")
    assert "Kontak ke-1 dicatat" in after.text and "tidak diangkat" in after.text
    assert "Kontak:</b> 1×" in after.text and "(besok)" in after.text
    assert "Dedi · tidak diangkat" in after.text  # the staff member by their Telegram name
    assert "Kontak dicatat" in last_answer(desk)["text"]
    record = lead(desk, number)
    assert record["status"] == "baru"  # nobody answered: not contacted yet
    assert record["next_follow_up"] == (clock.today() + timedelta(days=1)).isoformat()
    [contact] = record["contacts"]
    assert (contact["by"], contact["outcome"], contact["note"]) == (STAFF, "no_answer", None)

    [prompt] = await desk.press(STAFF, after, "Tambah catatan untuk kontak ini")
    assert prompt.params["reply_markup"]["force_reply"] is True
    [noted] = await reply_to(desk, STAFF, prompt, "HP mati, <coba> sore")
    assert "Catatan kontak" in noted.text and "HP mati, &lt;coba&gt; sore" in noted.text
    assert lead(desk, number)["contacts"][0]["note"] == "HP mati, <coba> sore"

    [outcomes] = await desk.press(STAFF, noted, "Catat kontak")
    [interested] = await desk.press(STAFF, outcomes, "Tertarik")
    assert "Status diubah ke <b>sudah dihubungi</b>" in interested.text
    assert "Kontak:</b> 2×" in interested.text and "kontak: tertarik" in interested.text
    record = lead(desk, number)
    assert record["status"] == "dihubungi" and record["next_follow_up"] is None  # due: done
    [listing] = await desk.send(STAFF, "/pendaftar")
    assert "📞 2×" in listing.text
    assert audit_of(desk, number) == [
        ("lead_contact", STAFF, {"outcome": "no_answer", "attempt": 1, "next_follow_up": (
            clock.today() + timedelta(days=1)).isoformat()}),
        ("lead_contact_note", STAFF, {"contact": 0, "length": 20}),
        ("lead_contact", STAFF, {"outcome": "interested", "attempt": 2, "next_follow_up": None}),
        ("lead_status", STAFF, {"from": "baru", "to": "dihubungi", "via": "contact"}),
    ]  # fmt: skip


async def test_declined_and_wrong_number_close_the_lead_with_a_reason_id(
    desk: BotHarness,
) -> None:
    stores = stores_of(desk)
    declined, wrong, later = seed(stores, 3)
    stores.registrations.set_status(later, "ikut_pelatihan", actor=STAFF)
    for number, label in ((declined, "Menolak"), (wrong, "Nomor salah"), (later, "Nomor salah")):
        card = await card_of(desk, STAFF, number)
        [outcomes] = await desk.press(STAFF, card, "Catat kontak")
        await desk.press(STAFF, outcomes, label)
    assert (lead(desk, declined)["status"], lead(desk, declined)["status_reason"]) == (
        "tidak_lanjut",
        "withdrew",
    )
    assert (lead(desk, wrong)["status"], lead(desk, wrong)["status_reason"]) == (
        "tidak_lanjut",
        "unreachable",
    )
    assert lead(desk, later)["status"] == "ikut_pelatihan"  # reached before: it stays
    assert ("lead_status", STAFF, {"from": "baru", "to": "tidak_lanjut", "via": "contact",
            "reason": "withdrew"}) in audit_of(desk, declined)  # fmt: skip
    assert [a for a, _, _ in audit_of(desk, later)] == ["lead_contact"]  # no status change


async def test_call_back_on_a_preset_and_on_a_typed_date(desk: BotHarness) -> None:
    first, second = seed(stores_of(desk), 2)
    today = clock.today()
    card = await card_of(desk, STAFF, first)
    [outcomes] = await desk.press(STAFF, card, "Catat kontak")
    [when] = await desk.press(STAFF, outcomes, "Minta ditelepon ulang")
    assert "Kapan?" in when.text
    lusa = next(label for label, _ in when.buttons if label.startswith("Lusa"))
    assert (today + timedelta(days=2)).strftime("%d-%m-%Y") in lusa
    [saved] = await desk.press(STAFF, when, "Lusa")
    record = lead(desk, first)
    assert record["next_follow_up"] == (today + timedelta(days=2)).isoformat()
    assert record["contacts"][-1]["callback_on"] == record["next_follow_up"]
    assert record["status"] == "dihubungi" and "dalam 2 hari" in saved.text

    card = await card_of(desk, STAFF, second)
    [outcomes] = await desk.press(STAFF, card, "Catat kontak")
    [when] = await desk.press(STAFF, outcomes, "Minta ditelepon ulang")
    [prompt] = await desk.press(STAFF, when, "Ketik tanggal")
    [bad] = await reply_to(desk, STAFF, prompt, "besok pagi")
    assert "tidak saya kenali" in bad.text
    [past] = await desk.send(STAFF, (today - timedelta(days=1)).strftime("%d-%m-%Y"))
    assert "sudah lewat" in past.text
    assert "contacts" not in lead(desk, second)  # nothing recorded until a usable date
    typed = today + timedelta(days=10)
    [saved] = await desk.send(STAFF, typed.strftime("%d-%m-%Y"))
    assert "Kontak ke-1 dicatat" in saved.text and typed.strftime("%d-%m-%Y") in saved.text
    assert lead(desk, second)["next_follow_up"] == typed.isoformat()
    # The prompt is answered once: the next message is an ordinary one again.
    [again] = await desk.send(STAFF, typed.strftime("%d-%m-%Y"))
    assert "dicatat" not in again.text


async def test_the_next_follow_up_date_from_the_card(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    today = clock.today()
    card = await card_of(desk, STAFF, number)
    [schedule] = await desk.press(STAFF, card, "Jadwal")
    assert "belum dijadwalkan" in schedule.text
    assert not any("Hapus jadwal" in label for label, _ in schedule.buttons)
    [saved] = await desk.press(STAFF, schedule, "+7 hari")
    assert lead(desk, number)["next_follow_up"] == (today + timedelta(days=7)).isoformat()
    assert "dalam 7 hari" in saved.text and "tindak lanjut dijadwalkan" in saved.text
    [schedule] = await desk.press(STAFF, saved, "Jadwal")
    [prompt] = await desk.press(STAFF, schedule, "Ketik tanggal")
    [far] = await reply_to(desk, STAFF, prompt, "01-01-2099")
    assert "lebih dari setahun" in far.text
    [typed] = await desk.send(STAFF, today.strftime("%d/%m/%Y"))
    assert lead(desk, number)["next_follow_up"] == today.isoformat() and "hari ini" in typed.text
    # Three unusable dates close the prompt; /batal closes it at once.
    [schedule] = await desk.press(STAFF, typed, "Jadwal")
    [prompt] = await desk.press(STAFF, schedule, "Ketik tanggal")
    for _ in range(3):
        [problem] = await desk.send(STAFF, "kapan-kapan")
    assert "Tidak ada yang disimpan" in problem.text
    [answer] = await desk.send(STAFF, (today + timedelta(days=1)).strftime("%d-%m-%Y"))
    assert "Tindak lanjut berikutnya" not in answer.text  # an ordinary message again
    [prompt] = await desk.press(STAFF, schedule, "Ketik tanggal")
    [cancelled] = await desk.send(STAFF, "/batal")
    assert "Dibatalkan" in cancelled.text
    assert lead(desk, number)["next_follow_up"] == today.isoformat()
    [cleared] = await desk.press(STAFF, schedule, "Hapus jadwal")
    assert lead(desk, number)["next_follow_up"] is None and "dihapus" in cleared.text
    dates = [d["on"] for a, _, d in audit_of(desk, number) if a == "lead_follow_up"]
    assert dates == [(today + timedelta(days=7)).isoformat(), today.isoformat(), None]


# -- the queue ------------------------------------------------------------------------------------


async def test_queue_mine_and_all_in_order(desk: BotHarness) -> None:
    stores = stores_of(desk)
    regs = stores.registrations
    today = clock.today()
    old_new, later_new, due, overdue, rest, gone, others = seed(stores, 7)
    for number in (old_new, due, overdue, rest, gone):
        regs.assign(number, STAFF, actor=ADMIN)
    regs.assign(others, STAFF2, actor=ADMIN)
    for number in (due, overdue, rest):
        regs.record_contact(number, "interested", actor=STAFF)
        regs.set_status(number, "dihubungi", actor=STAFF)
    regs.set_follow_up(due, today, actor=STAFF)
    regs.set_follow_up(overdue, today - timedelta(days=3), actor=STAFF)
    regs.set_follow_up(rest, today + timedelta(days=4), actor=STAFF)
    regs.set_status(gone, "berangkat", actor=STAFF)

    await desk.send(STAFF2, "/start")  # Rina used the bot: her Telegram name is known
    [mine] = await desk.send(STAFF, "/antrian")
    assert "punya saya" in mine.text and "1 belum dihubungi · ⏰ 2 jatuh tempo" in mine.text
    order = [n for n in (old_new, overdue, due, rest) if n in mine.text]
    assert order == [old_new, overdue, due, rest]
    positions = [mine.text.index(n) for n in order]
    assert positions == sorted(positions)
    assert later_new not in mine.text and others not in mine.text and gone not in mine.text
    assert "terlambat 3 hari" in mine.text and "(hari ini)" in mine.text
    assert mine.text.index("Belum pernah dihubungi") < mine.text.index("Jatuh tempo")

    [everyone] = await desk.press(STAFF, mine, "Semua")
    assert "semua" in everyone.text and "3 belum dihubungi" in everyone.text
    assert everyone.text.index(old_new) < everyone.text.index(later_new)  # oldest first
    assert others in everyone.text and "👤 Rina" in everyone.text and gone not in everyone.text
    [card] = await desk.press(STAFF, everyone, overdue)
    assert f"🗂️ <b>{overdue}</b>" in card.text and "Petugas:</b> Dedi" in card.text
    [queue] = await desk.press(STAFF, card, "Antrian")
    assert "semua" in queue.text
    [back] = await desk.press(STAFF, queue, "Punya saya")
    assert "punya saya" in back.text

    [empty] = await desk.send(ADMIN, "/antrian")
    assert "Belum ada pendaftar yang diserahkan kepada Anda" in empty.text


# -- assignment and names -------------------------------------------------------------------------


async def test_assignment_to_myself_and_by_an_admin(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    await desk.send(STAFF2, "/start")  # Rina has used the bot: her Telegram name is known
    card = await card_of(desk, STAFF, number)
    assert "Petugas:</b> belum ada" in card.text
    [screen] = await desk.press(STAFF, card, "Petugas")
    assert not any("Serahkan" in label for label, _ in screen.buttons)  # staff: only myself
    [taken] = await desk.press(STAFF, screen, "Ambil untuk saya")
    assert lead(desk, number)["assigned_to"] == STAFF
    assert "Petugas:</b> Dedi" in taken.text and "diserahkan ke Dedi" in taken.text

    # Another staff member cannot take it over; a forged press is refused too.
    other = await card_of(desk, STAFF2, number)
    [held] = await desk.press(STAFF2, other, "Petugas")
    assert "dipegang oleh Dedi" in held.text
    assert [label for label, _ in held.buttons] == [TEXTS.get("btn_staff_back", "id")]
    take = next(d for _, d in screen.buttons if d.startswith("fu:at:") and ":m:" in d)
    desk.emu.set_message_markup(
        STAFF2,
        held.message_id or 0,
        {"inline_keyboard": [[{"text": "x", "callback_data": take}]]},
    )
    assert await desk.press(STAFF2, held.message_id or 0, take) == []
    assert "hanya admin" in last_answer(desk)["text"]
    assert lead(desk, number)["assigned_to"] == STAFF

    # The admin gives it to Rina, by name.
    admin_card = await card_of(desk, ADMIN, number)
    [choices] = await desk.press(ADMIN, admin_card, "Petugas")
    assert any("Serahkan ke Rina" in label for label, _ in choices.buttons)
    [given] = await desk.press(ADMIN, choices, "Serahkan ke Rina")
    assert lead(desk, number)["assigned_to"] == STAFF2
    assert "Petugas:</b> Rina" in given.text
    assert "Bu Admin: diserahkan ke Rina" in given.text  # the config's name for the admin
    assert "petugas 91" not in given.text
    assert [(a, actor, d) for a, actor, d in audit_of(desk, number)] == [
        ("lead_assign", STAFF, {"from": None, "to": STAFF}),
        ("lead_assign", ADMIN, {"from": STAFF, "to": STAFF2}),
    ]
    [trail] = await desk.press(ADMIN, given, "Audit")
    assert "Jejak audit" in trail.text and "2 catatan" in trail.text
    assert trail.text.index("Bu Admin · petugas: Dedi → Rina") < trail.text.index(
        "Dedi · petugas: belum ada → Dedi"
    )  # newest first, everyone by name
    assert "petugas 91" not in trail.text
    names = stores_of(desk).staff_names.all()
    assert names[STAFF] == "Dedi" and names[STAFF2] == "Rina"
    assert CITIZEN not in names  # only staff names are kept


# -- the daily digest -----------------------------------------------------------------------------


async def test_the_daily_digest_tells_each_staff_member_privately(desk: BotHarness) -> None:
    stores = stores_of(desk)
    regs = stores.registrations
    today = clock.today()
    new, due, overdue, future = seed(stores, 4)
    for number in (new, due, overdue, future):
        regs.assign(number, STAFF, actor=ADMIN)
    for number in (due, overdue, future):
        regs.record_contact(number, "interested", actor=STAFF)
    regs.set_follow_up(due, today, actor=STAFF)
    regs.set_follow_up(overdue, today - timedelta(days=2), actor=STAFF)
    regs.set_follow_up(future, today + timedelta(days=5), actor=STAFF)
    for user in (STAFF, STAFF2):  # the admin has never opened a chat with the bot
        await desk.send(user, "/start")
    assert desk.app is not None and desk.app.job_queue is not None
    [job] = desk.app.job_queue.get_jobs_by_name(DIGEST_JOB)
    assert job.next_t is not None and job.next_t.astimezone(clock.zone()).hour == 8

    before = len(desk.emu.calls)
    await job.run(desk.app)
    sent = [c for c in desk.emu.calls[before:] if c.method == "sendMessage"]
    assert [(c.chat_id, c.ok) for c in sent] == [
        (STAFF, True)
    ]  # nothing due for the others: nothing sent
    text = sent[0].params["text"]
    assert "2 jatuh tempo hari ini atau terlambat (1 terlambat)" in text
    assert "1 pendaftar Anda belum pernah dihubungi" in text
    assert text.index(overdue) < text.index(due) < text.index(new) and future not in text
    assert "Belum ada petugasnya" not in text
    buttons = [b["callback_data"] for row in sent[0].params["reply_markup"]["inline_keyboard"]
               for b in row]  # fmt: skip
    assert buttons[-1] == "fu:q:m:0" and len(buttons) == 4

    # Leads nobody holds are everyone's business.
    seed(stores, 1)
    before = len(desk.emu.calls)
    await job.run(desk.app)
    sent = [c for c in desk.emu.calls[before:] if c.method == "sendMessage"]
    assert sorted((c.chat_id, c.ok) for c in sent) == [
        (STAFF, True),
        (STAFF2, True),
        (ADMIN, False),
    ]
    assert all("0 jatuh tempo, 1 belum dihubungi" in c.params["text"] for c in sent)
    # The admin who never started the bot is skipped (logged); the others got theirs.
    assert [c.chat_id for c in desk.emu.rejected] == [ADMIN]
    desk.emu.rejected.clear()


# -- citizens -------------------------------------------------------------------------------------


async def test_every_follow_up_button_and_command_is_refused_to_citizens(
    desk: BotHarness,
) -> None:
    [number] = seed(stores_of(desk), 1)
    seen: set[str] = set()
    card = await card_of(desk, ADMIN, number)
    replies = [card]
    for label in ("Catat kontak", "Jadwal", "Petugas"):
        [screen] = await desk.press(ADMIN, card, label)
        replies.append(screen)
        card = await card_of(desk, ADMIN, number)
    [outcomes] = await desk.press(ADMIN, card, "Catat kontak")
    [call_back] = await desk.press(ADMIN, outcomes, "Minta ditelepon ulang")
    [saved] = await desk.press(ADMIN, call_back, "Besok")
    [queue] = await desk.send(ADMIN, "/antrian semua")
    replies += [outcomes, call_back, saved, queue]
    for reply in replies:
        seen |= {d for _, d in reply.buttons if d.startswith("fu:")}
    kinds = {d.split(":")[1] for d in seen}
    assert kinds >= {"q", "o", "u", "k", "ko", "kd", "kt", "kn", "d", "ds", "dt", "a", "at"}, kinds

    [refusal] = await desk.send(CITIZEN, "/antrian")
    assert refusal.text == STAFF_ONLY
    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    for data in sorted(seen):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == [], data
        assert last_answer(desk) == {"text": STAFF_ONLY, "show_alert": True}, data
    assert "contacts" in lead(desk, number) and len(lead(desk, number)["contacts"]) == 1
    assert not stores_of(desk).staff_names.all().get(CITIZEN)
    [group] = await desk.send(STAFF, "/antrian", chat_id=-100_777, chat_type="supergroup")
    assert "chat pribadi" in group.text
