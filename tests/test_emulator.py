"""The Bot API emulator, driven over plain HTTP and through python-telegram-bot 22.8."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import CommandHandler

from tests.emulator import (
    BotAPIEmulator,
    application_builder,
    check_telegram_html,
    emulator_fixture,  # noqa: F401  (provides the `emulator` fixture)
    local_request,
    visible_length,
)
from tests.emulator.html_check import parse_telegram_html
from tests.emulator.server import NOT_MODIFIED, QUERY_INVALID, UNSUPPORTED

USER = 4242
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def ptb(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        emulator.token,
        base_url=f"{emulator.url}/bot",
        base_file_url=f"{emulator.url}/file/bot",
        request=local_request(),
        get_updates_request=local_request(),
    ) as running:
        yield running


@pytest.fixture
def chat(emulator: BotAPIEmulator) -> int:
    """A private chat the user opened by saying hello."""
    emulator.send_text(USER, "halo")
    return USER


async def api(
    http: aiohttp.ClientSession, emu: BotAPIEmulator, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST a JSON request the way any HTTP client would."""
    async with http.post(f"{emu.url}/bot{emu.token}/{method}", json=params) as response:
        return response.status, await response.json()


def keyboard(*data: str) -> dict[str, Any]:
    return {
        "inline_keyboard": [[{"text": f"b{i}", "callback_data": d} for i, d in enumerate(data)]]
    }


# == spec validation =======================================================================


async def test_get_me_over_http_and_through_ptb(emulator, http, ptb):
    status, body = await api(http, emulator, "getMe")
    assert status == 200
    assert body["result"]["username"] == "serang_test_bot"
    me = await ptb.get_me()
    assert (me.id, me.is_bot, me.first_name) == (emulator.bot_user["id"], True, "Serang Bot")
    assert emulator.rejected == []


async def test_send_message_ok_over_http(emulator, http, chat):
    status, body = await api(http, emulator, "sendMessage", chat_id=chat, text="Selamat datang")
    assert status == 200
    assert body["result"]["text"] == "Selamat datang"
    assert body["result"]["chat"]["id"] == chat
    assert emulator.last_message(chat)["text"] == "Selamat datang"
    assert emulator.calls_for("sendMessage")[0].chat_id == chat


async def test_unknown_method_is_404(emulator, http):
    status, body = await api(http, emulator, "sendTelepathy", chat_id=1)
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert [c.method for c in emulator.rejected] == ["sendTelepathy"]


async def test_method_names_ignore_case_like_telegram(emulator, http):
    status, _ = await api(http, emulator, "getme")
    assert status == 200
    assert emulator.calls[-1].method == "getMe"


async def test_unknown_parameter_is_400(emulator, http, chat):
    status, body = await api(http, emulator, "sendMessage", chat_id=chat, text="x", colour="red")
    assert status == 400
    assert body["description"] == 'Bad Request: unknown parameter "colour" for method sendMessage'
    assert len(emulator.rejected) == 1


async def test_missing_chat_id_is_400(emulator, http):
    status, body = await api(http, emulator, "sendMessage", text="x")
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")


async def test_missing_text_uses_telegrams_wording(emulator, http, chat):
    status, body = await api(http, emulator, "sendMessage", chat_id=chat)
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_wrong_types_are_400(emulator, http, chat):
    status, body = await api(
        http, emulator, "sendMessage", chat_id=chat, text="x", disable_notification="maybe"
    )
    assert status == 400
    assert "disable_notification" in body["description"]
    status, body = await api(
        http,
        emulator,
        "sendMessage",
        chat_id=chat,
        text="x",
        reply_markup={"inline_keyboard": [[{"text": "a", "callback_dat": "typo"}]]},
    )
    assert status == 400
    assert 'no field "callback_dat"' in body["description"]


async def test_unsupported_spec_method_is_rejected(emulator, http, chat):
    status, body = await api(http, emulator, "sendPoll", chat_id=chat, question="?", options=[])
    assert (status, body["description"]) == (400, UNSUPPORTED)
    assert emulator.rejected[-1].method == "sendPoll"


async def test_wrong_token_is_unauthorized(emulator, http):
    async with http.post(f"{emulator.url}/bot999:nope/getMe") as response:
        assert response.status == 401
    with pytest.raises(InvalidToken):
        async with Bot("999:nope", base_url=f"{emulator.url}/bot", request=local_request()):
            pass  # entering calls getMe


