"""Hubungi petugas: a citizen writes to the staff through the bot, and the staff answer.

A citizen presses "Hubungi petugas" (or types /petugas) and a ticket opens. While it is open,
every message they type goes to the staff group (``staff.group_chat_id``), or to each staff
member privately when no group is configured, with their reference (registration number, else
the ticket number) and never their name, phone or NIK: numbers they type are masked first.
Opening a ticket ends a pre-registration or questionnaire in progress (one flow at a time); one
started while the ticket is open keeps its typed answers (a NIK is deleted there, not relayed).

Staff answer by replying to the forwarded message (or by pressing "Balas" and replying to the
prompt); the bot sends the answer to the citizen. Staff close the ticket with "Tutup" or by
replying /tutup, and the citizen can end it too. Tickets, and which staff-side message belongs to
which ticket, live in the durable store ``handoff``: an open conversation survives a restart.

Callback data: ``ho:end`` (the citizen ends), ``ho:r:<ticket>`` / ``ho:x:<ticket>`` (staff: reply,
close).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.handlers.staff import staff_lang
from bot.i18n import Markup, escape
from bot.menu import main_menu
from bot.routing import pressed, router
from bot.services import Services, services
from bot.telegram_html import clip
from bot.ui import answer, drop_buttons, keyboard, reply
from screening.identity import redact
from store.handoff import Tickets
from store.stores import SYSTEM_ACTOR

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Doc = dict[str, Any]

#: Open conversations take a citizen's messages before any conversation or the FAQ sees them.
RELAY_GROUP = -1
#: Longest relayed text in UTF-16 units, as Telegram counts (an emoji is two); the header and the
#: rest of the message fit Telegram's 4,096.
MAX_RELAY_CHARS = 3500


async def tickets_of(svc: Services) -> Tickets:
    """The handoff tickets (``store.handoff``)."""
    return svc.stores.handoff


def office_block(svc: Services, lang: str) -> Markup:
    """The office's address, hours, phone and website from config.yaml (``office``), for a
    citizen no staff member can answer in the bot; says plainly what was not filled in."""
    known = svc.config.office.as_dict()
    if not known:
        return svc.texts.render("office_unknown", lang)
    lines = [
        svc.texts.render(f"office_line_{key}", lang, value=value) for key, value in known.items()
    ]
    return Markup("\n".join(lines))


def destinations(svc: Services) -> list[int]:
    """Where citizens' messages go: the staff group, else each staff member privately."""
    staff = svc.config.staff
    if staff.group_chat_id is not None:
        return [staff.group_chat_id]
    return sorted(staff.everyone)


def _end_keyboard(svc: Services, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(svc.texts.get("btn_handoff_end", lang), "ho:end")]])


def _ref(svc: Services, ticket: Doc, lang: str) -> Markup:
    """The citizen's reference for staff: the registration number, else "not registered"."""
    if ticket.get("reg_no"):
        return Markup(f"<code>{escape(ticket['reg_no'])}</code>")
    return Markup(escape(svc.texts.get("handoff_unregistered", lang)))


async def _staff_lang(svc: Services, chat_id: int) -> str:
    """The language of a staff-side chat: a staff member's own choice, else the default."""
    if chat_id == svc.config.staff.group_chat_id:
        return svc.config.default_language
    stored: str | None = await svc.call(svc.stores.users.language, chat_id)
    return stored or svc.config.default_language


async def _tell_staff(context: Context, svc: Services, ticket: Doc, key: str) -> None:
    """A notice about ``ticket`` to every staff destination (best effort)."""
    for chat_id in destinations(svc):
        lang = await _staff_lang(svc, chat_id)
        text = svc.texts.render(key, lang, ticket=ticket["id"], ref=_ref(svc, ticket, lang))
        try:
            await context.bot.send_message(chat_id, text)
        except TelegramError as exc:
            log.warning("handoff notice to chat %s failed: %s", chat_id, exc)


# -- the citizen's side ---------------------------------------------------------------------------


