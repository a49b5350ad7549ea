"""The programme status update (admins): ``/statusprogram TEXT`` posts a short dated update
("LOA sudah terbit 12-01-2027…") shown at the top of the programme status and timeline answers
until replaced; ``/statusprogram hapus`` clears it; ``/statusprogram`` alone shows the current
one and how to post. Private chats only.

The text is taken as a staff member types it (Telegram's formatting, HTML tags, or plain text;
``bot.telegram_html.typed_html``) and validated like an announcement: ``StatusUpdate.parse``
refuses what Telegram would reject and what the knowledge base's HTML subset does not allow.
Stored, applied and restored by ``bot.teaching``; every post and clear is audited.
"""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot import teaching
from bot.answers import render_answer
from bot.handlers.staff import Context, audit, staff_lang
from bot.i18n import Markup
from bot.services import services
from bot.telegram_html import typed_html
from bot.ui import reply
from faq.render import MAX_STATUS_TEXT, STATUS_ENTRIES, format_date
from store import clock

COMMAND = "statusprogram"
CLEAR_WORDS = frozenset({"hapus", "clear", "-"})
#: The command itself at the start of a message (``/statusprogram@bot``), before the text.
_COMMAND = re.compile(r"^/\w+(?:@\w+)?\s*")
#: The answer shown back to the admin after a post (the first status entry the base has).
PREVIEW_ENTRY = "programme-status"


async def status_command(update: Update, context: Context) -> None:
    """/statusprogram [TEXT | hapus]: show, post or clear the programme status update."""
    lang = await staff_lang(update, context)
    message, user = update.effective_message, update.effective_user
    if lang is None or message is None or user is None:
        return
    svc = services(context)
    texts = svc.texts
    raw = _COMMAND.sub("", message.text or "", count=1).strip()
    if not raw:
        current = svc.status
        shown = (
            texts.render(
                "status_current",
                lang,
                date=format_date(current.posted, lang),
                text=Markup(current.text),
            )
            if current is not None
            else texts.render("status_none", lang)
        )
        usage = texts.render("status_usage", lang, limit=MAX_STATUS_TEXT)
        await reply(update, Markup(f"{usage}\n\n{shown}"))
        return
    if not svc.config.staff.is_admin(user.id):
        await reply(update, texts.render("status_admins_only", lang))
        return
    if raw.casefold() in CLEAR_WORDS:
        removed = await teaching.clear_status(svc)
        if removed:
            await audit(svc, user.id, "programme_status_cleared", None)
        await reply(update, texts.render("status_cleared" if removed else "status_none", lang))
        return
    formatted = _COMMAND.sub("", message.text_html or "", count=1).strip()
    text = typed_html(raw, formatted, (e.type for e in message.entities))
    try:
        update_ = await teaching.post_status(svc, text, clock.today(), by=user.id)
    except ValueError as exc:
        await reply(update, texts.render("status_bad", lang, problem=str(exc)))
        return
    await audit(svc, user.id, "programme_status_posted", None, chars=len(update_.text))
    preview = svc.kb.by_id.get(PREVIEW_ENTRY) or next(
        (e for e in svc.kb.entries if e.id in STATUS_ENTRIES), None
    )
    await reply(update, texts.render("status_posted", lang))
    if preview is not None:
        await reply(update, render_answer(texts, preview, lang, svc.status))


def register(app: Application) -> None:
    """/statusprogram in private chats."""
    app.add_handler(CommandHandler(COMMAND, status_command, filters=filters.ChatType.PRIVATE))