async def test_unknown_chat_is_chat_not_found(emulator, ptb):
    with pytest.raises(BadRequest, match="Chat not found"):
        await ptb.send_message(777, "hello?")
    emulator.register_group(-1001, "Staf")
    await ptb.send_message(-1001, "rapat jam 9")
    assert emulator.last_message(-1001)["chat"]["type"] == "supergroup"


async def test_form_encoded_requests_are_typed_from_the_spec(emulator, http, chat):
    url = f"{emulator.url}/bot{emulator.token}/sendMessage"
    form = {"chat_id": str(chat), "text": "x", "reply_markup": '{"remove_keyboard": true}'}
    async with http.post(url, data=form) as response:
        assert response.status == 200
    assert emulator.calls[-1].params == {
        "chat_id": chat,
        "text": "x",
        "reply_markup": {"remove_keyboard": True},
    }


# == what Telegram refuses =================================================================


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>tebal", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("Q&A &foo; ok", 'Character "&" at byte offset 1'),
        ('<a href="https://a.b"><a href="https://c.d">x</a></a>', 'Tag "a" can\'t be nested'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
    ],
)
async def test_html_that_telegram_refuses(emulator, ptb, chat, text, error):
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await ptb.send_message(chat, text, parse_mode="HTML")
    description = emulator.rejected[-1].description
    assert description.startswith("Bad Request: can't parse entities: ")
    assert error in description


@pytest.mark.parametrize(
    ("html", "visible"),
    [
        ("&lt;b&gt; &amp; &quot;", '<b> & "'),
        ('<a href="https://x.y">x</a>', "x"),
        ("<b>Kota</b> <i>Serang</i> <tg-spoiler>!</tg-spoiler>", "Kota Serang !"),
        ('<pre><code class="language-python">print(1)</code></pre>', "print(1)"),
        ("<blockquote expandable>kutipan</blockquote> &#128512;", "kutipan 😀"),
    ],
)
async def test_html_that_telegram_accepts(emulator, ptb, chat, html, visible):
    message = await ptb.send_message(chat, html, parse_mode="HTML")
    assert message.text == visible
    assert emulator.rejected == []


def test_html_entities_have_utf16_offsets():
    parsed = parse_telegram_html("😀 <b>Seoul</b>")
    assert parsed.text == "😀 Seoul"
    assert parsed.entities == [{"offset": 3, "length": 5, "type": "bold"}]
    assert visible_length("  <b>😀</b>  ") == 2
    assert check_telegram_html("<b>ok</b>") is None


async def test_text_limit_counts_visible_utf16_units(emulator, ptb, chat):
    await ptb.send_message(chat, "x" * 4096)
    await ptb.send_message(chat, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    await ptb.send_message(chat, "😀" * 2048)  # 2048 characters, 4096 UTF-16 units
    assert emulator.rejected == []
    for text, mode in [
        ("x" * 4097, None),
        ("<b>" + "x" * 4097 + "</b>", "HTML"),
        ("😀" * 2049, None),
    ]:
        with pytest.raises(BadRequest, match="Message is too long"):
            await ptb.send_message(chat, text, parse_mode=mode)
    assert len(emulator.rejected) == 3


async def test_text_empty_after_parsing(emulator, ptb, chat):
    with pytest.raises(BadRequest, match="Message text is empty"):
        await ptb.send_message(chat, "<b> </b>", parse_mode="HTML")


async def test_caption_limit(emulator, ptb, chat):
    await ptb.send_photo(chat, PNG_1x1, caption="c" * 1024)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await ptb.send_photo(chat, PNG_1x1, caption="c" * 1025)


async def test_markdown_is_refused_so_html_stays_the_one_checked_mode(emulator, ptb, chat):
    with pytest.raises(BadRequest, match="not supported by the test emulator"):
        await ptb.send_message(chat, "*x*", parse_mode="MarkdownV2")


async def test_callback_data_limit_is_64_utf8_bytes(emulator, ptb, chat):
    fits = ["a" * 64, "😀" * 16]  # 16 emoji are 64 bytes
    too_long = ["a" * 65, "😀" * 16 + "a"]  # 17 characters, but 65 bytes
    for data in fits:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data=data)]])
        await ptb.send_message(chat, "pilih", reply_markup=markup)
    for data in too_long:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data=data)]])
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await ptb.send_message(chat, "pilih", reply_markup=markup)
    assert len(emulator.rejected) == 2


