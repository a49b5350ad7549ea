"""Transcripts through the emulator: menus, answers, suggestions, fallback, language, bad input."""

from __future__ import annotations

import pytest

from bot.i18n import Texts
from faq.model import load_knowledge_base
from tests.harness import BotHarness, texts_of

CITIZEN = 5001
TEXTS = Texts.load()
KB = load_knowledge_base()


async def test_start_menu_topic_answer_back(bot: BotHarness) -> None:
    [welcome] = await bot.send(CITIZEN, "/start")
    assert "Sister City" in welcome.text
    assert welcome.button("Persyaratan") == "t:requirements"

    [topic] = await bot.press(CITIZEN, welcome, "Persyaratan")
    assert topic.method == "editMessageText"
    assert topic.buttons, "a topic lists its questions"
    first_question, first_data = topic.buttons[0]
    entry = KB.by_id[first_data.split(":", 1)[1]]

    [answer] = await bot.press(CITIZEN, topic, first_question)
    assert entry.question["id"] in answer.text
    assert "Sumber" in answer.text

    [back] = await bot.press(CITIZEN, answer, "Kembali")
    assert back.buttons == topic.buttons

    [home] = await bot.press(CITIZEN, back, "Menu")
    assert home.button("Beasiswa") == "t:scholarship"


async def test_detail_is_one_tap_away(bot: BotHarness) -> None:
    entry = next(e for e in KB.entries if e.detail)
    [welcome] = await bot.send(CITIZEN, "/start")
    [topic] = await bot.press(CITIZEN, welcome, "Semua topik")
    [questions] = await bot.press(CITIZEN, topic.message_id or 0, f"t:{entry.topic}")
    [answer] = await bot.press(CITIZEN, questions, entry.question["id"][:30])
    [detail] = await bot.press(CITIZEN, answer, "Selengkapnya")
    assert detail.text.startswith(f"<b>{entry.question['id'][:10]}")


async def test_free_text_question_is_answered(bot: BotHarness) -> None:
    [answer] = await bot.send(CITIZEN, "brp umur maksimal buat daftar ke korea min?")
    assert "Sumber" in answer.text
    assert "39" in answer.text


async def test_free_departure_is_never_promised_for_g2g_in_general(bot: BotHarness) -> None:
    [answer] = await bot.send(CITIZEN, "berangkat ke korea gratis gak?")
    lowered = answer.text.lower()
    assert "rencana" in lowered
    assert "Sumber" in answer.text


async def test_ambiguous_question_offers_suggestions_then_answers(bot: BotHarness) -> None:
    # "korea" alone fits many entries: the bot asks which one was meant.
    [suggest] = await bot.send(CITIZEN, "korea")
    heading, *listed = suggest.text.split("\n")
    assert heading == TEXTS.get("suggest", "id")
    assert 2 <= len(suggest.buttons) - 1 <= 3
    # the candidates are in the text as well as on the buttons, in the same order
    assert listed == [f"{n}. {label}" for n, (label, _) in enumerate(suggest.buttons[:-1], 1)]
    question_label, data = suggest.buttons[0]
    [answer] = await bot.press(CITIZEN, suggest, question_label)
    assert KB.by_id[data[2:]].question["id"] in answer.text


async def test_nonsense_gets_fallback_and_is_logged_masked(bot: BotHarness) -> None:
    [fallback] = await bot.send(CITIZEN, "qwzx plorkt vvbnm 081234567890")
    assert fallback.text == TEXTS.get("fallback", "id")
    assert any(data == "m:contact" for _, data in fallback.buttons)
    services = bot.app.bot_data["services"]  # type: ignore[union-attr]
    logged = services.stores.unanswered.recent(5)
    assert logged and "081234567890" not in str(logged)


async def test_greeting_gets_no_random_answer(bot: BotHarness) -> None:
    for text in ("halo", "apa", "selamat pagi min", "makasih"):
        [reply] = await bot.send(CITIZEN, text)
        assert "Sumber" not in reply.text, text


async def test_language_switch_is_remembered(bot: BotHarness) -> None:
    [welcome] = await bot.send(CITIZEN, "/start")
    [chooser] = await bot.press(CITIZEN, welcome, "English")
    [done] = await bot.press(CITIZEN, chooser, "English")
    assert "English" in done.text
    [answer] = await bot.send(CITIZEN, "what is the maximum age?")
    assert "Source" in answer.text
    assert any(c.method == "setMyCommands" for c in bot.emu.calls)


async def test_english_telegram_users_start_in_english(bot: BotHarness) -> None:
    [welcome] = await bot.send(6002, "/start", language_code="en")
    assert "Hello" in welcome.text


async def test_help_and_unknown_command(bot: BotHarness) -> None:
    [help_reply] = await bot.send(CITIZEN, "/help")
    for command in ("/bahasa", "/daftar", "/cekkelayakan", "/dataku", "/hapusdata", "/langganan"):
        assert command in help_reply.text, f"/help lists {command}"
    assert "/petugas" in help_reply.text and "/ekspor" not in help_reply.text, "no staff commands"
    [unknown] = await bot.send(CITIZEN, "/teleport")
    assert unknown.text == TEXTS.get("unknown_command", "id")


