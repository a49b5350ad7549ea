"""Pre-registration (/daftar): what the citizen presses and types, step by step.

The form itself (its steps, questions, buttons, summary and saving) is
:mod:`bot.handlers.registration_form`; this module starts it, applies each ``reg:`` button (one
handler per declared action; a button of another step is answered as stale by the router) and
takes the typed answers: consent, name, NIK, phone, kecamatan/kelurahan, programmes, training,
e-mail.

The NIK message is deleted before anything else and the NIK is only ever shown masked.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import BadRequest
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot import flow
from bot.handlers.faq import answer_text
from bot.handlers.registration_form import (
    CANCEL,
    CONFLICT,
    CONSENT,
    CONSENT_PURPOSE,
    CONSENT_VERSION,
    DOMICILE,
    DONE,
    EDIT,
    EMAIL,
    FIELD,
    FIELD_STEPS,
    GUARDIAN,
    GUARDIAN_CONSENT_VERSION,
    KECAMATAN,
    KECAMATAN_BACK,
    KELURAHAN,
    PROGRAMME,
    PROGRAMMES,
    SAVED_FIELDS,
    SEND,
    START,
    STEPS,
    SUMMARY,
    TRAINING,
    YES,
    Flow,
    Turn,
    ask,
    clean_name,
    drop_pressed_buttons,
    edit_menu,
    looks_like_question,
    nik_taken,
    phone_keyboard,
    prompt,
    send_registration,
    turn,
)
from bot.i18n import Markup, escape
from bot.menu import main_menu
from bot.routing import Handler, Stale
from bot.services import services
from bot.ui import ReplyMarkup, answer, keyboard, reply, show
from screening.identity import (
    InvalidEmail,
    InvalidNik,
    InvalidPhone,
    email_error_text,
    format_phone,
    load_wilayah,
    mask_nik,
    nik_conflicts,
    nik_error_text,
    parse_email,
    parse_nik,
    parse_phone,
    phone_error_text,
)
from screening.minors import GUARDIAN_RELATIONSHIPS, guardian_consent_record, minor_status
from screening.model import load_texts as load_screening_texts
from store import NikTakenError, clock

log = logging.getLogger(__name__)

_TEXT_STEPS = ("name", "nik", "phone", "email", "guardian_name")
_DIGIT = re.compile(r"\d")
NIK_DIGITS = 16


# -- entry points -----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/daftar and the "Daftar" button: a fresh registration (consent first, once per version)."""
    await answer(update.callback_query)
    user = update.effective_user
    assert user is not None
    svc = services(context)
    stores = svc.stores
    progress = Flow()
    consent = await svc.call(stores.consents.current, user.id, CONSENT_PURPOSE)
    if consent and consent["granted"] and consent["version"] == CONSENT_VERSION:
        progress.done.append("consent")
    existing = await svc.call(stores.registrations.get_by_user, user.id)
    screening = await svc.call(stores.screenings.get, user.id)
    answers = (screening or {}).get("answers") or {}
    chosen = (existing or {}).get("programmes") or answers.get("programmes") or []
    progress.data["programmes"] = [p for p in chosen if p in PROGRAMMES]
    t = await turn(update, context, progress)
    assert t is not None
    lead = t.text("reg_already", reg_no=existing["reg_no"]) if existing else None
    await ask(t, lead)


async def begin_fix(update: Update, context: ContextTypes.DEFAULT_TYPE, field_name: str) -> bool:
    """Ask one field of the active registration again (from /dataku); False if there is none."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    current = await svc.call(svc.stores.registrations.get_by_user, user.id)
    if current is None or field_name not in FIELD_STEPS:
        return False
    progress = Flow(mode="fix", data={k: current.get(k) for k in SAVED_FIELDS}, done=list(STEPS))
    progress.reopen(*FIELD_STEPS[field_name])
    t = await turn(update, context, progress)
    assert t is not None
    await ask(t)
    return True


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/batal or the Cancel button during the flow: forget the unsent answers."""
    await answer(update.callback_query)
    t = await turn(update, context)
    if t is None:
        await nothing_to_cancel(update, context)
        return
    at_phone = t.flow.pending() == "phone"
    await t.end()
    markup: ReplyMarkup = ReplyKeyboardRemove() if at_phone else main_menu(t.svc.texts, t.lang)
    if update.callback_query is not None:
        await drop_pressed_buttons(update)
    await reply(update, t.text("reg_cancelled"), markup)


async def nothing_to_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/batal outside any flow."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await reply(update, svc.texts.render("reg_cancel_nothing", lang))


# -- buttons: one handler per action of the form ------------------------------------------------

StepHandler = Callable[..., Awaitable[None]]


