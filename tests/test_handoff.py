"""Hubungi petugas through the emulator: citizen -> staff group -> staff reply -> citizen ->
close, masking, references, restarts, private staff chats, refusals and failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Texts
from store import Stores
from tests.backends import Backend
from tests.emulator import BotAPIEmulator
from tests.emulator.factories import command_entities
from tests.harness import BotHarness, Reply
from tests.test_staff_bot import ADMIN, STAFF, STAFF_ONLY, seed, staff_config

CITIZEN, OTHER_CITIZEN = 5101, 5102
GROUP = -100_777_888
TEXTS = Texts.load()


async def started(emu: BotAPIEmulator, data_dir: Path, group: int | None) -> BotHarness:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if group is not None:
        emu.register_group(group)
    return await BotHarness(emu, staff_config(emu, data_dir, group=group)).start()


@pytest.fixture
async def desk(emu: BotAPIEmulator, data_dir: Path) -> AsyncIterator[BotHarness]:
    """The bot with a staff group."""
    harness = await started(emu, data_dir, GROUP)
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def stores_of(bot: BotHarness) -> Stores:
    assert bot.app is not None
    stores: Stores = bot.app.bot_data["services"].stores
    return stores


def in_chat(bot: BotHarness, chat_id: int, since: int) -> list[Any]:
    """The bot's successful calls to ``chat_id`` after call number ``since``."""
    return [c for c in bot.emu.calls[since:] if c.chat_id == chat_id and c.ok]


def group_message(bot: BotHarness, since: int) -> dict[str, Any]:
    """The newest message the bot sent to the staff group after call ``since``."""
    [call] = [c for c in in_chat(bot, GROUP, since) if c.method == "sendMessage"][-1:]
    message = bot.emu.message(GROUP, call.result["message_id"])
    assert message is not None
    return message


async def staff_reply(
    bot: BotHarness, target: dict[str, Any], text: str, *, user: int = STAFF
) -> list[Reply]:
    """A staff member replies, in the chat of ``target``, to that bot message."""
    chat = target["chat"]
    if "inline_keyboard" not in target.get("reply_markup", {}):
        target = {k: v for k, v in target.items() if k != "reply_markup"}
    fields: dict[str, Any] = {"text": text, "reply_to_message": target}
    if entities := command_entities(text):
        fields["entities"] = entities
    if chat["type"] == "private":
        return await bot.send_message(user, fields)
    return await bot.send_message(user, fields, chat_id=chat["id"], chat_type=chat["type"])


async def press_in(bot: BotHarness, user: int, chat: int, message_id: int, data: str) -> None:
    """``user`` presses a button of a bot message in ``chat`` (a group, say)."""
    update = bot.emu.press(user, message_id, data, chat_id=chat)
    await bot.processed(update["update_id"])
    assert bot.emu.callback_answered(update["callback_query"]["id"]), data


async def open_ticket(bot: BotHarness, citizen: int = CITIZEN) -> Reply:
    [welcome] = await bot.send(citizen, "/start")
    [opened] = await bot.press(citizen, welcome, "Hubungi petugas")
    assert "Silakan tulis pesan Anda" in opened.text
    return opened


