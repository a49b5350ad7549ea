"""The follow-up desk: the work queue (``/antrian``), the call log, the next follow-up date,
assignment, staff names learned from Telegram, and each staff member's daily digest.

- ``/antrian`` lists what to do next (``desk.followup.build_queue``: never contacted, due or
  overdue, the rest), the staff member's own leads ("punya saya") or everyone's ("semua"); each
  line opens the lead card.
- From a card: record a contact attempt with its outcome (the status it moves is the table in
  :mod:`desk.followup`), then optionally a typed note on it; "minta ditelepon ulang" asks for
  the date (besok, lusa, +7 hari, or typed ``DD-MM-YYYY``), which becomes the next follow-up
  date; set or clear that date; take the lead (admins: give it to anyone on the staff, or to
  nobody). Every change is audited (who, what; never the note's text).
- Typed dates and notes are the staff member's active flow (``FOLLOWUP_PROMPT``), answered as
  a reply to the prompt or simply as the next message; a date that cannot be used is said so
  and asked again.
- At ``desk.digest_hour`` (the config's time zone) each staff member receives privately what
  is due for them: counts and the first few; nothing when nothing is due.
- A staff member's Telegram first name is remembered when they use the bot
  (``stores.staff_names``), so that cards and history say their name; ``staff.names`` in the
  config wins.

Callback data: see :mod:`bot.handlers.staff` (area ``fu``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date, time
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import flow
from bot.handlers.followup_card import follow_up_text, relative_day, staff_name
from bot.handlers.leads import REG_NO, _card_keyboard, _card_text
from bot.handlers.staff import (
    ASSIGN,
    ASSIGN_TO,
    AUDIT,
    CALL_BACK,
    CALL_BACK_PROMPT,
    CARD,
    CONTACT,
    CONTACT_NOTE,
    OUTCOME,
    PROMPT_GROUP,
    QUEUE,
    QUEUE_CARD,
    SCHEDULE,
    SCHEDULE_PROMPT,
    SCHEDULE_SET,
    Context,
    audit,
    group_command,
    handles,
    position,
    shorten,
    staff_lang,
)
from bot.i18n import Markup, Texts
from bot.routing import CallbackDataError, Stale
from bot.services import Services, services
from bot.ui import Button, answer, button, keyboard, reply, show
from desk import labels as desk_labels
from desk.followup import (
    DATE_PRESETS,
    DUE,
    NEW,
    OUTCOMES,
    REST,
    Digest,
    FollowUpDateError,
    QueueItem,
    build_digests,
    build_queue,
    labels,
    outcome_effect,
    outcome_labels,
    parse_follow_up_date,
    preset_date,
)
from screening.identity import format_phone
from store import NotFoundError, clock
from store.clock import format_date, format_local

log = logging.getLogger(__name__)

FOLLOWUP_PROMPT = flow.define("desk_followup_prompt")
#: Before every other handler: remember a staff member's Telegram first name.
NAMES_GROUP = -5
QUEUE_PER_PAGE = 8
MAX_NOTE_CHARS = 1000
MAX_DATE_TRIES = 3
MINE, ALL = "m", "a"
NOBODY, ME = "0", "m"
DIGEST_JOB = "desk-digest"


# -- the queue ------------------------------------------------------------------------------------


def _queue_detail(
    texts: Texts, item: QueueItem, lang: str, today: date, names: Mapping[int, str], everyone: bool
) -> str:
    row = item.row
    if item.section == NEW:
        detail = texts.get("fu_queue_new", lang).format(
            date=format_local(row.created_at, "%d-%m-%Y")
        )
    elif item.section == DUE:
        day = date.fromisoformat(row.next_follow_up or today.isoformat())
        detail = texts.get("fu_queue_due", lang).format(
            date=format_date(day), when=relative_day(texts, day, today, lang)
        )
    else:
        detail = texts.get("fu_queue_rest", lang).format(
            count=row.attempts,
            when=follow_up_text(texts, row.next_follow_up, today, lang),
        )
    if everyone and row.assigned_to is not None:
        holder = staff_name(texts, names, row.assigned_to, lang)
        detail += texts.get("fu_queue_holder", lang).format(name=holder)
    return detail


async def queue_screen(
    svc: Services, lang: str, viewer: int, scope: str, page: int
) -> tuple[Markup, InlineKeyboardMarkup]:
    """One page of the queue, "mine" (``m``) or "all" (``a``)."""
    if scope not in (MINE, ALL):
        raise Stale(scope)
    texts, today = svc.texts, clock.today()
    rows = await svc.call(svc.stores.registrations.follow_up_rows)
    items = build_queue(rows, today, assigned_to=viewer if scope == MINE else None)
    names = await svc.staff_names()
    pages = max(1, math.ceil(len(items) / QUEUE_PER_PAGE))
    page = min(page, pages - 1)
    start = page * QUEUE_PER_PAGE
    shown = items[start : start + QUEUE_PER_PAGE]
    counts = {s: sum(1 for i in items if i.section == s) for s in (NEW, DUE, REST)}
    title = texts.render(
        "fu_queue_title",
        lang,
        scope=texts.get(f"fu_scope_{scope}", lang),
        new=counts[NEW],
        due=counts[DUE],
        rest=counts[REST],
        page=page + 1,
        pages=pages,
    )
    sections = labels("sections", lang)
    lines: list[str] = []
    current = None
    for number, item in enumerate(shown, start=start + 1):
        if item.section != current:
            current = item.section
            lines.append(texts.render(f"fu_section_{current}", lang, label=sections[current]))
        lines.append(
            texts.render(
                "fu_queue_line",
                lang,
                number=number,
                reg_no=item.row.reg_no,
                name=item.row.name or "-",
                detail=_queue_detail(texts, item, lang, today, names, scope == ALL),
            )
        )
    empty_key = "fu_queue_empty_mine" if scope == MINE else "fu_queue_empty"
    body = "\n".join(lines) if lines else texts.render(empty_key, lang)
    rows_: list[list[Button]] = [
        [
            (
                f"{number}. {item.row.reg_no} · {shorten(item.row.name or '-', 24)}",
                QUEUE_CARD.data(item.row.reg_no, scope, page),
            )
        ]
        for number, item in enumerate(shown, start=start + 1)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), QUEUE.data(scope, page - 1)))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), QUEUE.data(scope, page + 1)))
    rows_.append(nav)
    other = ALL if scope == MINE else MINE
    rows_.append([(texts.get(f"btn_fu_scope_{other}", lang), QUEUE.data(other, 0))])
    return Markup(f"{title}\n\n{body}"), keyboard(rows_)


async def queue_command(update: Update, context: Context) -> None:
    """/antrian [semua]: the follow-up queue, the staff member's own leads first."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    user = update.effective_user
    assert user is not None
    args = [a.lower() for a in context.args or []]
    scope = ALL if args and args[0] in ("semua", "all", "a") else MINE
    text, markup = await queue_screen(services(context), lang, user.id, scope, 0)
    await reply(update, text, markup)


