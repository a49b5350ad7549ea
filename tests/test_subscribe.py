"""Subscriptions: /langganan and /berhenti, the menu screen and its toggle, ``sub:on`` offered
after registration, an opt-out by someone who never subscribed, and English texts."""

from __future__ import annotations

from bot.i18n import Texts
from store import Stores
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness

CITIZEN = 6101
TEXTS = Texts.load()


def stores(bot: BotHarness) -> Stores:
    assert bot.app is not None
    return bot.app.bot_data["services"].stores


async def test_subscribe_and_unsubscribe_by_command(bot: BotHarness) -> None:
    [done] = await bot.send(CITIZEN, "/langganan")
    assert done.text == TEXTS.get("subscribe_done", "id")
    assert done.button("Berhenti") == "sub:off"
    assert stores(bot).subscribers.is_subscribed(CITIZEN)
    assert stores(bot).subscribers.active_chat_ids() == [CITIZEN]

    [again] = await bot.send(CITIZEN, "/langganan")
    assert again.text == TEXTS.get("subscribe_already", "id")

    [stopped] = await bot.send(CITIZEN, "/berhenti")
    assert stopped.text == TEXTS.get("subscribe_stopped", "id")
    assert stopped.button("Berlangganan") == "sub:on"
    assert not stores(bot).subscribers.is_subscribed(CITIZEN)
    assert stores(bot).subscribers.active_chat_ids() == []


async def test_menu_screen_toggles(bot: BotHarness) -> None:
    [welcome] = await bot.send(CITIZEN, "/start")
    [screen] = await bot.press(CITIZEN, welcome, "Pengumuman")
    assert screen.method == "editMessageText"
    assert screen.text == TEXTS.get("subscribe_menu_off", "id")

    [done] = await bot.press(CITIZEN, screen, "Berlangganan")
    assert done.method == "sendMessage" and done.text == TEXTS.get("subscribe_done", "id")
    assert stores(bot).subscribers.is_subscribed(CITIZEN)

    [stopped] = await bot.press(CITIZEN, done, "Berhenti")
    assert stopped.text == TEXTS.get("subscribe_stopped", "id")
    assert not stores(bot).subscribers.is_subscribed(CITIZEN)

    [back] = await bot.press(CITIZEN, stopped, "Menu")
    [screen_again] = await bot.press(CITIZEN, back, "Pengumuman")
    assert screen_again.text == TEXTS.get("subscribe_menu_off", "id")


async def test_subscribe_button_offered_elsewhere_keeps_that_message(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    # The registration engineer's confirmation offers sub:on under its own text.
    [welcome] = await bot.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    markup = {"inline_keyboard": [[{"text": "Berlangganan", "callback_data": "sub:on"}]]}
    emu.set_message_markup(CITIZEN, welcome.message_id, markup)

    [done] = await bot.press(CITIZEN, welcome.message_id, "sub:on")
    assert done.method == "sendMessage"
    kept = emu.message(CITIZEN, welcome.message_id)
    assert kept is not None and kept["text"].startswith("Halo")
    assert stores(bot).subscribers.is_subscribed(CITIZEN)


async def test_opt_out_without_a_subscription_is_recorded(bot: BotHarness) -> None:
    await bot.send(CITIZEN, "/start")
    [stopped] = await bot.send(CITIZEN, "/berhenti")
    assert stopped.text == TEXTS.get("subscribe_stopped", "id")
    record = stores(bot).subscribers.database.table("subscribers").get(str(CITIZEN))
    assert record is not None and record["active"] is False
    assert record["inactive_reason"] == "unsubscribed"


async def test_english(bot: BotHarness, emu: BotAPIEmulator) -> None:
    emu.user(CITIZEN + 1, language_code="en")
    [done] = await bot.send(CITIZEN + 1, "/langganan")
    assert done.text == TEXTS.get("subscribe_done", "en")
    assert done.button("Unsubscribe") == "sub:off"
