"""What is left after every feature: other media, unknown commands, groups, edits, old buttons."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers.faq import answer_text
from bot.i18n import Markup
from bot.menu import main_menu
from bot.services import services
from bot.ui import answer, reply

log = logging.getLogger(__name__)


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, point people to a private chat: personal data never belongs in a group."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    username = context.bot.username
    link = Markup(f'<a href="https://t.me/{username}">@{username}</a>')
    await reply(update, svc.texts.render("group_redirect", lang, link=link))


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes...: the bot reads text only."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await reply(update, svc.texts.render("non_text", lang), main_menu(svc.texts, lang))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await reply(update, svc.texts.render("unknown_command", lang), main_menu(svc.texts, lang))


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message is answered as a new question; it never feeds a questionnaire step."""
    message = update.edited_message
    if message is not None and message.text:
        await answer_text(update, context, message.text)
    else:
        await non_text(update, context)


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button no handler knows (e.g. from an older version): say so, never leave it spinning."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query, svc.texts.get("stale_button", lang), alert=True)


async def ignore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Updates the bot has nothing to say to (channel posts, member changes...)."""
    log.debug("ignored update %s", update.update_id)


def register_first(app: Application) -> None:
    """Registered before every feature: groups get a pointer to a private chat, and edits are
    answered as questions, so neither ever reaches a conversation."""
    groups = filters.ChatType.GROUPS
    app.add_handler(MessageHandler(groups & ~filters.StatusUpdate.ALL, group_message))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.EDITED_MESSAGE & filters.ChatType.PRIVATE, edited_message
        )
    )


def register(app: Application) -> None:
    """Registered last: the catch-alls."""
    private = filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(filters.COMMAND & private, unknown_command))
    app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, non_text))
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(TypeHandler(Update, ignore))