async def contact(update: Update, context: Context) -> None:
    """ "Hubungi petugas" and /petugas: open (or show) the citizen's ticket."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    lang = await svc.language(user)
    await answer(update.callback_query)
    if user is None or chat is None:
        return
    if not destinations(svc):
        await reply(
            update,
            svc.texts.render("handoff_unavailable", lang, office=office_block(svc, lang)),
            main_menu(svc.texts, lang),
        )
        return
    tickets = await tickets_of(svc)
    record = await svc.call(svc.stores.registrations.get_by_user, user.id)
    reg_no = record["reg_no"] if record else None
    ticket, created = await svc.call(tickets.open, user.id, chat.id, reg_no, lang)
    if created:
        await svc.call(svc.stores.audit.record, SYSTEM_ACTOR, "handoff_open", ticket["id"])
    # One flow at a time: a pre-registration or questionnaire left open ends here, so it cannot
    # take the messages meant for the staff.
    await flow.begin(update, context, flow.HANDOFF, {"ticket": ticket["id"]})
    key = "handoff_open" if created else "handoff_already_open"
    ref = ticket["reg_no"] or ticket["id"]
    await reply(update, svc.texts.render(key, lang, ref=ref), _end_keyboard(svc, lang))


#: The staff's buttons under a relayed message: in the staff group too.
REPLY = router.action("ho", "r", "ticket", staff_only=True, private_only=False)
CLOSE = router.action("ho", "x", "ticket", staff_only=True, private_only=False)


async def _from_citizen(update: Update, context: Context, svc: Services, tickets: Tickets) -> None:
    """A citizen's message while their ticket is open: masked, then passed on to the staff."""
    message = update.message
    assert message is not None and message.from_user is not None
    lang = await svc.language(message.from_user)
    ticket = await svc.call(tickets.open_for, message.from_user.id)
    if ticket is None:  # closed meanwhile by staff: nothing to pass on
        await reply(
            update, svc.texts.render("handoff_nothing_open", lang), main_menu(svc.texts, lang)
        )
        return
    if not message.text:
        await reply(update, svc.texts.render("handoff_text_only", lang), _end_keyboard(svc, lang))
        return
    typed = clip(message.text, MAX_RELAY_CHARS)
    masked = redact(typed)
    delivered = 0
    for chat_id in destinations(svc):
        staff_lang_ = await _staff_lang(svc, chat_id)
        text = svc.texts.render(
            "handoff_to_staff",
            staff_lang_,
            ref=_ref(svc, ticket, staff_lang_),
            ticket=ticket["id"],
            lang=ticket["lang"],
            text=masked,
        )
        buttons = keyboard(
            [
                [
                    (svc.texts.get("btn_handoff_reply", staff_lang_), REPLY.data(ticket["id"])),
                    (svc.texts.get("btn_handoff_close", staff_lang_), CLOSE.data(ticket["id"])),
                ]
            ]
        )
        try:
            sent = await context.bot.send_message(chat_id, text, reply_markup=buttons)
        except TelegramError as exc:
            log.warning("handoff message to chat %s failed: %s", chat_id, exc)
            continue
        await svc.call(tickets.link, sent.chat_id, sent.message_id, ticket["id"])
        delivered += 1
    if not delivered:
        await reply(
            update,
            svc.texts.render("handoff_not_sent", lang, office=office_block(svc, lang)),
            _end_keyboard(svc, lang),
        )
        return
    await svc.call(tickets.count_message, ticket["id"])
    text = svc.texts.render("handoff_sent", lang)
    if masked != typed:
        text = Markup(svc.texts.render("handoff_masked", lang) + "\n" + text)
    await reply(update, text, _end_keyboard(svc, lang))