async def test_inline_buttons_need_exactly_one_action_and_a_good_url(emulator, http, chat):
    cases = {
        "text buttons are unallowed": [{"text": "hanya teks"}],
        "exactly one": [{"text": "x", "url": "https://a.b", "callback_data": "x"}],
        "is invalid": [{"text": "x", "url": "javascript:alert(1)"}],
        "must be non-empty": [{"text": " ", "callback_data": "x"}],
    }
    for expected, row in cases.items():
        markup = {"inline_keyboard": [row]}
        status, body = await api(
            http, emulator, "sendMessage", chat_id=chat, text="x", reply_markup=markup
        )
        assert status == 400
        assert expected in body["description"]
    markup = {"inline_keyboard": [[{"text": "x", "url": "tg://resolve?domain=a"}]]}
    status, _ = await api(
        http, emulator, "sendMessage", chat_id=chat, text="x", reply_markup=markup
    )
    assert status == 200


async def test_reply_keyboard_is_tracked_but_not_in_the_returned_message(emulator, http, chat):
    markup = {"keyboard": [[{"text": "Bagikan nomor", "request_contact": True}]]}
    _, body = await api(http, emulator, "sendMessage", chat_id=chat, text="x", reply_markup=markup)
    assert "reply_markup" not in body["result"]
    assert emulator.reply_keyboard(chat) == markup
    assert emulator.last_message(chat)["reply_markup"] == markup
    remove = {"remove_keyboard": True}
    await api(http, emulator, "sendMessage", chat_id=chat, text="y", reply_markup=remove)
    assert emulator.reply_keyboard(chat) is None


# == updates and long polling ==============================================================


async def test_long_poll_returns_an_injected_update_without_waiting_for_the_timeout(emulator, ptb):
    started = time.monotonic()
    poll = asyncio.create_task(ptb.get_updates(timeout=10))
    await emulator.wait_until_polling()  # the request is held open on the server
    emulator.send_text(USER, "/start")
    updates = await poll
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates] == ["/start"]
    assert updates[0].message.entities[0].type == "bot_command"


async def test_long_poll_times_out_empty(emulator, ptb):
    started = time.monotonic()
    assert await ptb.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 2


async def test_offset_acknowledges_updates(emulator, ptb):
    first = emulator.send_text(USER, "satu")
    second = emulator.send_text(USER, "dua")
    assert [u.update_id for u in await ptb.get_updates(limit=1)] == [first["update_id"]]
    assert len(await ptb.get_updates()) == 2  # nothing confirmed yet
    fetched = asyncio.create_task(emulator.wait_until_fetched(second["update_id"]))
    assert await ptb.get_updates(offset=second["update_id"] + 1) == ()
    await fetched
    assert await ptb.get_updates() == ()


async def test_allowed_updates_filters_update_types(emulator, ptb, chat):
    message = await ptb.send_message(
        chat,
        "pilih",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
    )
    emulator.press(USER, message.message_id, "a")
    emulator.send_text(USER, "teks")
    updates = await ptb.get_updates(offset=-10, allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates] == ["a"]


async def test_stop_answers_a_pending_long_poll(http):
    emu = BotAPIEmulator()
    await emu.start()
    poll = asyncio.create_task(api(http, emu, "getUpdates", timeout=30))
    await emu.wait_until_polling()
    started = time.monotonic()
    await emu.stop()
    status, body = await poll
    assert (status, body["result"]) == (200, [])
    assert time.monotonic() - started < 1


async def test_user_side_injections_build_real_updates(emulator, ptb):
    emulator.user(USER, "Siti", language_code="en", username="siti")
    emulator.send_contact(USER, "+6281234567890")
    emulator.send_message(
        USER,
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "u",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        },
    )
    said = emulator.send_text(USER, "salah ketik")
    emulator.edit_text(USER, said["message"]["message_id"], "benar")
    contact, sticker, text, edited = await ptb.get_updates()
    assert contact.message.contact.user_id == USER
    assert contact.message.from_user.language_code == "en"
    assert sticker.message.sticker.file_id == "s"
    assert text.message.text == "salah ketik"
    assert (edited.edited_message.text, edited.edited_message.message_id) == (
        "benar",
        text.message.message_id,
    )
    group = emulator.send_text(USER, "/daftar@serang_test_bot", chat_id=-100, chat_type="group")
    assert group["message"]["chat"] == {"id": -100, "type": "group", "title": "Grup -100"}


