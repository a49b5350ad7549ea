"""The error handler: log (redacted by the logging filter) and tell the citizen kindly."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot.flow import StateNotSaved
from bot.ui import answer, reply

log = logging.getLogger(__name__)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a user blocked the bot: %s", error)
        return
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        log.warning("network problem while polling: %s", error)
        return
    log.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    svc = context.bot_data.get("services")
    if svc is None:  # start-up failed before the services existed: nothing to say it with
        return
    try:
        await answer(update.callback_query)  # first: whatever fails next, the button stops
        try:
            lang = await svc.language(update.effective_user)
        except Exception:  # the failure may be the store's own: say it in the default language
            lang = svc.config.default_language
        key = "error_not_saved" if isinstance(error, StateNotSaved) else "error"
        await reply(update, svc.texts.render(key, lang))
    except TelegramError as exc:
        log.warning("could not tell the user about the error: %s", exc)