AWKWARD_TEXTS = [
    "😀😀😀",
    "x" * 5000,
    "   ",
    "\u200b\u200b",
    "<b>",
    "&",
    "<script>alert(1)</script>",
    "ما هي الشروط",
    "한국에서 일하고 싶어요",
    "ꦱꦼꦫꦁ",
    "3673014101990001",
    "syarat & ketentuan <b>korea</b>",
]


async def test_awkward_texts_get_a_reply_and_no_rejected_request(bot: BotHarness) -> None:
    for text in AWKWARD_TEXTS:
        replies = await bot.send(CITIZEN, text)
        assert replies, f"no reply to {text[:20]!r}"
    assert "3673014101990001" not in texts_of(await bot.send(CITIZEN, "3673014101990001"))


async def test_media_and_edits_get_a_reply(bot: BotHarness) -> None:
    sticker = {
        "sticker": {
            "file_id": "s1",
            "file_unique_id": "u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    }
    photo = {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]}
    voice = {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 2}}
    for fields in (sticker, photo, voice):
        [reply] = await bot.send_message(CITIZEN, fields)
        assert reply.text == TEXTS.get("non_text", "id")
    sent = bot.emu.send_text(CITIZEN, "syarat umur")
    await bot.processed(sent["update_id"])
    before = len(bot.emu.calls)
    update = bot.emu.edit_text(CITIZEN, sent["message"]["message_id"], "syarat pendidikan")
    await bot.processed(update["update_id"])
    assert any(c.method == "sendMessage" for c in bot.emu.calls[before:])


async def test_group_chat_points_to_private_chat(bot: BotHarness) -> None:
    replies = await bot.send(CITIZEN, "syarat?", chat_id=-100500, chat_type="group")
    assert [r.text for r in replies] == [TEXTS.render("group_redirect", "id", link=_link(bot))]


async def test_stale_button_is_answered(bot: BotHarness) -> None:
    """Buttons of an older version of the bot (an entry since removed, an unknown prefix)."""
    [welcome] = await bot.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    # The old keyboard, as Telegram still shows it on the citizen's screen.
    old_keyboard = {
        "inline_keyboard": [
            [{"text": "old entry", "callback_data": "q:no-such-entry"}],
            [{"text": "old feature", "callback_data": "zz:unknown"}],
        ]
    }
    bot.emu.set_message_markup(CITIZEN, welcome.message_id, old_keyboard)
    for data in ("q:no-such-entry", "zz:unknown"):
        await bot.press(CITIZEN, welcome.message_id, data)
        answered = bot.emu.calls_for("answerCallbackQuery")[-1]
        assert answered.params["text"] == TEXTS.get("stale_button", "id")


def _link(bot: BotHarness) -> object:
    from bot.i18n import Markup

    name = bot.emu.bot_user["username"]
    return Markup(f'<a href="https://t.me/{name}">@{name}</a>')


async def test_a_failing_handler_gets_a_kind_reply_and_one_callback_answer(
    bot: BotHarness,
) -> None:
    from telegram import Update
    from telegram.ext import CallbackQueryHandler, ContextTypes

    from bot.ui import answer

    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await answer(update.callback_query)
        raise RuntimeError("boom")

    assert bot.app is not None
    bot.app.add_handler(CallbackQueryHandler(boom, pattern="^boom$"), group=-1)
    [welcome] = await bot.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    keyboard = {"inline_keyboard": [[{"text": "boom", "callback_data": "boom"}]]}
    bot.emu.set_message_markup(CITIZEN, welcome.message_id, keyboard)
    replies = await bot.press(CITIZEN, welcome.message_id, "boom")
    assert TEXTS.get("error", "id") in [r.text for r in replies]
    assert len(bot.emu.calls_for("answerCallbackQuery")) == 1


async def test_the_button_stops_spinning_even_when_the_language_cannot_be_read(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing store fails the error handler's own language lookup too: the query is still
    answered and the citizen told, in the default language."""
    from telegram import Update
    from telegram.ext import CallbackQueryHandler, ContextTypes

    from store import StoreClosedError

    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise StoreClosedError("users")

    assert bot.app is not None
    bot.app.add_handler(CallbackQueryHandler(boom, pattern="^boom$"), group=-1)
    [welcome] = await bot.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    keyboard = {"inline_keyboard": [[{"text": "boom", "callback_data": "boom"}]]}
    bot.emu.set_message_markup(CITIZEN, welcome.message_id, keyboard)

    async def no_language(*args: object) -> str:
        raise StoreClosedError("users")

    monkeypatch.setattr(bot.app.bot_data["services"], "language", no_language)
    replies = await bot.press(CITIZEN, welcome.message_id, "boom")  # asserts the answer
    assert TEXTS.get("error", "id") in [r.text for r in replies]


async def test_an_answer_that_names_a_command_carries_its_button(bot: BotHarness) -> None:
    [answer] = await bot.send(CITIZEN, "berapa lama data saya disimpan bot ini?")
    assert "/hapusdata" in answer.text
    data = {d for _, d in answer.buttons}
    assert {"data:delete", "data:view"} <= data, answer.buttons
    [press] = await bot.press(CITIZEN, answer, "Data saya")
    assert press.text, "the button works"