@handles(QUEUE)
async def _queue(update: Update, context: Context, lang: str, scope: str, page: str) -> None:
    if not page.isdigit():
        raise Stale(page)
    user = update.effective_user
    assert user is not None
    text, markup = await queue_screen(services(context), lang, user.id, scope, int(page))
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(QUEUE_CARD)
async def _queue_card(
    update: Update, context: Context, lang: str, reg_no: str, scope: str, page: str
) -> None:
    """A lead card from the queue, with a button back to the queue."""
    if scope not in (MINE, ALL) or not page.isdigit():
        raise Stale(page)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    await answer(update.callback_query)
    back = (svc.texts.get("btn_fu_back_to_queue", lang), QUEUE.data(scope, page))
    await _card(update, svc, record, lang, (0, ""), back=back)


# -- common: a lead, its card ---------------------------------------------------------------------


async def _lead(update: Update, svc: Services, reg_no: str, lang: str) -> dict[str, Any] | None:
    if not REG_NO.fullmatch(reg_no):
        raise Stale(reg_no)
    record: dict[str, Any] | None = await svc.call(svc.stores.registrations.get, reg_no)
    if record is None or "anonymised_at" in record:
        if update.callback_query is not None:
            await answer(update.callback_query, svc.texts.get("staff_gone", lang), alert=True)
        else:
            await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
        return None
    return record