# == callback queries and edits ============================================================


async def test_answer_callback_query_twice_is_rejected(emulator, ptb, chat):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ya", callback_data="scr:yes")]])
    message = await ptb.send_message(chat, "Lanjut?", reply_markup=markup)
    assert emulator.buttons(emulator.last_message(chat)) == [("Ya", "scr:yes")]
    update = emulator.press(USER, message.message_id, "scr:yes")
    query_id = update["callback_query"]["id"]
    assert not emulator.callback_answered(query_id)
    await ptb.answer_callback_query(query_id, text="Oke")
    assert emulator.callback_answered(query_id)
    assert emulator.callback_answer(query_id) == {"text": "Oke"}
    with pytest.raises(BadRequest, match="Query is too old"):
        await ptb.answer_callback_query(query_id)
    assert emulator.rejected[-1].description == QUERY_INVALID
    with pytest.raises(BadRequest, match="Query is too old"):
        await ptb.answer_callback_query("12345")


async def test_callback_answer_text_limit(emulator, ptb, chat):
    message = await ptb.send_message(
        chat,
        "?",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
    )
    query_id = emulator.press(USER, message.message_id, "a")["callback_query"]["id"]
    with pytest.raises(BadRequest):
        await ptb.answer_callback_query(query_id, text="x" * 201)
    await ptb.answer_callback_query(query_id, text="x" * 200)


async def test_press_needs_a_visible_button(emulator, ptb, chat):
    message = await ptb.send_message(chat, "tanpa tombol")
    with pytest.raises(LookupError):
        emulator.press(USER, message.message_id, "x")
    with pytest.raises(LookupError):
        emulator.press(USER, 999, "x")


async def test_edits_and_deletes(emulator, ptb, chat):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    message = await ptb.send_message(chat, "versi 1", reply_markup=markup)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await ptb.edit_message_text("x", chat_id=chat, message_id=999)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await ptb.edit_message_text(
            "versi 1", chat_id=chat, message_id=message.message_id, reply_markup=markup
        )
    assert emulator.rejected[-1].description == NOT_MODIFIED
    edited = await ptb.edit_message_text("versi 2", chat_id=chat, message_id=message.message_id)
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    await ptb.edit_message_reply_markup(chat, message.message_id, reply_markup=markup)
    assert [m["text"] for m in emulator.sent_to(chat)] == ["versi 2"]
    assert emulator.buttons(emulator.last_message(chat)) == [("A", "a")]
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await ptb.delete_message(chat, 999)
    assert await ptb.delete_message(chat, message.message_id)
    assert emulator.sent_to(chat) == []
    assert len(emulator.rejected) == 3


# == arranged failures and limits ==========================================================


async def test_injected_429_carries_retry_after(emulator, ptb, chat, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else RetryAfter warns, and warnings are errors
    emulator.inject_fault(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 5",
        retry_after=5,
        chat_id=chat,
    )
    with pytest.raises(RetryAfter) as raised:
        await ptb.send_message(chat, "x")
    assert raised.value.retry_after == dt.timedelta(seconds=5)
    assert emulator.calls[-1].result_or_error == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }
    await ptb.send_message(chat, "x")  # times=1: the next call goes through
    assert emulator.rejected == []


async def test_blocked_user_gets_403(emulator, ptb, chat):
    emulator.block_user(chat)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await ptb.send_message(chat, "x")
    assert emulator.sent_to(chat) == []
    assert emulator.rejected == []