def _at(step: str | None, *, answers: bool = True) -> Callable[[StepHandler], Handler]:
    """A button of ``step`` (None: the summary), applied as ``handler(turn, *fields)``; with no
    registration running, or another step pending, the press is stale (the router says so
    kindly). ``answers=False``: the handler answers the press itself (it may refuse it)."""

    def wrap(handler: StepHandler) -> Handler:
        @functools.wraps(handler)
        async def run(update: Update, context: ContextTypes.DEFAULT_TYPE, *fields: str) -> None:
            t = await turn(update, context)
            if t is None or t.flow.pending() != step:
                raise Stale(f"reg button for step {step!r}")
            if answers:
                await answer(update.callback_query)
            await handler(t, *fields)

        return run

    return wrap


@CONSENT.handles
@_at("consent")
async def on_consent(t: Turn, choice: str) -> None:
    """The consent notice accepted; a first refusal stores nothing at all, not even itself."""
    if choice != YES:
        await t.end()
        rows = [
            [(t.label("btn_all_topics"), "m:topics"), (t.label("btn_home"), "m:home")],
        ]
        await show(t.update, t.text("reg_declined"), keyboard(rows))
        return
    await t.svc.call(
        t.svc.stores.consents.record, t.user_id, CONSENT_PURPOSE, CONSENT_VERSION, True
    )
    t.flow.complete("consent")
    await ask(t)


@CONFLICT.handles
@_at("nik_conflict")
async def on_conflict(t: Turn, choice: str) -> None:
    """The NIK disagrees with the questionnaire: the NIK is right, or it is typed again."""
    if choice == "nik":
        t.flow.complete("nik_conflict")
        await ask(t, t.text("reg_conflict_nik_right"))
        return
    t.flow.conflicts = []
    t.flow.reopen("nik", "nik_conflict")
    await ask(t)


@DOMICILE.handles
@_at("domicile")
async def on_domicile(t: Turn, choice: str) -> None:
    """Lives in Kota Serang (a NIK from elsewhere) or not."""
    if choice == YES:
        t.flow.complete("domicile", domicile_confirmed=True)
        await ask(t)
        return
    t.flow.complete("domicile", domicile_confirmed=False, kecamatan=None, kelurahan=None)
    t.flow.reopen("kecamatan", "kelurahan")
    await ask(t, t.text("reg_domicile_no"))


@KECAMATAN.handles
@_at("kecamatan")
async def on_kecamatan(t: Turn, kecamatan: str) -> None:
    if load_wilayah().kecamatan_by_id(kecamatan) is None:
        await ask(t)
        return
    t.flow.complete("kecamatan", kecamatan=kecamatan, kelurahan=None)
    t.flow.reopen("kelurahan")
    await ask(t)


@KECAMATAN_BACK.handles
@_at("kelurahan")
async def on_kecamatan_back(t: Turn) -> None:
    t.flow.reopen("kecamatan")
    await ask(t)


@KELURAHAN.handles
@_at("kelurahan")
async def on_kelurahan(t: Turn, kelurahan: str) -> None:
    if load_wilayah().kelurahan(str(t.flow.data.get("kecamatan")), kelurahan) is not None:
        t.flow.complete("kelurahan", kelurahan=kelurahan)
    await ask(t)


@PROGRAMME.handles
@_at("programmes", answers=False)
async def on_programme(t: Turn, programme: str) -> None:
    """A programme ticked or unticked, or "Lanjut" (refused with none ticked)."""
    chosen: list[str] = list(t.flow.data.get("programmes") or [])
    if programme == DONE and not chosen:
        await answer(t.update.callback_query, t.label("reg_programmes_none"), alert=True)
        return
    await answer(t.update.callback_query)
    if programme == DONE:
        if t.flow.data.get("minor") and await _minor_stops(t, chosen):
            return
        t.flow.complete("programmes")
    elif programme in PROGRAMMES:
        chosen = (
            [p for p in chosen if p != programme] if programme in chosen else [*chosen, programme]
        )
        t.flow.data["programmes"] = [p for p in PROGRAMMES if p in chosen]
    await ask(t)


async def _minor_stops(t: Turn, chosen: list[str]) -> bool:
    """A minor's choice of programmes: work programmes wait for their 18th birthday (said with
    the date); with nothing left the registration ends and nothing is stored. True if it ended."""
    status = minor_status(t.flow.data["minor"]["birth_date"], chosen, clock.today())
    if not status.work_blocked:
        return False
    notes = Markup("\n\n".join(escape(m) for m in status.messages(t.lang)))
    if status.allowed_interests:
        t.flow.data["programmes"] = list(status.allowed_interests)
        t.flow.complete("programmes")
        await ask(t, notes)
        return True
    await t.end()
    rows = [[(t.label("btn_reg_subscribe"), "sub:on")], [(t.label("btn_home"), "m:home")]]
    await show(t.update, notes, keyboard(rows))
    return True