async def _card(
    update: Update,
    svc: Services,
    record: Mapping[str, Any],
    lang: str,
    at: tuple[int, str],
    *,
    done: Markup | None = None,
    first_row: list[Button] | None = None,
    back: Button | None = None,
) -> None:
    """The card again (edited in place after a button, sent after a typed answer), with what
    was just done above it."""
    user = update.effective_user
    text = await _card_text(svc, record, lang, user.id if user else 0)
    if done:
        text = Markup(done + "\n\n" + text)
    markup = _card_keyboard(svc.texts, record, lang, at)
    if first_row:
        extra = [button(label, data) for label, data in first_row]
        markup = InlineKeyboardMarkup([extra, *markup.inline_keyboard])
    if back:  # instead of the card's own "back to the list"
        markup = InlineKeyboardMarkup([*markup.inline_keyboard[:-1], [button(*back)]])
    if update.callback_query is not None:
        await show(update, text, markup)
    else:
        await reply(update, text, markup)


async def _prompt(
    update: Update,
    context: Context,
    lang: str,
    kind: str,
    record: Mapping[str, Any],
    at: tuple[int, str],
    **extra: Any,
) -> None:
    svc = services(context)
    reg_no = record["reg_no"]
    text = svc.texts.render(f"fu_prompt_{kind}", lang, reg_no=reg_no)
    chat = update.effective_chat
    assert chat is not None
    placeholder = svc.texts.get(f"fu_placeholder_{kind}", lang)[:64]
    sent = await chat.send_message(
        text, reply_markup=ForceReply(input_field_placeholder=placeholder)
    )
    state = {
        "kind": kind,
        "reg_no": reg_no,
        "ctx": f"{at[0]}:{at[1]}",
        "message_id": sent.message_id,
        **extra,
    }
    await flow.begin(update, context, FOLLOWUP_PROMPT, state)


# -- the call log ---------------------------------------------------------------------------------