async def end_by_citizen(update: Update, context: Context) -> None:
    """The citizen's "Akhiri percakapan" button."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    lang = await svc.language(update.effective_user)
    tickets = await tickets_of(svc)
    ticket = await svc.call(tickets.open_for, query.from_user.id)
    closed = await svc.call(tickets.close, ticket["id"], actor=SYSTEM_ACTOR) if ticket else None
    if closed is None:
        await answer(query, svc.texts.get("handoff_nothing_open", lang), alert=True)
        await _drop_buttons(query.message)
        return
    await answer(query)
    await _drop_buttons(query.message)
    await svc.call(svc.stores.audit.record, SYSTEM_ACTOR, "handoff_close", closed["id"])
    await reply(update, svc.texts.render("handoff_ended", lang), main_menu(svc.texts, lang))
    await _tell_staff(context, svc, closed, "handoff_ended_staff")


async def _drop_buttons(message: Any) -> None:
    """Remove the keyboard of a message whose buttons no longer apply."""
    if isinstance(message, Message) and message.reply_markup is not None:
        try:
            await drop_buttons(message.get_bot(), message.chat_id, message.message_id)
        except TelegramError as exc:
            log.info("could not remove the buttons: %s", exc)


# -- the staff's side -----------------------------------------------------------------------------


async def _answer_citizen(update: Update, context: Context, svc: Services, ticket: Doc) -> None:
    """A staff member's reply to a ticket's message: pass it on to the citizen."""
    message = update.message
    assert message is not None and message.from_user is not None
    staff_id = message.from_user.id
    lang = await svc.language(message.from_user)
    if not svc.config.staff.is_staff(staff_id):
        await message.reply_text(svc.texts.get("handoff_staff_only_reply", lang))
        return
    if ticket["status"] != "open":
        text = svc.texts.render("handoff_ticket_closed", lang, ticket=ticket["id"])
        await message.reply_html(text)
        return
    if not message.text:
        await message.reply_text(svc.texts.get("handoff_staff_text_only", lang))
        return
    citizen_lang = ticket["lang"]
    text = svc.texts.render(
        "handoff_reply", citizen_lang, text=clip(message.text, MAX_RELAY_CHARS)
    )
    tickets = await tickets_of(svc)
    try:
        await context.bot.send_message(
            ticket["chat_id"],
            text,
            reply_markup=_end_keyboard(svc, citizen_lang),
        )
    except Forbidden:
        await svc.call(tickets.close, ticket["id"], actor=SYSTEM_ACTOR)
        await svc.call(svc.stores.audit.record, SYSTEM_ACTOR, "handoff_close", ticket["id"])
        await message.reply_html(
            svc.texts.render("handoff_undeliverable", lang, ticket=ticket["id"])
        )
        return
    await svc.call(svc.stores.audit.record, staff_id, "handoff_reply", ticket["id"])
    await message.reply_html(svc.texts.render("handoff_delivered", lang, ticket=ticket["id"]))


async def _close(update: Update, context: Context, svc: Services, ticket_id: str) -> bool:
    """Close a ticket on a staff member's request; False if it was already closed."""
    user = update.effective_user
    assert user is not None
    tickets = await tickets_of(svc)
    closed = await svc.call(tickets.close, ticket_id, actor=user.id)
    if closed is None:
        return False
    await svc.call(svc.stores.audit.record, user.id, "handoff_close", ticket_id)
    citizen_lang = closed["lang"]
    try:
        await context.bot.send_message(
            closed["chat_id"],
            svc.texts.render("handoff_closed_by_staff", citizen_lang),
            reply_markup=main_menu(svc.texts, citizen_lang),
        )
    except TelegramError as exc:
        log.info("the citizen of ticket %s was not told of the closing: %s", ticket_id, exc)
    lang = await svc.language(user)
    text = svc.texts.render(
        "handoff_closed_staff",
        lang,
        ticket=ticket_id,
        ref=_ref(svc, closed, lang),
        staff=user.first_name,
    )
    await reply(update, text)
    return True


