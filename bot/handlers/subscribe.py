"""Subscriptions to announcements: /langganan, /berhenti, the menu screen and the buttons.

``sub:menu`` (main menu) shows the current state with a toggle; ``sub:on`` subscribes (also
offered after registration); ``sub:off`` unsubscribes (also under every announcement, where the
announcement itself stays untouched: the confirmation comes as a new message).

A citizen who never subscribed but received an announcement as a registered lead and presses
``sub:off`` is recorded as opted out, so no later announcement reaches them either.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.routing import pressed, router
from bot.services import Services, services
from bot.ui import answer, keyboard, reply, show
from store import Stores


def toggle_keyboard(svc: Services, lang: str, subscribed: bool) -> InlineKeyboardMarkup:
    """The opposite action, and the way back to the menu."""
    toggle = ("btn_subscribe_off", "sub:off") if subscribed else ("btn_subscribe_on", "sub:on")
    return keyboard(
        [
            [(svc.texts.get(toggle[0], lang), toggle[1])],
            [(svc.texts.get("btn_home", lang), "m:home")],
        ]
    )


def opt_out(stores: Stores, user_id: int, chat_id: int) -> None:
    """Stop announcements to the user, recording an opt-out even if they never subscribed."""
    if not stores.subscribers.unsubscribe(user_id) and not _has_record(stores, user_id):
        stores.subscribers.subscribe(user_id, chat_id, source="opt_out")
        stores.subscribers.unsubscribe(user_id)


def _has_record(stores: Stores, user_id: int) -> bool:
    return str(user_id) in stores.subscribers.database.table("subscribers")


async def subscription_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "Pengumuman" screen: the current state and the toggle."""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    await answer(update.callback_query)
    if user is None:
        return
    subscribed = await svc.call(svc.stores.subscribers.is_subscribed, user.id)
    key = "subscribe_menu_on" if subscribed else "subscribe_menu_off"
    await show(update, svc.texts.render(key, lang), toggle_keyboard(svc, lang, subscribed))


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/langganan or ``sub:on``."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    lang = await svc.language(user)
    if user is None or chat is None:
        return
    already = await svc.call(svc.stores.subscribers.is_subscribed, user.id)
    if not already:
        source = "button" if update.callback_query else "command"
        await svc.call(svc.stores.subscribers.subscribe, user.id, chat.id, source=source)
    await answer(update.callback_query, svc.texts.get("subscribe_toast_on", lang))
    key = "subscribe_already" if already else "subscribe_done"
    await reply(update, svc.texts.render(key, lang), toggle_keyboard(svc, lang, True))


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/berhenti or ``sub:off``: always ends with no more announcements for this citizen."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    lang = await svc.language(user)
    if user is None or chat is None:
        return
    await svc.call(opt_out, svc.stores, user.id, chat.id)
    await answer(update.callback_query, svc.texts.get("subscribe_toast_off", lang))
    await reply(
        update, svc.texts.render("subscribe_stopped", lang), toggle_keyboard(svc, lang, False)
    )


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("langganan", subscribe, filters=private))
    app.add_handler(CommandHandler("berhenti", unsubscribe, filters=private))


router.action("sub", "menu").handles(pressed(subscription_menu))
router.action("sub", "on").handles(pressed(subscribe))
router.action("sub", "off").handles(pressed(unsubscribe))