def contact_screen(
    texts: Texts, record: Mapping[str, Any], lang: str, at: tuple[int, str]
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The outcomes of a contact attempt."""
    reg_no = record["reg_no"]
    outcomes = outcome_labels(lang)
    buttons: list[Button] = [
        (texts.get(f"btn_fu_outcome_{o}", lang), OUTCOME.data(reg_no, i, *at))
        for i, o in enumerate(OUTCOMES)
    ]
    assert set(outcomes) == set(OUTCOMES)
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))])
    phone = record.get("phone")
    text = texts.render(
        "fu_contact_title",
        lang,
        reg_no=reg_no,
        name=record.get("full_name") or "-",
        phone=format_phone(phone) if phone else "-",
        attempts=len(record.get("contacts") or ()),
    )
    return text, keyboard(rows)


def call_back_screen(
    texts: Texts, record: Mapping[str, Any], lang: str, at: tuple[int, str], today: date
) -> tuple[Markup, InlineKeyboardMarkup]:
    """When to call back: besok, lusa, +7 hari, or a typed date."""
    reg_no = record["reg_no"]
    rows: list[list[Button]] = [
        [
            (
                texts.get(f"btn_fu_preset_{key}", lang).format(
                    date=format_date(preset_date(key, today))
                ),
                CALL_BACK.data(reg_no, i, *at),
            )
        ]
        for i, (key, _) in enumerate(DATE_PRESETS)
    ]
    rows.append([(texts.get("btn_fu_type_date", lang), CALL_BACK_PROMPT.data(reg_no, *at))])
    rows.append([(texts.get("btn_staff_back", lang), CONTACT.data(reg_no, *at))])
    return texts.render("fu_call_back_title", lang, reg_no=reg_no), keyboard(rows)


async def record_contact(
    update: Update,
    svc: Services,
    lang: str,
    reg_no: str,
    outcome: str,
    at: tuple[int, str],
    callback_on: date | None = None,
) -> None:
    """Record the attempt with its effect (``desk.followup.outcome_effect``), audit it, and
    show the card with a button to add a note to this attempt."""
    user = update.effective_user
    assert user is not None
    today = clock.today()
    try:
        record, effect = await svc.call(
            svc.stores.registrations.record_contact,
            reg_no,
            outcome,
            actor=user.id,
            callback_on=callback_on,
            decide=lambda r: outcome_effect(r, outcome, today, callback_on),
        )
    except NotFoundError:
        if update.callback_query is not None:
            await answer(update.callback_query, svc.texts.get("staff_gone", lang), alert=True)
        else:
            await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
        return
    index = len(record["contacts"]) - 1
    details: dict[str, Any] = {"outcome": outcome, "attempt": index + 1}
    if callback_on is not None:
        details["callback_on"] = callback_on.isoformat()
    if not effect.keep_follow_up:
        details["next_follow_up"] = record.get("next_follow_up")
    await audit(svc, user.id, "lead_contact", reg_no, **details)
    texts = svc.texts
    label = outcome_labels(lang)[outcome]
    done = texts.render("fu_contact_saved", lang, outcome=label, count=index + 1)
    if effect.status is not None:
        moved = next(h for h in reversed(record["history"]) if h.get("change") == "status")
        status_details = {"from": moved["from"], "to": effect.status, "via": "contact"}
        if effect.reason:
            status_details["reason"] = effect.reason
        await audit(svc, user.id, "lead_status", reg_no, **status_details)
        status = desk_labels("statuses", lang).get(effect.status, effect.status)
        done = Markup(done + "\n" + texts.render("fu_contact_status", lang, status=status))
    if not effect.keep_follow_up:
        when = follow_up_text(texts, record.get("next_follow_up"), today, lang)
        done = Markup(done + "\n" + texts.render("fu_contact_next", lang, when=when))
    if update.callback_query is not None:
        await answer(update.callback_query, texts.get("fu_contact_saved_short", lang))
    note_button = (texts.get("btn_fu_contact_note", lang), CONTACT_NOTE.data(reg_no, index, *at))
    await _card(update, svc, record, lang, at, done=done, first_row=[note_button])


@handles(CONTACT)
async def _contact(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    text, markup = contact_screen(svc.texts, record, lang, at)
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(OUTCOME)
async def _outcome(
    update: Update, context: Context, lang: str, reg_no: str, index: str, page: str, code: str
) -> None:
    at = position(page, code)
    if not index.isdigit() or int(index) >= len(OUTCOMES):
        raise Stale(index)
    outcome = OUTCOMES[int(index)]
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    if outcome == "call_back":
        text, markup = call_back_screen(svc.texts, record, lang, at, clock.today())
        await answer(update.callback_query)
        await show(update, text, markup)
        return
    await record_contact(update, svc, lang, reg_no, outcome, at)


def _preset(index: str) -> str:
    if not index.isdigit() or int(index) >= len(DATE_PRESETS):
        raise Stale(index)
    return DATE_PRESETS[int(index)][0]


@handles(CALL_BACK)
async def _call_back(
    update: Update, context: Context, lang: str, reg_no: str, index: str, page: str, code: str
) -> None:
    at = position(page, code)
    day = preset_date(_preset(index), clock.today())
    await record_contact(update, services(context), lang, reg_no, "call_back", at, day)


@handles(CALL_BACK_PROMPT)
async def _call_back_prompt(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    """Ask for the typed date to call back."""
    at = position(page, code)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    await answer(update.callback_query)
    await _prompt(update, context, lang, "call_back", record, at)


@handles(CONTACT_NOTE)
async def _contact_note(
    update: Update, context: Context, lang: str, reg_no: str, index: str, page: str, code: str
) -> None:
    """Ask for a typed note on a contact attempt."""
    at = position(page, code)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    if not index.isdigit() or int(index) >= len(record.get("contacts") or ()):
        raise Stale(index)
    await answer(update.callback_query)
    await _prompt(update, context, lang, "contact_note", record, at, contact=int(index))


# -- the next follow-up date ----------------------------------------------------------------------


def schedule_screen(
    texts: Texts, record: Mapping[str, Any], lang: str, at: tuple[int, str], today: date
) -> tuple[Markup, InlineKeyboardMarkup]:
    """Set the next follow-up date: presets, typed, or clear it."""
    reg_no = record["reg_no"]
    rows: list[list[Button]] = [
        [
            (
                texts.get(f"btn_fu_preset_{key}", lang).format(
                    date=format_date(preset_date(key, today))
                ),
                SCHEDULE_SET.data(reg_no, i, *at),
            )
        ]
        for i, (key, _) in enumerate(DATE_PRESETS)
    ]
    rows.append([(texts.get("btn_fu_type_date", lang), SCHEDULE_PROMPT.data(reg_no, *at))])
    if record.get("next_follow_up"):
        rows.append([(texts.get("btn_fu_clear_date", lang), SCHEDULE_SET.data(reg_no, "x", *at))])
    rows.append([(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))])
    when = follow_up_text(texts, record.get("next_follow_up"), today, lang)
    return texts.render("fu_schedule_title", lang, reg_no=reg_no, when=when), keyboard(rows)


async def set_follow_up(
    update: Update, svc: Services, lang: str, reg_no: str, day: date | None, at: tuple[int, str]
) -> None:
    user = update.effective_user
    assert user is not None
    try:
        record = await svc.call(svc.stores.registrations.set_follow_up, reg_no, day, actor=user.id)
    except NotFoundError:
        await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
        return
    await audit(svc, user.id, "lead_follow_up", reg_no, on=day.isoformat() if day else None)
    when = follow_up_text(svc.texts, record.get("next_follow_up"), clock.today(), lang)
    done = svc.texts.render("fu_schedule_saved", lang, when=when)
    if update.callback_query is not None:
        await answer(update.callback_query, svc.texts.get("fu_schedule_saved_short", lang))
    await _card(update, svc, record, lang, at, done=done)


@handles(SCHEDULE)
async def _schedule(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    text, markup = schedule_screen(svc.texts, record, lang, at, clock.today())
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(SCHEDULE_SET)
async def _schedule_set(
    update: Update, context: Context, lang: str, reg_no: str, index: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    if await _lead(update, svc, reg_no, lang) is None:
        return
    day = None if index == "x" else preset_date(_preset(index), clock.today())
    await set_follow_up(update, svc, lang, reg_no, day, at)


@handles(SCHEDULE_PROMPT)
async def _schedule_prompt(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    """Ask for the typed next follow-up date."""
    at = position(page, code)
    svc = services(context)
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    await answer(update.callback_query)
    await _prompt(update, context, lang, "follow_up", record, at)


# -- assignment -----------------------------------------------------------------------------------


def _fitting(action_data: Any, reg_no: str, target: str, at: tuple[int, str]) -> str:
    """The button's data with the list position, or without it when a long filter code and a
    long user id would not fit Telegram's 64 bytes (the card then goes back to the list)."""
    try:
        data: str = action_data(reg_no, target, *at)
    except CallbackDataError:
        data = action_data(reg_no, target, 0, "")
    return data


def assign_screen(
    texts: Texts,
    record: Mapping[str, Any],
    lang: str,
    at: tuple[int, str],
    viewer: int,
    admin: bool,
    staff: list[int],
    names: Mapping[int, str],
) -> tuple[Markup, InlineKeyboardMarkup]:
    """Take the lead, release it, or (admins) give it to anyone on the staff."""
    reg_no = record["reg_no"]
    holder = record.get("assigned_to")
    rows: list[list[Button]] = []
    if holder != viewer and (holder is None or admin):
        rows.append([(texts.get("btn_fu_take", lang), ASSIGN_TO.data(reg_no, ME, *at))])
    if holder is not None and (holder == viewer or admin):
        rows.append([(texts.get("btn_fu_release", lang), ASSIGN_TO.data(reg_no, NOBODY, *at))])
    if admin:
        others = [u for u in staff if u not in (viewer, holder)]
        others.sort(key=lambda u: (staff_name(texts, names, u, lang).lower(), u))
        rows += [
            [
                (
                    texts.get("btn_fu_give", lang).format(
                        name=staff_name(texts, names, u, lang)[:48]
                    ),
                    _fitting(ASSIGN_TO.data, reg_no, str(u), at),
                )
            ]
            for u in others
        ]
    rows.append([(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))])
    key = "fu_assign_title" if admin or holder in (None, viewer) else "fu_assign_taken"
    text = texts.render(key, lang, reg_no=reg_no, name=staff_name(texts, names, holder, lang))
    return text, keyboard(rows)