async def staff_button(update: Update, context: Context, ticket_id: str, *, action: str) -> None:
    """ "Balas" (``ho:r:``) and "Tutup" (``ho:x:``) under a citizen's message (staff only, in
    the staff group or a staff member's private chat)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    lang = await svc.language(update.effective_user)
    tickets = await tickets_of(svc)
    ticket = await svc.call(tickets.get, ticket_id)
    if ticket is None:
        await answer(query, svc.texts.get("stale_button", lang), alert=True)
        return
    if ticket["status"] != "open":
        await answer(query, svc.texts.get("handoff_already_closed", lang), alert=True)
        await _drop_buttons(query.message)
        return
    await answer(query)
    if action == "x":
        await _drop_buttons(query.message)
        await _close(update, context, svc, ticket_id)
        return
    chat = update.effective_chat
    assert chat is not None
    prompt = svc.texts.render(
        "handoff_reply_prompt", lang, ticket=ticket_id, ref=_ref(svc, ticket, lang)
    )
    placeholder = svc.texts.get("handoff_reply_placeholder", lang)[:64]
    sent = await chat.send_message(
        prompt,
        reply_markup=ForceReply(input_field_placeholder=placeholder),
    )
    await svc.call(tickets.link, sent.chat_id, sent.message_id, ticket_id)


async def close_command(update: Update, context: Context) -> None:
    """/tutup as a reply to a ticket's message, or /tutup T-XXXXX."""
    lang = await staff_lang(update, context)
    if lang is None:
        raise ApplicationHandlerStop
    svc = services(context)
    message = update.message
    assert message is not None
    tickets = await tickets_of(svc)
    ticket = await _replied_ticket(message, context, svc, tickets)
    if ticket is None and context.args:
        ticket = await svc.call(tickets.get, context.args[0].upper())
        if ticket is None:
            text = svc.texts.render("handoff_unknown_ticket", lang, ticket=context.args[0])
            await reply(update, text)
            raise ApplicationHandlerStop
    if ticket is None:
        await reply(update, svc.texts.render("handoff_close_usage", lang))
    elif not await _close(update, context, svc, ticket["id"]):
        await reply(update, svc.texts.render("handoff_already_closed", lang))
    raise ApplicationHandlerStop


# -- routing --------------------------------------------------------------------------------------


def _is_command(message: Message) -> bool:
    entities = message.entities
    return bool(
        entities and entities[0].type == MessageEntityType.BOT_COMMAND and entities[0].offset == 0
    )


async def _replied_ticket(
    message: Message, context: Context, svc: Services, tickets: Tickets
) -> Doc | None:
    """The ticket of the bot message that ``message`` replies to, if any."""
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != context.bot.id:
        return None
    ticket: Doc | None = await svc.call(tickets.linked, message.chat_id, target.message_id)
    return ticket


async def relay(update: Update, context: Context) -> None:
    """Before every feature: staff answers to tickets, the staff group's own chatter, and the
    messages of citizens with an open ticket. Anything else goes on to the other handlers."""
    message = update.message
    if message is None or message.from_user is None:
        return
    svc = services(context)
    group = svc.config.staff.group_chat_id
    in_staff_group = group is not None and message.chat_id == group
    if message.chat.type != ChatType.PRIVATE and not in_staff_group:
        return
    tickets = await tickets_of(svc)
    ticket = await _replied_ticket(message, context, svc, tickets)
    if ticket is not None:
        await _answer_citizen(update, context, svc, ticket)
        raise ApplicationHandlerStop
    if _is_command(message):
        return
    if in_staff_group:
        raise ApplicationHandlerStop  # staff talking among themselves: not for the bot
    # A flow started after the ticket opened takes its own answers (a NIK is deleted there);
    # when it ends, the citizen's messages go to the staff again while the ticket is open.
    if flow.current(context) in (None, flow.HANDOFF) and tickets.has_open(message.from_user.id):
        await _from_citizen(update, context, svc, tickets)
        raise ApplicationHandlerStop


def register_early(app: Application) -> None:
    """Before every feature (group -1): /tutup, and the relay of open conversations."""
    group = app.bot_data["config"].staff.group_chat_id
    where: filters.BaseFilter = filters.ChatType.PRIVATE
    if group is not None:
        where = where | filters.Chat(chat_id=group)
    app.add_handler(CommandHandler("tutup", close_command, filters=where), group=RELAY_GROUP)
    app.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL, relay),
        group=RELAY_GROUP,
    )


def register(app: Application) -> None:
    """ "Hubungi petugas" (replacing the static contact text of the FAQ) and its buttons."""
    app.add_handler(CommandHandler("petugas", contact, filters=filters.ChatType.PRIVATE))


router.action("m", "contact").handles(pressed(contact))
router.action("ho", "end").handles(pressed(end_by_citizen))
REPLY.handles(functools.partial(staff_button, action="r"))
CLOSE.handles(functools.partial(staff_button, action="x"))