async def test_enforce_limits_answers_429(emulator, ptb, chat, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    emulator.enforce_limits(global_per_second=2, per_chat_per_second=1)
    await ptb.send_message(chat, "satu")
    with pytest.raises(RetryAfter) as raised:
        await ptb.send_message(chat, "dua")
    assert raised.value.retry_after == dt.timedelta(seconds=1)
    for other in (11, 12):
        emulator.send_text(other, "halo")
    await ptb.send_message(11, "x")
    with pytest.raises(RetryAfter):
        await ptb.send_message(12, "x")  # the global window is full
    assert emulator.too_many_requests == 2
    assert emulator.rejected == []


# == files =================================================================================


async def test_send_document_upload_is_recorded_and_downloadable(emulator, ptb, chat):
    content = b"reg_no;nama\nSRG-2026-000001;Siti\n"
    message = await ptb.send_document(
        chat,
        InputFile(content, filename="pendaftar.csv"),
        caption="<b>Ekspor</b>",
        parse_mode="HTML",
    )
    call = emulator.calls_for("sendDocument")[0]
    assert call.files["document"].content == content
    assert call.files["document"].filename == "pendaftar.csv"
    assert message.document.file_name == "pendaftar.csv"
    assert message.caption == "Ekspor"
    stored = emulator.files[message.document.file_id]
    assert stored.content == content
    downloaded = await (await ptb.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == content
    again = await ptb.send_document(chat, message.document.file_id)  # resend by file_id
    assert again.document.file_id == message.document.file_id


async def test_send_photo_wants_an_image(emulator, ptb, chat):
    message = await ptb.send_photo(chat, PNG_1x1)
    assert (message.photo[-1].width, message.photo[-1].height) == (1, 1)
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await ptb.send_photo(chat, b"not an image")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await ptb.send_photo(chat, "no-such-file-id")


async def test_copy_forward_action_chat_and_commands(emulator, ptb, chat):
    said = emulator.send_text(USER, "tolong teruskan")["message"]
    emulator.register_group(-1002, "Staf")
    forwarded = await ptb.forward_message(-1002, chat, said["message_id"])
    assert forwarded.forward_origin.sender_user.id == USER
    copied = await ptb.copy_message(-1002, chat, said["message_id"])
    assert emulator.sent_to(-1002)[-1]["message_id"] == copied.message_id
    assert await ptb.send_chat_action(chat, "typing")
    assert (await ptb.get_chat(chat)).id == chat
    await ptb.set_my_commands([("start", "Mulai"), ("bantuan", "Bantuan")])
    assert [c.command for c in await ptb.get_my_commands()] == ["start", "bantuan"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await ptb.set_my_commands([("Start-Now", "x")])
    assert await ptb.delete_my_commands()
    assert await ptb.get_my_commands() == ()
    assert await ptb.set_chat_menu_button()
    assert len(emulator.rejected) == 1


# == the whole Application =================================================================


async def test_ptb_application_round_trip(emulator):
    started = time.monotonic()
    app = application_builder(emulator).build()

    async def start(update, context):
        await update.message.reply_text("hi")

    app.add_handler(CommandHandler("start", start))
    assert app.updater is not None
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    update = emulator.send_text(USER, "/start")
    reply = await emulator.wait_for_call(lambda c: c.method == "sendMessage")
    assert (reply.chat_id, reply.result["text"]) == (USER, "hi")
    await emulator.wait_until_fetched(update["update_id"])
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    assert emulator.rejected == []
    assert time.monotonic() - started < 2


async def test_stale_buttons_can_be_planted_for_older_keyboards(emulator, ptb, chat):
    message = await ptb.send_message(chat, "menu baru")
    old = {"inline_keyboard": [[{"text": "lama", "callback_data": "v1:menu"}]]}
    emulator.set_message_markup(chat, message.message_id, old)
    update = emulator.press(USER, message.message_id, "v1:menu")
    assert update["callback_query"]["message"]["reply_markup"] == old
    assert emulator.message(chat, message.message_id)["reply_markup"] == old
    assert emulator.message(chat, 999) is None


async def test_wait_for_call_looks_from_the_latest_update_on(emulator, ptb, chat):
    await ptb.send_message(chat, "sebelum")
    emulator.send_text(USER, "lagi")
    with pytest.raises(TimeoutError, match="no matching call"):
        await emulator.wait_for_call(lambda c: c.method == "sendMessage", timeout=0.05)
    sent = asyncio.create_task(ptb.send_message(chat, "sesudah"))
    call = await emulator.wait_for_call(lambda c: c.method == "sendMessage")
    assert call.params["text"] == "sesudah"
    await sent
    first = await emulator.wait_for_call(lambda c: c.method == "sendMessage", since=0)
    assert first.params["text"] == "sebelum"