@GUARDIAN.handles
@_at("guardian")
async def on_guardian(t: Turn, relationship: str) -> None:
    """The parent or guardian consents (naming their relationship) or declines."""
    if relationship not in GUARDIAN_RELATIONSHIPS:
        adult_on = minor_status(t.flow.data["minor"]["birth_date"], [], clock.today()).adult_on
        await t.end()  # nothing of the minor is kept
        words = load_screening_texts()
        day = f"{adult_on.day} {words.month_names(t.lang)[adult_on.month - 1]} {adult_on.year}"
        text = escape(words.get("minors.guardian_declined", t.lang, adult_on=day))
        await show(t.update, text, keyboard([[(t.label("btn_home"), "m:home")]]))
        return
    record = guardian_consent_record(
        name=str(t.flow.data.get("guardian_name") or ""),
        relationship=relationship,
        consent_version=GUARDIAN_CONSENT_VERSION,
        at=clock.utc_now(),
    )
    await t.svc.call(
        t.svc.stores.consents.record, t.user_id, "guardian", GUARDIAN_CONSENT_VERSION, True
    )
    t.flow.complete("guardian", guardian_consent=record)
    await ask(t)


@TRAINING.handles
@_at("training")
async def on_training(t: Turn, choice: str) -> None:
    t.flow.complete("training", training_willing=choice == YES)
    await ask(t)


@EMAIL.handles
@_at("email")
async def on_email_skip(t: Turn, choice: str) -> None:
    t.flow.complete("email", email=None)
    await ask(t)


@SEND.handles
@_at(None)
async def on_send(t: Turn) -> None:
    """ "Kirim" under the summary."""
    await send_registration(t)


@EDIT.handles
@_at(None)
async def on_edit(t: Turn) -> None:
    """ "Ubah" under the summary: which field."""
    await edit_menu(t)


@FIELD.handles
@_at(None)
async def on_field(t: Turn, name: str) -> None:
    """A field to change, from the summary's edit menu: its steps are asked again."""
    if name in FIELD_STEPS:
        if name == "nik":
            t.flow.conflicts = []
        t.flow.reopen(*FIELD_STEPS[name])
    await ask(t)


@SUMMARY.handles
@_at(None)
async def on_summary(t: Turn) -> None:
    """Back from the edit menu to the summary."""
    await ask(t)


# -- typed answers ----------------------------------------------------------------------------


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or a shared contact while the flow waits for an answer."""
    message = update.effective_message
    t = await turn(update, context)
    if message is None or t is None:
        return
    step = t.flow.pending()
    if message.contact is not None and step == "phone":
        await _take_contact(t, message)
        return
    text = message.text or ""
    if step in _TEXT_STEPS and not _is_question(step, text):
        await _TAKERS[step](t, message, text)
        return
    if text and looks_like_question(text):
        await answer_text(update, context, text)
        await ask(t)
        return
    await ask(t, t.text("reg_use_buttons"))


def _is_question(step: str, text: str) -> bool:
    """A question rather than an answer: for numbers, only when there are few digits."""
    if step in ("nik", "phone") and len(_DIGIT.findall(text)) >= 6:
        return False
    return looks_like_question(text)


async def _invalid(t: Turn, error: str, step: str) -> None:
    """The validation message, with the step's keyboard so the citizen can try again."""
    _, markup = prompt(t, step)
    await reply(t.update, t.text("reg_invalid", error=error), markup)


def _name_taker(step: str, field: str) -> Callable[[Turn, Message, str], Awaitable[None]]:
    """The taker of a typed full name (the citizen's, or their parent's or guardian's)."""

    async def take(t: Turn, message: Message, text: str) -> None:
        name = clean_name(text)
        if name is None:
            await reply(t.update, t.text("reg_name_invalid"))
            return
        t.flow.complete(step, **{field: name})
        await ask(t)

    return take


async def _delete(message: Message) -> None:
    """Take a message holding a NIK out of the chat (a phone left in the open is at risk)."""
    try:
        await message.delete()
    except BadRequest as exc:
        log.info("the NIK message could not be deleted: %s", exc)


