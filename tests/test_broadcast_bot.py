"""Announcements through the emulator: compose, preview, send, 429 mid-run, blocked citizens,
a restart mid-run, schedules that fire after a restart, cancelling, the unsubscribe button,
non-staff refusals, citizens answered during a broadcast; and the rate limiter's two lanes."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.config import BroadcastConfig
from bot.i18n import Texts
from bot.ratelimit import BULK, Lane, PriorityRateLimiter
from store import Database, Stores
from store.clock import iso
from tests.emulator import BotAPIEmulator
from tests.emulator.server import Call
from tests.harness import BotHarness, Reply, make_config

STAFF = 900
CITIZEN = 6500
TEXTS = Texts.load()
FAST = BroadcastConfig(
    rate_per_second=30, per_chat_interval_seconds=1.0, max_retries=2, progress_interval_seconds=1
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
async def desk(emu: BotAPIEmulator, data_dir: Path) -> AsyncIterator[BotHarness]:
    """The bot with staff member 900 and a fast broadcast pace."""
    config = replace(make_config(emu, data_dir, BOT_STAFF_IDS=str(STAFF)), broadcast=FAST)
    harness = BotHarness(emu, config)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def stores(bot: BotHarness) -> Stores:
    assert bot.app is not None
    return bot.app.bot_data["services"].stores


async def subscribe(bot: BotHarness, count: int, first: int = 7000) -> list[int]:
    """``count`` citizens who subscribed with /langganan."""
    ids = list(range(first, first + count))
    await asyncio.gather(*(bot.send(user, "/langganan") for user in ids))
    return ids


async def compose(bot: BotHarness, text: str, audience: str = "Semua pelanggan") -> list[Reply]:
    """/pengumuman, the text, an audience: returns [preview, confirmation]."""
    [prompt] = await bot.send(STAFF, "/pengumuman")
    assert prompt.text == TEXTS.get("bc_compose_prompt", "id")
    [audiences] = await bot.send(STAFF, text)
    assert audiences.text == TEXTS.get("bc_audience_prompt", "id")
    return await bot.press(STAFF, audiences, audience)


def is_announcement(marker: str) -> Callable[[Call], bool]:
    def match(call: Call) -> bool:
        text = call.params.get("text") or call.params.get("caption") or ""
        return call.ok and call.method in ("sendMessage", "sendPhoto") and marker in text

    return match


def received(emu: BotAPIEmulator, marker: str, chats: list[int]) -> Counter[int]:
    """How many copies of the announcement each chat received."""
    match = is_announcement(marker)
    counts = Counter(c.chat_id for c in emu.calls if match(c) and c.chat_id in chats)
    return Counter({chat: counts[chat] for chat in chats})


async def wait_for_report(emu: BotAPIEmulator, since: int, timeout: float = 20) -> Call:
    return await emu.wait_for_call(
        lambda c: (
            c.method == "sendMessage" and c.chat_id == STAFF and "Durasi" in c.params["text"]
        ),
        timeout=timeout,
        since=since,
    )


async def wait_delivered(emu: BotAPIEmulator, marker: str, count: int, since: int) -> None:
    match = is_announcement(marker)
    for _ in range(count):
        call = await emu.wait_for_call(lambda c: match(c) and c.chat_id != STAFF, since=since)
        since = emu.calls.index(call) + 1


def is_faq_reply(reply: Reply) -> bool:
    """An answer of the FAQ, or its "did you mean" suggestions."""
    return "Sumber" in reply.text or reply.text.startswith(TEXTS.get("suggest", "id"))


def outbox_doc(bot: BotHarness, broadcast_id: str = "1") -> dict[str, Any]:
    assert bot.app is not None
    doc = bot.app.bot_data["broadcaster"].outbox.get(broadcast_id)
    assert doc is not None
    return doc


async def test_compose_preview_send_now_and_history(desk: BotHarness, emu: BotAPIEmulator) -> None:
    citizens = await subscribe(desk, 40)
    preview, confirm = await compose(desk, "<b>Pelatihan EPS</b> dimulai 1 Des di Aula Setda")

    assert preview.text == "<b>Pelatihan EPS</b> dimulai 1 Des di Aula Setda"
    assert preview.buttons == [("🔕 Berhenti berlangganan", "sub:off")]
    assert "40 chat" in confirm.text and "semua pelanggan" in confirm.text
    assert all(count == 0 for count in received(emu, "Pelatihan EPS", citizens).values())

    since = len(emu.calls)
    [started, progress_message] = await desk.press(STAFF, confirm, "Kirim sekarang")
    assert started.text.startswith("🚀")
    assert "sedang dikirim" in progress_message.text
    report = await wait_for_report(emu, since)

    copies = received(emu, "Pelatihan EPS", citizens)
    assert set(copies.values()) == {1}, "every subscriber exactly once"
    sample = emu.last_message(citizens[0])
    assert emu.buttons(sample) == [("🔕 Berhenti berlangganan", "sub:off")]
    edits = [c for c in emu.calls[since:] if c.method == "editMessageText" and c.chat_id == STAFF]
    assert any("Sisa:" in c.params["text"] for c in edits), "a live progress message"
    assert "Terkirim: 40 dari 40" in report.params["text"]
    doc = outbox_doc(desk)
    assert doc["state"] == "done" and doc["figures"]["sent"] == 40
    actions = [entry["action"] for entry in stores(desk).audit.list()]
    assert "broadcast_sent" in actions

    [history] = await desk.send(STAFF, "/siaran")
    assert "#1" in history.text and "terkirim 40/40" in history.text
    assert "Pelatihan EPS dimulai" in history.text


async def test_the_unsubscribe_button_under_an_announcement(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    citizens = await subscribe(desk, 3)
    _, confirm = await compose(desk, "Pendaftaran tes dibuka")
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    await wait_for_report(emu, since)

    announcement = emu.last_message(citizens[1])
    [stopped] = await desk.press(citizens[1], announcement["message_id"], "sub:off")
    assert stopped.text == TEXTS.get("subscribe_stopped", "id")
    assert emu.message(citizens[1], announcement["message_id"])["text"] == "Pendaftaran tes dibuka"  # type: ignore[index]
    assert stores(desk).subscribers.active_chat_ids() == [citizens[0], citizens[2]]


async def test_429_mid_run_waits_and_loses_nobody(desk: BotHarness, emu: BotAPIEmulator) -> None:
    citizens = await subscribe(desk, 30)
    _, confirm = await compose(desk, "Jadwal tes CBT")
    emu.inject_fault(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=citizens[12],
    )
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    await wait_for_report(emu, since)

    assert set(received(emu, "Jadwal tes CBT", citizens).values()) == {1}
    limited = next(c for c in emu.calls[since:] if not c.ok and c.chat_id == citizens[12])
    sent = [c for c in emu.calls[since:] if is_announcement("Jadwal tes CBT")(c)]
    during_pause = [c for c in sent if limited.at < c.at < limited.at + 0.95]
    assert len(during_pause) <= 1, "only a send already in flight may end during the pause"
    retried = next(c for c in sent if c.chat_id == citizens[12])
    assert retried.at >= limited.at + 0.95
    assert outbox_doc(desk)["figures"]["rate_limited"] == 1


async def test_blocked_citizens_are_marked_inactive_and_not_retried(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    citizens = await subscribe(desk, 10)
    blocked = citizens[3], citizens[7]
    for chat in blocked:
        emu.block_user(chat)
    _, confirm = await compose(desk, "Kabar keberangkatan")
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    report = await wait_for_report(emu, since)

    attempts = Counter(c.chat_id for c in emu.calls[since:] if c.method == "sendMessage")
    assert all(attempts[chat] == 1 for chat in blocked)
    assert "Memblokir bot (dinonaktifkan): 2" in report.params["text"]
    assert sorted(stores(desk).subscribers.active_chat_ids()) == sorted(
        set(citizens) - set(blocked)
    )
    figures = outbox_doc(desk)["figures"]
    assert figures["sent"] == 8 and figures["blocked"] == 2


async def test_restart_mid_run_sends_everyone_exactly_once(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    citizens = await subscribe(desk, 45)
    _, confirm = await compose(desk, "Pengumuman kelulusan")
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    await wait_delivered(emu, "Pengumuman kelulusan", 10, since)

    await desk.restart()
    assert outbox_doc(desk)["state"] == "running"
    await wait_for_report(emu, since)

    assert set(received(emu, "Pengumuman kelulusan", citizens).values()) == {1}
    figures = outbox_doc(desk)["figures"]
    assert figures["sent"] == 45 and figures["unknown"] == 0


async def test_schedule_survives_a_restart_and_fires(
    desk: BotHarness, emu: BotAPIEmulator, data_dir: Path
) -> None:
    citizens = await subscribe(desk, 3)
    _, confirm = await compose(desk, "Sosialisasi GKS")
    [prompt] = await desk.press(STAFF, confirm, "Jadwalkan")
    assert "WIB" in prompt.text

    [bad] = await desk.send(STAFF, "besok pagi")
    assert "tidak dikenali" in bad.text
    [past] = await desk.send(STAFF, "01-01-2020 09:00")
    assert "sudah lewat" in past.text
    tomorrow = (datetime.now(UTC) + timedelta(hours=31)).strftime("%d-%m-%Y %H:%M")
    [scheduled] = await desk.send(STAFF, tomorrow)
    assert "dijadwalkan" in scheduled.text and "#1" in scheduled.text
    [listing] = await desk.send(STAFF, "/siaran")
    assert "🕘 <b>#1</b> dijadwalkan" in listing.text
    assert listing.button("Batalkan #1") == "bc:c:1"

    # The bot is down when the time comes; it fires as soon as the bot is back.
    await desk.stop()
    database = Database(data_dir, "broadcasts")
    doc = database.table("outbox").get("1")
    assert doc is not None and doc["state"] == "scheduled"
    doc["scheduled_for"] = iso(datetime.now(UTC) - timedelta(minutes=5))
    database.table("outbox").put("1", doc)
    database.close()
    since = len(emu.calls)
    await desk.start()
    await wait_for_report(emu, since)
    assert set(received(emu, "Sosialisasi GKS", citizens).values()) == {1}


async def test_cancel_a_scheduled_and_a_running_announcement(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    citizens = await subscribe(desk, 60)
    _, confirm = await compose(desk, "Pengumuman A")
    await desk.press(STAFF, confirm, "Jadwalkan")
    await desk.send(STAFF, (datetime.now(UTC) + timedelta(days=2)).strftime("%d-%m-%Y %H:%M"))
    [listing] = await desk.send(STAFF, "/siaran")
    [ask] = await desk.press(STAFF, listing, "Batalkan #1")
    [cancelled] = await desk.press(STAFF, ask, "Ya")
    assert cancelled.text == TEXTS.render("bc_cancelled", "id", id="1")
    assert outbox_doc(desk, "1")["state"] == "cancelled"

    _, confirm = await compose(desk, "Pengumuman B")
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    await wait_delivered(emu, "Pengumuman B", 5, since)
    progress = next(
        c
        for c in emu.calls[since:]
        if c.method == "sendMessage" and "sedang dikirim" in c.params["text"]
    )
    replies = await desk.press(STAFF, progress.result["message_id"], "bc:c:2")
    ask = next(r for r in replies if r.method == "sendMessage")  # progress edits may interleave
    await desk.press(STAFF, ask, "Ya")
    report = await wait_for_report(emu, since)

    assert "dihentikan" in report.params["text"]
    figures = outbox_doc(desk, "2")["figures"]
    assert figures["skipped"] > 0 and figures["sent"] + figures["skipped"] == 60
    assert max(received(emu, "Pengumuman B", citizens).values()) == 1
    assert "Pengumuman A" not in str([c.params for c in emu.calls if c.chat_id in citizens])
    actions = [entry["action"] for entry in stores(desk).audit.list()]
    assert actions.count("broadcast_cancelled") == 2


async def test_invalid_content_is_refused_before_anything_is_sent(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    await desk.send(STAFF, "/pengumuman")
    [bad] = await desk.send(STAFF, "<b>Pelatihan dimulai")
    assert "unclosed <b>" in bad.text.replace("&lt;", "<").replace("&gt;", ">")
    [bare] = await desk.send(STAFF, "<b>Nilai</b> < 80 tidak lulus")
    assert "HTML" in bare.text
    [long] = await desk.send(STAFF, "x" * 4097)
    assert "4097" in long.text and "4096" in long.text
    [sticker] = await desk.send_message(
        STAFF,
        {
            "sticker": {
                "file_id": "S",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        },
    )
    assert sticker.text == TEXTS.get("bc_wrong_kind", "id")

    photo = emu.add_file(PNG, "jadwal.png", "image/png")
    size = {
        "file_id": photo.file_id,
        "file_unique_id": photo.file_unique_id,
        "width": 8,
        "height": 8,
    }
    [audiences] = await desk.send_message(
        STAFF, {"photo": [size], "caption": "<i>Jadwal</i> pelatihan"}
    )
    assert audiences.text == TEXTS.get("bc_audience_prompt", "id")
    await subscribe(desk, 1)
    preview, _ = await desk.press(STAFF, audiences, "Semua pelanggan")
    assert preview.method == "sendPhoto" and preview.text == "<i>Jadwal</i> pelatihan"

    [cancelled] = await desk.send(STAFF, "/batal")
    assert cancelled.text == TEXTS.get("bc_draft_cancelled", "id")
    [faq] = await desk.send(STAFF, "syarat umur berapa")  # free text is a question again
    assert is_faq_reply(faq)


async def test_plain_text_is_escaped_not_refused(desk: BotHarness) -> None:
    await subscribe(desk, 1)
    preview, confirm = await compose(desk, "Nilai < 80 & daftar: https://x.id/?a=1&b=2")
    assert preview.text == "Nilai &lt; 80 &amp; daftar: https://x.id/?a=1&amp;b=2"
    assert "1 chat" in confirm.text


async def test_audience_by_kecamatan(desk: BotHarness, emu: BotAPIEmulator) -> None:
    await subscribe(desk, 2, first=8000)  # subscribers who did not register
    await asyncio.gather(desk.send(8100, "/start"), desk.send(8101, "/start"))
    base = {"full_name": "Siti", "phone": "+6281234567890", "programmes": ["korea_work"]}
    stores(desk).registrations.save(
        8100, 8100, {**base, "nik": "3673014101990001", "kecamatan": "serang"}, actor=8100
    )
    stores(desk).registrations.save(
        8101, 8101, {**base, "nik": "3673014101990002", "kecamatan": "kasemen"}, actor=8101
    )
    await desk.send(STAFF, "/pengumuman")
    [audiences] = await desk.send(STAFF, "Pelatihan khusus Kecamatan Serang")
    [kecamatan] = await desk.press(STAFF, audiences, "kecamatan")
    assert kecamatan.method == "editMessageText"
    [_, confirm] = await desk.press(STAFF, kecamatan, "Serang")
    assert "1 chat" in confirm.text and "kecamatan: Serang" in confirm.text
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    await wait_for_report(emu, since)
    assert received(emu, "Kecamatan Serang", [8000, 8001, 8100, 8101]) == Counter(
        {8000: 0, 8001: 0, 8100: 1, 8101: 0}
    )


async def test_non_staff_are_refused(desk: BotHarness, emu: BotAPIEmulator) -> None:
    [refused] = await desk.send(CITIZEN, "/pengumuman")
    assert refused.text == TEXTS.get("bc_staff_only", "id")
    [refused] = await desk.send(CITIZEN, "/siaran")
    assert refused.text == TEXTS.get("bc_staff_only", "id")
    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    emu.set_message_markup(
        CITIZEN,
        welcome.message_id,
        {"inline_keyboard": [[{"text": "Kirim", "callback_data": "bc:go"}]]},
    )
    update = emu.press(CITIZEN, welcome.message_id, "bc:go")
    await desk.processed(update["update_id"])
    answered = emu.callback_answer(update["callback_query"]["id"])
    assert answered == {"text": TEXTS.get("staff_only", "id"), "show_alert": True}


async def test_citizens_are_answered_promptly_during_a_broadcast(
    desk: BotHarness, emu: BotAPIEmulator
) -> None:
    await subscribe(desk, 45)
    _, confirm = await compose(desk, "Pengumuman panjang")
    since = len(emu.calls)
    await desk.press(STAFF, confirm, "Kirim sekarang")
    # Well into the broadcast: the budget of the last second is all announcements.
    await wait_delivered(emu, "Pengumuman panjang", 20, since)
    latencies = []
    for citizen in range(CITIZEN, CITIZEN + 4):
        started = time.monotonic()
        [answer] = await desk.send(citizen, "syarat umur berapa")
        latencies.append(time.monotonic() - started)
        assert is_faq_reply(answer)
    assert outbox_doc(desk, "1")["state"] == "running", "the answers came during the broadcast"
    assert max(latencies) < 0.5
    await wait_for_report(emu, since)


# -- the rate limiter alone -------------------------------------------------------------------


async def test_limiter_serves_interactive_before_bulk_under_one_budget() -> None:
    limiter = PriorityRateLimiter(overall_per_second=5, per_chat_interval=0.3)
    granted: list[tuple[str, float]] = []

    async def call(label: str) -> bool:
        granted.append((label, time.monotonic()))
        return True

    async def request(label: str, chat: int, bulk: bool) -> Any:
        return await limiter.process_request(
            call, (label,), {}, "sendMessage", {"chat_id": chat}, BULK if bulk else None
        )

    started = time.monotonic()
    bulk = [asyncio.create_task(request(f"b{i}", 100 + i, True)) for i in range(8)]
    await asyncio.sleep(0.05)  # eight announcements queued; then three citizens need a reply
    interactive = [asyncio.create_task(request(f"i{i}", 200 + i, False)) for i in range(3)]
    await asyncio.gather(*bulk, *interactive)
    elapsed = time.monotonic() - started
    await limiter.shutdown()

    order = [label for label, _ in granted]
    assert order == ["b0", "i0", "i1", "i2", *(f"b{i}" for i in range(1, 8))]
    replies = [at for label, at in granted if label.startswith("i")]
    assert max(replies) - started < 0.1, "citizens jump the bulk queue"
    bulk_times = [at for label, at in granted if label.startswith("b")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(bulk_times)]
    assert min(gaps) >= 0.19, "bulk is spaced evenly, never a burst"
    assert 1.8 <= elapsed < 2.6  # 11 requests under 5 a second
    assert limiter.granted == {Lane.BULK: 8, Lane.INTERACTIVE: 3}


async def test_limiter_per_chat_interval_and_retry_after() -> None:
    limiter = PriorityRateLimiter(overall_per_second=30, per_chat_interval=0.3, max_retries=1)
    times: dict[str, float] = {}
    failures = {"i": 1}

    async def call(label: str) -> bool:
        if failures.get(label):
            failures[label] -= 1
            raise RetryAfter(timedelta(seconds=0.2))
        times[label] = time.monotonic()
        return True

    async def request(label: str, bulk: bool) -> Any:
        return await limiter.process_request(
            call, (label,), {}, "sendMessage", {"chat_id": 42}, BULK if bulk else None
        )

    started = time.monotonic()
    await request("b1", True)
    await request("b2", True)  # the same chat: waits the interval
    await request("i", False)  # a reply after a bulk message waits too; its 429 is retried
    with pytest.raises(RetryAfter):  # a bulk 429 goes back to the broadcast core
        failures["b3"] = 1
        await request("b3", True)
    await limiter.shutdown()

    assert times["b2"] - times["b1"] >= 0.29
    assert times["i"] - times["b2"] >= 0.29 + 0.2
    assert limiter.rate_limited == 2
    assert time.monotonic() - started < 2