async def test_round_trip_through_the_staff_group(desk: BotHarness) -> None:
    opened = await open_ticket(desk)
    since = len(desk.emu.calls)
    replies = await desk.send(
        CITIZEN, "Halo, NIK saya 3673014101990001, hp 0812-3456-7890. Kapan tes?"
    )
    _deleted, removed, ack = replies
    assert _deleted.method == "deleteMessage"
    assert "berisi nomor NIK" in removed.text, "the NIK left the citizen's chat too"
    assert "sudah diteruskan ke petugas" in ack.text and "disamarkan" in ack.text
    forwarded = group_message(desk, since)
    text = forwarded["text"]
    assert "Kapan tes?" in text and "belum mendaftar" in text
    assert (
        "3673014101990001" not in text and "3456-7890" not in text and "3673********0001" in text
    )
    assert "Warga" not in text  # no Telegram name either
    ticket = forwarded["text"].split("tiket ")[1].split(" ")[0]
    assert opened.text.count(ticket) == 1  # the citizen's reference is the ticket number
    assert {d for _, d in desk.emu.buttons(forwarded)} == {f"ho:r:{ticket}", f"ho:x:{ticket}"}

    since = len(desk.emu.calls)
    [delivered] = await staff_reply(desk, forwarded, "Tes bulan depan, <pantau> info resmi & web")
    assert "Terkirim ke warga" in delivered.text
    [answer] = [c for c in in_chat(desk, CITIZEN, since) if c.method == "sendMessage"]
    assert "Balasan petugas" in answer.params["text"]
    assert "&lt;pantau&gt; info resmi &amp; web" in answer.params["text"]

    since = len(desk.emu.calls)
    [ack] = await desk.send(CITIZEN, "Terima kasih, saya tunggu")
    assert "Terima kasih, saya tunggu" in group_message(desk, since)["text"]

    second = group_message(desk, since)
    since = len(desk.emu.calls)
    await press_in(desk, STAFF, GROUP, second["message_id"], f"ho:x:{ticket}")
    notice = group_message(desk, since)["text"]
    assert f"Tiket {ticket}" in notice and "ditutup oleh petugas" in notice
    assert "reply_markup" not in (desk.emu.message(GROUP, second["message_id"]) or {})
    assert "Percakapan dengan petugas sudah ditutup" in desk.emu.last_message(CITIZEN)["text"]

    since = len(desk.emu.calls)
    [faq_answer] = await desk.send(CITIZEN, "syarat umur")
    assert "Sumber" in faq_answer.text or "Maksud Anda" in faq_answer.text
    assert not in_chat(desk, GROUP, since)

    actions = [a["action"] for a in stores_of(desk).audit.list(ticket)]
    assert actions == ["handoff_close", "handoff_reply", "handoff_open"]
    assert stores_of(desk).audit.list(ticket)[0]["actor"] == STAFF


async def test_reply_button_prompt_and_refusals(desk: BotHarness) -> None:
    await open_ticket(desk)
    since = len(desk.emu.calls)
    await desk.send(CITIZEN, "apakah ada pelatihan bahasa?")
    forwarded = group_message(desk, since)
    ticket = forwarded["text"].split("tiket ")[1].split(" ")[0]

    since = len(desk.emu.calls)
    await press_in(desk, STAFF, GROUP, forwarded["message_id"], f"ho:r:{ticket}")
    prompt = group_message(desk, since)
    assert ticket in prompt["text"] and prompt["reply_markup"]["force_reply"] is True

    [refused] = await staff_reply(desk, prompt, "saya bukan petugas", user=OTHER_CITIZEN)
    assert refused.text == TEXTS.get("handoff_staff_only_reply", "id")
    since = len(desk.emu.calls)
    [delivered] = await staff_reply(desk, prompt, "Ada, mulai bulan depan.")
    assert "Terkirim" in delivered.text
    assert "mulai bulan depan" in desk.emu.last_message(CITIZEN)["text"]

    # Staff chatter in the group is not for the bot; a citizen can't press staff buttons.
    assert await desk.send(STAFF, "rapat jam 2 ya", chat_id=GROUP, chat_type="supergroup") == []
    [welcome] = await desk.send(CITIZEN, "/menu")
    assert welcome.message_id is not None
    for data in (f"ho:r:{ticket}", f"ho:x:{ticket}"):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == []
        answer = desk.emu.calls_for("answerCallbackQuery")[-1].params
        assert (answer["text"], answer["show_alert"]) == (STAFF_ONLY, True)
    [refusal] = await desk.send(CITIZEN, "/tutup")
    assert refusal.text == STAFF_ONLY

    # /tutup as a reply closes it; a later answer to the same ticket is not sent.
    [closed] = await staff_reply(desk, forwarded, "/tutup")
    assert "ditutup oleh petugas" in closed.text
    [late] = await staff_reply(desk, prompt, "satu lagi")
    assert "sudah ditutup" in late.text
    assert "satu lagi" not in desk.emu.last_message(CITIZEN)["text"]
    await press_in(desk, STAFF, GROUP, forwarded["message_id"], f"ho:r:{ticket}")
    answer = desk.emu.calls_for("answerCallbackQuery")[-1].params
    assert answer["text"] == TEXTS.get("handoff_already_closed", "id")