@handles(ASSIGN)
async def _assign(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    user = update.effective_user
    assert user is not None
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    staff = sorted(svc.config.staff.everyone)
    admin = svc.config.staff.is_admin(user.id)
    names = await svc.staff_names()
    text, markup = assign_screen(svc.texts, record, lang, at, user.id, admin, staff, names)
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(ASSIGN_TO)
async def _assign_to(
    update: Update, context: Context, lang: str, reg_no: str, target: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    record = await _lead(update, svc, reg_no, lang)
    if record is None:
        return
    staff = svc.config.staff
    admin = staff.is_admin(user.id)
    holder = record.get("assigned_to")
    if target == ME:
        new: int | None = user.id
        allowed = holder in (None, user.id) or admin
    elif target == NOBODY:
        new = None
        allowed = holder in (None, user.id) or admin
    elif target.isdigit() and staff.is_staff(int(target)):
        new = int(target)
        allowed = admin
    else:
        raise Stale(target)
    if not allowed:
        await answer(query, svc.texts.get("fu_assign_admins_only", lang), alert=True)
        return
    updated = await svc.call(svc.stores.registrations.assign, reg_no, new, actor=user.id)
    if holder != new:
        await audit(svc, user.id, "lead_assign", reg_no, to=new, **{"from": holder})
    names = await svc.staff_names()
    name = staff_name(svc.texts, names, new, lang)
    await answer(query, svc.texts.get("fu_assigned_short", lang).format(name=name))
    await _card(update, svc, updated, lang, at)


# -- the audit trail -----------------------------------------------------------------------------

AUDIT_SHOWN = 15


def audit_line_text(
    texts: Texts, entry: Mapping[str, Any], lang: str, names: Mapping[int, str]
) -> str:
    """What one audit line of a lead says, staff by name (plain text)."""
    action = entry.get("action") or ""
    details: Mapping[str, Any] = entry.get("details") or {}
    key = f"fu_audit_{action}"
    if action == "lead_status":
        statuses = desk_labels("statuses", lang)
        old, new = details.get("from") or "", details.get("to") or ""
        return texts.get(key, lang).format(old=statuses.get(old, old), new=statuses.get(new, new))
    if action == "lead_contact":
        outcome = details.get("outcome") or ""
        return texts.get(key, lang).format(
            attempt=details.get("attempt") or "?",
            outcome=outcome_labels(lang).get(outcome, outcome),
        )
    if action == "lead_follow_up":
        value = details.get("on")
        if not value:
            return texts.get(key, lang).format(date=texts.get("fu_no_follow_up", lang))
        return texts.get(key, lang).format(date=format_date(date.fromisoformat(value)))
    if action == "lead_assign":
        return texts.get(key, lang).format(
            old=staff_name(texts, names, details.get("from"), lang),
            new=staff_name(texts, names, details.get("to"), lang),
        )
    if action in ("lead_note", "lead_contact_note"):
        return texts.get(key, lang)
    return texts.get("fu_audit_other", lang).format(action=action)


def audit_screen(
    texts: Texts,
    reg_no: str,
    entries: list[dict[str, Any]],
    lang: str,
    at: tuple[int, str],
    names: Mapping[int, str],
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The latest audit lines about a lead, newest first."""
    lines = [
        texts.render(
            "fu_audit_line",
            lang,
            at=format_local(entry.get("at")),
            who=(
                staff_name(texts, names, entry.get("actor"), lang)
                if entry.get("actor")
                else texts.get("fu_who_system", lang)
            ),
            what=audit_line_text(texts, entry, lang, names),
        )
        for entry in entries[:AUDIT_SHOWN]
    ]
    if len(entries) > AUDIT_SHOWN:
        lines.append(texts.render("fu_audit_more", lang, count=len(entries) - AUDIT_SHOWN))
    title = texts.render("fu_audit_title", lang, reg_no=reg_no, count=len(entries))
    body = "\n".join(lines) if lines else texts.render("fu_audit_none", lang)
    back = [[(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))]]
    return Markup(f"{title}\n\n{body}"), keyboard(back)


@handles(AUDIT)
async def _audit(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    if await _lead(update, svc, reg_no, lang) is None:
        return
    entries = await svc.call(svc.stores.audit.list, reg_no, 1000)
    names = await svc.staff_names()
    text, markup = audit_screen(svc.texts, reg_no, entries, lang, at, names)
    await answer(update.callback_query)
    await show(update, text, markup)


# -- typed answers: a contact's note, a date ------------------------------------------------------


async def prompt_reply(update: Update, context: Context) -> None:
    """A note or a date typed after its prompt (as a reply to it, or as the next message)."""
    message = update.message
    svc = services(context)
    if message is None or message.from_user is None:
        return
    if not svc.config.staff.is_staff(message.from_user.id):
        return
    prompt = flow.state(context, FOLLOWUP_PROMPT)
    target = message.reply_to_message
    if prompt is None or (target is not None and target.message_id != prompt["message_id"]):
        return  # a reply to another message: not this prompt's answer
    prompt = dict(prompt)
    lang = await svc.language(message.from_user)
    text = (message.text or "").strip()
    if not text:
        await reply(update, svc.texts.render("staff_prompt_empty", lang))
        raise ApplicationHandlerStop
    page, _, code = prompt["ctx"].partition(":")
    at = (int(page), code) if page.isdigit() else (0, "")
    reg_no, actor, kind = prompt["reg_no"], message.from_user.id, prompt["kind"]
    if kind == "contact_note":
        await flow.end(update, context, FOLLOWUP_PROMPT)  # a prompt is answered once
        try:
            record = await svc.call(
                svc.stores.registrations.annotate_contact,
                reg_no,
                int(prompt["contact"]),
                text[:MAX_NOTE_CHARS],
                actor=actor,
            )
        except (NotFoundError, IndexError):
            await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
            raise ApplicationHandlerStop from None
        await audit(
            svc, actor, "lead_contact_note", reg_no, contact=prompt["contact"], length=len(text)
        )
        done = svc.texts.render("fu_contact_note_saved", lang, reg_no=reg_no)
        await _card(update, svc, record, lang, at, done=done)
        raise ApplicationHandlerStop
    try:
        day = parse_follow_up_date(text, clock.today())
    except FollowUpDateError as error:
        # The prompt stays open for another try; after MAX_DATE_TRIES it gives up, so that a
        # staff member who moved on is not stuck in it.
        problem = svc.texts.render(f"fu_bad_date_{error.code}", lang, value=text[:40])
        tries = int(prompt.get("tries", 0)) + 1
        if tries >= MAX_DATE_TRIES:
            await flow.end(update, context, FOLLOWUP_PROMPT)
            problem = Markup(problem + "\n" + svc.texts.render("fu_bad_date_gave_up", lang))
        else:
            await flow.put(update, context, FOLLOWUP_PROMPT, {**prompt, "tries": tries})
        await reply(update, problem)
        raise ApplicationHandlerStop from None
    await flow.end(update, context, FOLLOWUP_PROMPT)
    if kind == "call_back":
        await record_contact(update, svc, lang, reg_no, "call_back", at, day)
    else:
        await set_follow_up(update, svc, lang, reg_no, day, at)
    raise ApplicationHandlerStop


async def cancel_prompt(update: Update, context: Context) -> None:
    """/batal while this desk's prompt is open: close it, nothing saved."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await flow.end(update, context, FOLLOWUP_PROMPT)
    await reply(update, svc.texts.render("fu_prompt_cancelled", lang))
    raise ApplicationHandlerStop


# -- the daily digest -----------------------------------------------------------------------------


def _open(item: QueueItem) -> str:
    return CARD.data(item.row.reg_no, 0, "")


def digest_message(
    texts: Texts, digest: Digest, lang: str, today: date
) -> tuple[Markup, InlineKeyboardMarkup]:
    """A staff member's digest: counts, the first few to do, buttons to open them."""
    parts = [texts.render("fu_digest_title", lang, date=format_date(today))]
    if digest.due:
        parts.append(
            texts.render("fu_digest_due", lang, count=len(digest.due), overdue=digest.overdue)
        )
    if digest.new:
        parts.append(texts.render("fu_digest_new", lang, count=len(digest.new)))
    first = digest.first()
    for item in first:
        parts.append(
            texts.render(
                "fu_digest_line",
                lang,
                reg_no=item.row.reg_no,
                name=item.row.name or "-",
                detail=_queue_detail(texts, item, lang, today, {}, everyone=False),
            )
        )
    if digest.unassigned_due or digest.unassigned_new:
        parts.append(
            texts.render(
                "fu_digest_pool", lang, due=digest.unassigned_due, new=digest.unassigned_new
            )
        )
    rows: list[list[Button]] = [
        [
            (
                f"{item.row.reg_no} · {shorten(item.row.name or '-', 24)}",
                CARD.data(item.row.reg_no, 0, ""),
            )
        ]
        for item in first
    ]
    scope = MINE if (digest.due or digest.new) else ALL
    rows.append([(texts.get("btn_fu_open_queue", lang), QUEUE.data(scope, 0))])
    return Markup("\n".join(parts)), keyboard(rows)


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Daily at ``desk.digest_hour``: each staff member privately, what is due for them."""
    svc: Services = context.bot_data["services"]
    today = clock.today()
    rows = await svc.call(svc.stores.registrations.follow_up_rows)
    digests = build_digests(rows, sorted(svc.config.staff.everyone), today)
    sent = failed = 0
    for user_id, digest in digests.items():
        if digest.empty:
            continue
        stored = await svc.call(svc.stores.users.language, user_id)
        lang = stored or svc.config.default_language
        text, markup = digest_message(svc.texts, digest, lang, today)
        try:
            await context.bot.send_message(user_id, text, reply_markup=markup)
            sent += 1
        except TelegramError as exc:  # never started the bot, blocked it...
            failed += 1
            log.info("the follow-up digest could not reach a staff member: %s", exc)
    log.info("follow-up digest: %d sent, %d failed", sent, failed)


# -- names ----------------------------------------------------------------------------------------


async def learn_name(update: object, context: Context) -> None:
    """Every update: a staff member's Telegram first name, remembered when it is new."""
    if not isinstance(update, Update) or update.effective_user is None:
        return
    svc = context.bot_data.get("services")
    if svc is None:
        return
    try:
        await svc.learn_staff_name(update.effective_user)
    except Exception as exc:  # a name is a nicety: never in the way of the update itself
        log.warning("a staff name could not be kept: %s", exc)


# -- registration ---------------------------------------------------------------------------------


def register_early(app: Application) -> None:
    """Before every feature: learn staff names (group -5); replies to this desk's prompts and
    /antrian typed in a group (group -2)."""
    app.add_handler(TypeHandler(Update, learn_name), group=NAMES_GROUP)
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGE
            & filters.ChatType.PRIVATE
            & flow.Active(app, FOLLOWUP_PROMPT)
            & filters.TEXT
            & ~filters.COMMAND,
            prompt_reply,
        ),
        group=PROMPT_GROUP,
    )
    app.add_handler(
        CommandHandler(
            "batal",
            cancel_prompt,
            filters=filters.ChatType.PRIVATE & flow.Active(app, FOLLOWUP_PROMPT),
        ),
        group=PROMPT_GROUP,
    )
    app.add_handler(
        CommandHandler("antrian", group_command, filters=filters.ChatType.GROUPS),
        group=PROMPT_GROUP,
    )


def register(app: Application) -> None:
    """/antrian in private chats, and the daily digest (the buttons are the router's)."""
    app.add_handler(CommandHandler("antrian", queue_command, filters=filters.ChatType.PRIVATE))
    if app.job_queue is not None:
        config = app.bot_data["config"]
        at = time(hour=config.desk.digest_hour, tzinfo=config.tz)
        app.job_queue.run_daily(digest_job, at, name=DIGEST_JOB)
