"""Sending replies: keyboards from (text, data) rows, long texts split, callbacks answered.

Callback data uses short, stable prefixes (ids, never texts) and is checked against Telegram's
64-byte limit when a keyboard is built, so a bad id fails loudly in tests, not at a citizen.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from contextvars import ContextVar

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.warnings import PTBUserWarning

from bot.telegram_html import MESSAGE_LIMIT, rendered_text, split_html, utf16_len

log = logging.getLogger(__name__)

CALLBACK_DATA_LIMIT = 64
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

Button = tuple[str, str]  # (text, callback data) or (text, "https://...") for a URL button
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def button(text: str, data: str) -> InlineKeyboardButton:
    """A URL button, or a callback button whose data a declared action reads (``bot.routing``):
    the field count and the 64-byte limit are checked here, when the keyboard is built."""
    if data.startswith(("https://", "http://", "tg://")):
        return InlineKeyboardButton(text, url=data)
    from bot.routing import router  # routing needs this module's answer(): imported late

    router.check(data)
    return InlineKeyboardButton(text, callback_data=data)


def keyboard(rows: Iterable[Sequence[Button]]) -> InlineKeyboardMarkup:
    """An inline keyboard from rows of (text, data) pairs; empty rows are dropped."""
    return InlineKeyboardMarkup([[button(t, d) for t, d in row] for row in rows if row])


def column(buttons: Iterable[Button]) -> list[list[Button]]:
    """One button per row."""
    return [[b] for b in buttons]


async def reply(update: Update, text: str, markup: ReplyMarkup | None = None) -> Message | None:
    """Send ``text`` to the chat of ``update``, split under 4,096 characters.

    The keyboard goes with the last part so it stays under the text it belongs to.
    """
    chat = update.effective_chat
    if chat is None:
        return None
    parts = split_html(text)
    sent: Message | None = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent = await chat.send_message(
            part,
            reply_markup=markup if last else None,
        )
    return sent


async def show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Show a screen: edit the message whose button was pressed, or send a new message.

    Navigation by buttons edits in place so the chat doesn't fill with menus; a text too long for
    one message, or a message that can no longer be edited, is sent anew instead.
    """
    query = update.callback_query
    if query is not None and query.message is not None and utf16_len(text) <= MESSAGE_LIMIT:
        if _unchanged(query.message, text, markup):
            return  # Telegram would refuse the edit ("message is not modified")
        try:
            await query.edit_message_text(
                text,
                reply_markup=markup,
            )
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit message, sending a new one: %s", exc)
    await reply(update, text, markup)


async def drop_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Remove a message's inline keyboard (its buttons no longer apply).

    Sent as a plain API request: with the Application's default parse mode, PTB's own
    ``edit_message_reply_markup`` also sends ``parse_mode``, a parameter that method does not
    have. Raises ``TelegramError`` as the PTB call would."""
    with warnings.catch_warnings():  # PTB suggests its own method, the one we must avoid here
        warnings.filterwarnings(
            "ignore", "Please use 'Bot.editMessageReplyMarkup'", PTBUserWarning
        )
        await bot.do_api_request(
            "editMessageReplyMarkup", api_kwargs={"chat_id": chat_id, "message_id": message_id}
        )


def _unchanged(message: object, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """Whether ``message`` already shows ``text`` (as Telegram renders it) and ``markup``."""
    if not isinstance(message, Message) or message.text is None:
        return False
    shown = message.reply_markup or None
    wanted = markup if markup is not None and markup.inline_keyboard else None
    return message.text == rendered_text(text) and shown == wanted


# The callback queries answered while handling the current update. An update is handled in one
# task (handler, then error handler), so a context variable follows it without global state.
_answered: ContextVar[set[str] | None] = ContextVar("answered_callback_queries", default=None)


def _first_answer(query: CallbackQuery) -> bool:
    answered = _answered.get()
    if answered is None:
        answered = set()
        _answered.set(answered)
    if query.id in answered:
        return False
    answered.add(query.id)
    return True


async def answer(
    query: CallbackQuery | None, text: str | None = None, alert: bool = False
) -> None:
    """Answer a callback query (the button stops spinning), once; never raises for an old query.

    The error handler answers the query of a failed update too, so a query that a handler
    answered before failing is not answered again (Telegram would reject that).
    """
    if query is None or not _first_answer(query):
        return
    try:
        await query.answer(text[:200] if text else None, show_alert=alert)
    except BadRequest as exc:
        log.info("callback query could not be answered: %s", exc)
