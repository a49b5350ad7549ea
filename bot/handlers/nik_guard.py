"""A NIK never stays in the chat: any private message (or edit) from a citizen that holds a
NIK-shaped number is deleted at once and the citizen told why; the text still goes on to the
feature that reads it (masked wherever it is kept or relayed).

Runs before every feature (handler group :data:`GUARD_GROUP`). The registration's own NIK and
phone steps delete the message themselves (and say so in their reply), so they are left to it.
"""

from __future__ import annotations

import logging
import re

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot import flow
from bot.handlers.registration_form import Flow
from bot.services import services
from bot.ui import reply

log = logging.getLogger(__name__)

GUARD_GROUP = -3
#: 16 digits, in any grouping people type (spaces, dots, dashes, no-break spaces), on their own.
NIK_SHAPED = re.compile(r"(?<![\d+])\d(?:[\s.\-\u00a0]*\d){15}(?!\d)")
#: Registration steps that take the NIK (or get it by mistake) and delete it themselves.
_OWN_STEPS = ("nik", "phone")


#: A calendar date as people type it (``01-11-2026``, ``1/11/2026``, ``2026-11-01``): two of
#: them in a row (``/statistik 01-11-2026 30-11-2026``) are 16 digits, but not a NIK.
_DATE = re.compile(
    r"(?<![\d.\-/])(?:(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|1[0-2])\1(?:19|20)\d\d"
    r"|(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01]))(?![\d.\-/])"
)


def holds_nik(text: str) -> bool:
    return NIK_SHAPED.search(_DATE.sub(" ", text)) is not None


def _registration_takes_it(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    if update.edited_message is not None:
        return False
    state = flow.state(context, flow.REGISTRATION)
    if state is None:
        return False
    return Flow(**state).pending() in _OWN_STEPS


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message: Message | None = update.effective_message
    if message is None or not holds_nik(message.text or message.caption or ""):
        return
    if _registration_takes_it(update, context):
        return
    try:
        await message.delete()
    except BadRequest as exc:
        log.info("a message holding a NIK could not be deleted: %s", exc)
        return
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    # A staff member searching by NIK (/cari) still gets the search; the notice says so.
    staff = svc.config.staff.is_staff(user.id if user else None)
    await reply(update, svc.texts.render("nik_removed_staff" if staff else "nik_removed", lang))


def register_first(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    kinds = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    app.add_handler(
        MessageHandler(private & kinds & (filters.TEXT | filters.CAPTION), guard),
        group=GUARD_GROUP,
    )