async def _take_nik(t: Turn, message: Message, text: str) -> None:
    await _delete(message)  # before anything else: the NIK leaves the chat
    try:
        info = parse_nik(text)
    except InvalidNik as error:
        await _invalid(t, nik_error_text(error.code, t.lang), "nik")
        return
    stores = t.svc.stores
    holder = await t.svc.call(stores.registrations.get_by_nik, info.nik)
    if holder is not None and holder["user_id"] != t.user_id:
        await nik_taken(t, NikTakenError(), from_summary=False)
        return
    screening = await t.svc.call(stores.screenings.get, t.user_id)
    answers = (screening or {}).get("answers") or {}
    declared = _declared_birth_date(answers.get("birth_date"))
    sex = answers.get("sex") if answers.get("sex") in ("male", "female") else None
    t.flow.conflicts = [
        {
            "field": name,
            "nik": info.birth_date.isoformat() if name == "birth_date" else info.sex,
            "answer": declared.isoformat() if name == "birth_date" and declared else str(sex),
        }
        for name in nik_conflicts(info, birth_date=declared, sex=sex)
    ]
    t.flow.reopen("nik_conflict")
    if info.is_kota_serang:
        t.flow.complete("domicile", domicile_confirmed=True)
    else:
        t.flow.reopen("domicile")
    t.flow.complete("nik", nik=info.nik)
    lead = t.text("reg_nik_ok", nik=mask_nik(info.nik))
    status = minor_status(info.birth_date, [], clock.today())
    if status.minor:  # under 18: work waits, a scholarship needs a parent's or guardian's consent
        t.flow.data["minor"] = {"age": status.age, "birth_date": info.birth_date.isoformat()}
        t.flow.reopen("programmes", "guardian_name", "guardian")
        notes = status.messages(t.lang)  # no programme chosen yet: the guardian's consent
        lead = Markup("\n\n".join([lead, *(escape(n) for n in notes)]))
    else:
        t.flow.data.pop("minor", None)
        t.flow.data.pop("guardian_consent", None)
    await ask(t, lead)


def _declared_birth_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def _take_phone(t: Turn, message: Message, text: str) -> None:
    if len(_DIGIT.findall(text)) == NIK_DIGITS:  # no phone has 16 digits: a NIK, typed here
        await _delete(message)
        _, markup = prompt(t, "phone")
        await reply(t.update, t.text("reg_phone_is_nik"), markup)
        return
    try:
        phone = parse_phone(text)
    except InvalidPhone as error:
        await _invalid(t, phone_error_text(error.code, t.lang), "phone")
        return
    await _phone_accepted(t, phone)


async def _take_contact(t: Turn, message: Message) -> None:
    contact = message.contact
    assert contact is not None
    if message.from_user is None or contact.user_id != message.from_user.id:
        await reply(t.update, t.text("reg_contact_not_own"), phone_keyboard(t))
        return
    try:
        phone = parse_phone(contact.phone_number)
    except InvalidPhone as error:
        await _invalid(t, phone_error_text(error.code, t.lang), "phone")
        return
    await _phone_accepted(t, phone)


async def _phone_accepted(t: Turn, phone: str) -> None:
    t.flow.complete("phone", phone=phone)
    await reply(t.update, t.text("reg_phone_ok", phone=format_phone(phone)), ReplyKeyboardRemove())
    await ask(t)


async def _take_email(t: Turn, message: Message, text: str) -> None:
    if text.strip() in ("-", "—"):
        t.flow.complete("email", email=None)
        await ask(t)
        return
    try:
        email = parse_email(text)
    except InvalidEmail as error:
        await _invalid(t, email_error_text(error.code, t.lang), "email")
        return
    t.flow.complete("email", email=email)
    await ask(t)


_TAKERS = {
    "name": _name_taker("name", "full_name"),
    "nik": _take_nik,
    "phone": _take_phone,
    "email": _take_email,
    "guardian_name": _name_taker("guardian_name", "guardian_name"),
}


# -- registration -----------------------------------------------------------------------------


def register(app: Application) -> None:
    """Commands, buttons and, while a registration is in progress, the citizen's answers.

    Registered before the FAQ's free-text handler: during the flow, text is an answer (a question
    typed meanwhile is still answered, then the step is asked again).
    """
    private = filters.ChatType.PRIVATE
    in_flow = flow.Active(app, flow.REGISTRATION) & private & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("daftar", start, filters=private))
    app.add_handler(CommandHandler("batal", cancel, filters=in_flow))
    answers = (filters.TEXT & ~filters.COMMAND) | filters.CONTACT
    app.add_handler(MessageHandler(in_flow & answers, on_message))


def register_cancel_fallback(app: Application) -> None:
    """/batal when no flow claimed it: "nothing to cancel" (registered before the catch-alls)."""
    app.add_handler(CommandHandler("batal", nothing_to_cancel, filters=filters.ChatType.PRIVATE))


START.handles(start)
CANCEL.handles(cancel)