async def test_registered_citizen_reference_survives_a_restart(desk: BotHarness) -> None:
    stores = stores_of(desk)
    [number] = seed(stores, 1)
    registration = stores.registrations.get(number)
    assert registration is not None
    citizen = registration["user_id"]
    opened = await open_ticket(desk, citizen)
    assert number in opened.text
    [again] = await desk.send(citizen, "/petugas")
    assert "masih terbuka" in again.text and number in again.text

    await desk.restart()
    since = len(desk.emu.calls)
    [ack] = await desk.send(citizen, "masih menunggu kabar")
    assert "diteruskan" in ack.text
    forwarded = group_message(desk, since)
    assert number in forwarded["text"] and registration["nik"] not in forwarded["text"]
    assert registration["full_name"] not in forwarded["text"]
    [delivered] = await staff_reply(desk, forwarded, "Sabar ya")
    assert "Terkirim" in delivered.text


async def test_media_is_not_relayed(desk: BotHarness) -> None:
    await open_ticket(desk)
    since = len(desk.emu.calls)
    photo = {"photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]}
    [notice] = await desk.send_message(CITIZEN, photo)
    assert notice.text == TEXTS.get("handoff_text_only", "id")
    assert not in_chat(desk, GROUP, since)


async def test_blocked_citizen_closes_the_ticket(desk: BotHarness) -> None:
    await open_ticket(desk)
    since = len(desk.emu.calls)
    await desk.send(CITIZEN, "tolong hubungi saya")
    forwarded = group_message(desk, since)
    desk.emu.block_user(CITIZEN)
    [notice] = await staff_reply(desk, forwarded, "Baik")
    assert "tidak sampai" in notice.text
    desk.emu.unblock_user(CITIZEN)
    [faq_answer] = await desk.send(CITIZEN, "syarat umur")
    assert "diteruskan" not in faq_answer.text


async def test_without_a_group_staff_get_it_privately_and_the_citizen_ends_it(
    emu: BotAPIEmulator, data_dir: Path
) -> None:
    bot = await started(emu, data_dir, None)
    try:
        for member in (STAFF, ADMIN):  # a bot can only write to people who opened it
            await bot.send(member, "/start")
        opened = await open_ticket(bot)
        since = len(emu.calls)
        await bot.send(CITIZEN, "halo petugas")
        [to_staff] = [c for c in in_chat(bot, STAFF, since) if c.method == "sendMessage"]
        forwarded = emu.message(STAFF, to_staff.result["message_id"])
        assert forwarded is not None and "halo petugas" in forwarded["text"]
        assert [c for c in in_chat(bot, ADMIN, since) if c.method == "sendMessage"]

        [delivered] = await staff_reply(bot, forwarded, "Halo, ada yang bisa dibantu?")
        assert "Terkirim" in delivered.text
        reply = emu.last_message(CITIZEN)
        assert "ada yang bisa dibantu" in reply["text"]

        since = len(emu.calls)
        replies = await bot.press(CITIZEN, reply["message_id"], "ho:end")
        assert [r.method for r in replies] == ["editMessageReplyMarkup", "sendMessage"]
        assert "diakhiri" in replies[-1].text
        assert "mengakhiri percakapan" in emu.last_message(STAFF)["text"]
        [dropped] = await bot.press(CITIZEN, opened, "Akhiri")  # an older end button
        assert dropped.method == "editMessageReplyMarkup"
        answer = emu.calls_for("answerCallbackQuery")[-1].params
        assert answer["text"] == TEXTS.get("handoff_nothing_open", "id")
        [unknown] = await bot.send(STAFF, "/tutup T-XXXXX")
        assert "tidak ditemukan" in unknown.text
        [usage] = await bot.send(STAFF, "/tutup")
        assert "reply" in usage.text
    finally:
        await bot.stop()
    assert emu.rejected == []


async def test_the_configured_office_is_shown_when_no_staff_can_answer(
    emu: BotAPIEmulator, tmp_path: Path
) -> None:
    from dataclasses import replace

    from bot.config import OfficeConfig
    from tests.harness import make_config

    office = OfficeConfig(address="Jl. Contoh No. 1, Kota Serang", hours="Senin–Jumat 08.00–16.00")
    config = replace(make_config(emu, tmp_path / "data"), office=office)
    bot = await BotHarness(emu, config).start()
    try:
        [contact] = await bot.send(CITIZEN, "/petugas")
    finally:
        await bot.stop()
    assert "📍 Alamat: Jl. Contoh No. 1, Kota Serang" in contact.text
    assert "Senin–Jumat 08.00–16.00" in contact.text and "Telepon" not in contact.text


async def test_without_any_staff_the_contact_details_are_shown(bot: BotHarness) -> None:
    [welcome] = await bot.send(CITIZEN, "/start")
    [contact] = await bot.press(CITIZEN, welcome, "Hubungi petugas")
    assert contact.text.startswith("☎️ <b>Hubungi petugas</b>")
    assert "belum diisi" in contact.text, "an office block not filled in is said so, not invented"
    [command] = await bot.send(CITIZEN, "/petugas")
    assert command.text == contact.text
    [faq_answer] = await bot.send(CITIZEN, "syarat umur")
    assert "Sumber" in faq_answer.text or "Maksud Anda" in faq_answer.text


async def test_hapusdata_forgets_the_citizens_tickets(desk: BotHarness) -> None:
    await open_ticket(desk)
    tickets = stores_of(desk).database("handoff").table("tickets").all()
    assert [t["user_id"] for t in tickets] == [CITIZEN]
    [confirm] = await desk.send(CITIZEN, "/hapusdata")
    await desk.press(CITIZEN, confirm, "Hapus")
    assert stores_of(desk).database("handoff").table("tickets").all() == []


async def test_a_flow_started_with_a_ticket_open_keeps_its_answers(desk: BotHarness) -> None:
    from tests.test_registration import NIK_TYPED, text_of, to_nik_step

    await open_ticket(desk)
    since = len(desk.emu.calls)
    await to_nik_step(desk, CITIZEN)  # the name went to the registration, not to the staff
    [*_, phone_prompt] = await desk.send(CITIZEN, NIK_TYPED)
    assert text_of("reg_ask_phone") in phone_prompt.text
    assert len(desk.emu.calls_for("deleteMessage")) == 1, "the NIK stays in the chat"
    assert not in_chat(desk, GROUP, since), "an answer of the flow reached the staff"
    await desk.send(CITIZEN, "/batal")
    since = len(desk.emu.calls)
    [ack] = await desk.send(CITIZEN, "Kapan tes bahasa Korea?")
    assert "sudah diteruskan ke petugas" in ack.text, "the ticket takes messages again"
    assert "Kapan tes bahasa Korea?" in group_message(desk, since)["text"]


async def test_contacting_staff_ends_a_flow_in_progress(desk: BotHarness) -> None:
    from tests.test_registration import to_nik_step

    await to_nik_step(desk, CITIZEN)
    await open_ticket(desk)
    since = len(desk.emu.calls)
    [ack] = await desk.send(CITIZEN, "Saya bingung nomor NIK yang mana")
    assert "sudah diteruskan ke petugas" in ack.text
    assert "Saya bingung" in group_message(desk, since)["text"]
    assert desk.app is not None
    assert desk.app.user_data[CITIZEN]["flow"]["name"] == "handoff", "the registration ended"


def test_retention_forgets_tickets_closed_long_ago(store_backend: Backend) -> None:
    from datetime import UTC, datetime, timedelta

    from store.handoff import Tickets

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with store_backend.open() as stores:
        tickets = Tickets(stores.database("handoff"), clock=lambda: now[0])
        old, _ = tickets.open(CITIZEN, CITIZEN, "SRG-2026-000001", "id")
        tickets.link(GROUP, 10, old["id"])
        tickets.close(old["id"], actor=STAFF)
        still_open, _ = tickets.open(OTHER_CITIZEN, OTHER_CITIZEN, None, "id")
        now[0] += timedelta(days=400)
        recent, _ = tickets.open(CITIZEN, CITIZEN, "SRG-2026-000001", "id")
        tickets.close(recent["id"], actor=STAFF)

        assert tickets.purge(365) == 1
        assert tickets.get(old["id"]) is None and tickets.linked(GROUP, 10) is None
        assert tickets.get(still_open["id"]) is not None, "an open conversation stays"
        assert tickets.get(recent["id"]) is not None
