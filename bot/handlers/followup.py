"""The follow-up desk on a lead card: the call log, the next follow-up date, assignment, the
lead's audit trail, and staff names learned from Telegram. The work queue (``/antrian``) and the
daily digest are :mod:`bot.handlers.queue`.

- From a card: record a contact attempt with its outcome (the status it moves is the table in
  :mod:`desk.followup`), then optionally a typed note on it; "minta ditelepon ulang" asks for
  the date (besok, lusa, +7 hari, or typed ``DD-MM-YYYY``), which becomes the next follow-up
  date; set or clear that date. Taking a lead and its audit trail are
  :mod:`bot.handlers.assign`. Every change is audited (who, what; never the note's text).
- Typed dates and notes are the staff member's active flow (``FOLLOWUP_PROMPT``), answered as
  a reply to the prompt or simply as the next message; a date that cannot be used is said so
  and asked again.
- A staff member's Telegram first name is remembered when they use the bot
  (``stores.staff_names``), so that cards and history say their name; ``staff.names`` in the
  config wins.

Callback data: see :mod:`bot.handlers.staff` (area ``fu``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    TypeHandler,
    filters,
)

from bot import flow
from bot.handlers.followup_card import follow_up_text
from bot.handlers.leads import REG_NO, _card_keyboard, _card_text
from bot.handlers.staff import (
    CALL_BACK,
    CALL_BACK_PROMPT,
    CARD,
    CONTACT,
    CONTACT_NOTE,
    OUTCOME,
    PROMPT_GROUP,
    SCHEDULE,
    SCHEDULE_PROMPT,
    SCHEDULE_SET,
    Context,
    add_prompt_handler,
    audit,
    handles,
    position,
    prompt_answer,
)
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, button, keyboard, reply, show
from desk import labels as desk_labels
from desk.followup import (
    DATE_PRESETS,
    OUTCOMES,
    FollowUpDateError,
    outcome_effect,
    outcome_labels,
    parse_follow_up_date,
    preset_date,
)
from screening.identity import format_phone
from store import NotFoundError, clock
from store.clock import format_date

log = logging.getLogger(__name__)

FOLLOWUP_PROMPT = flow.define("desk_followup_prompt")
#: Before every other handler: remember a staff member's Telegram first name.
NAMES_GROUP = -5
MAX_NOTE_CHARS = 1000
MAX_DATE_TRIES = 3


# -- common: a lead, its card ---------------------------------------------------------------------


async def lead_of(update: Update, svc: Services, reg_no: str, lang: str) -> dict[str, Any] | None:
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


async def show_card(
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
    await show_card(update, svc, record, lang, at, done=done, first_row=[note_button])


@handles(CONTACT)
async def _contact(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await lead_of(update, svc, reg_no, lang)
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
    record = await lead_of(update, svc, reg_no, lang)
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
    record = await lead_of(update, svc, reg_no, lang)
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
    record = await lead_of(update, svc, reg_no, lang)
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
    await show_card(update, svc, record, lang, at, done=done)


@handles(SCHEDULE)
async def _schedule(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await lead_of(update, svc, reg_no, lang)
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
    if await lead_of(update, svc, reg_no, lang) is None:
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
    record = await lead_of(update, svc, reg_no, lang)
    if record is None:
        return
    await answer(update.callback_query)
    await _prompt(update, context, lang, "follow_up", record, at)


# -- typed answers: a contact's note, a date ------------------------------------------------------


async def prompt_reply(update: Update, context: Context) -> None:
    """A note or a date typed after its prompt (as a reply to it, or as the next message)."""
    prompt = prompt_answer(update, context, FOLLOWUP_PROMPT)
    message = update.message
    if prompt is None or message is None or message.from_user is None:
        return
    svc = services(context)
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
        await show_card(update, svc, record, lang, at, done=done)
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
    """Before every feature: learn staff names (group -5); replies to this desk's prompts
    (group -2)."""
    app.add_handler(TypeHandler(Update, learn_name), group=NAMES_GROUP)
    add_prompt_handler(app, FOLLOWUP_PROMPT, prompt_reply)
    app.add_handler(
        CommandHandler(
            "batal",
            cancel_prompt,
            filters=filters.ChatType.PRIVATE & flow.Active(app, FOLLOWUP_PROMPT),
        ),
        group=PROMPT_GROUP,
    )
