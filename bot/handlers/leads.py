"""The lead list, its filters, the lead card, follow-up statuses and notes (``/pendaftar``).

A typed note or "tidak lanjut" reason is the staff member's active flow (``flow.STAFF_PROMPT``),
answered as a reply to the prompt or simply as the next message. Buttons: see
:mod:`bot.handlers.staff`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import date, timedelta
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    filters,
)

from bot import flow
from bot.handlers import bulk, search
from bot.handlers.card import kecamatan_name, render_card
from bot.handlers.followup_card import card_row, list_suffix
from bot.handlers.staff import (
    CARD,
    EXPORT,
    FILTERS,
    LIST,
    NOTE_PROMPT,
    OPTIONS,
    REASON_PROMPT,
    REASONS,
    SEARCH,
    STATUS,
    STATUS_CONFIRMED,
    Context,
    add_prompt_handler,
    audit,
    decode_filters,
    describe_filters,
    filter_error_text,
    handles,
    position,
    staff_lang,
    value_label,
)
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, button, keyboard, reply, show
from desk import labels
from desk.export import ExportFilters
from desk.filters import CHOICES, FIELDS, FilterError, encode_filters, parse_filter_args
from store import STATUSES, NotFoundError, StatusError, clock

LEADS_PER_PAGE = 8
MAX_NOTE_CHARS = 1000
MAX_REASON_CHARS = 300
DROPPED = "tidak_lanjut"
#: Statuses that look final: the card asks "are you sure?" before setting them ("tidak lanjut"
#: is confirmed by picking its reason).
CONFIRMED_STATUSES = frozenset({"berangkat"})
#: Preset reasons for "tidak lanjut"; the record keeps the id (labels: desk "reasons").
PRESET_REASONS = ("unreachable", "withdrew", "not_eligible", "duplicate")
REG_NO = re.compile(r"SRG-\d{4}-\d{6}")


# -- prompts: a typed note or reason, as the staff member's active flow ---------------------------


async def _ask(update: Update, context: Context, text: Markup, placeholder: str) -> Message:
    chat = update.effective_chat
    assert chat is not None
    markup = ForceReply(input_field_placeholder=placeholder[:64])
    return await chat.send_message(text, reply_markup=markup)


async def _prompt(
    update: Update, context: Context, lang: str, kind: str, reg_no: str, at: tuple[int, str]
) -> None:
    svc = services(context)
    key = "staff_note" if kind == "note" else "staff_reason"
    text = svc.texts.render(f"{key}_prompt", lang, reg_no=reg_no)
    sent = await _ask(update, context, text, svc.texts.get(f"{key}_placeholder", lang))
    ctx = f"{at[0]}:{at[1]}"  # the list to go back to after the answer
    prompt = {"kind": kind, "reg_no": reg_no, "ctx": ctx, "message_id": sent.message_id}
    await flow.begin(update, context, flow.STAFF_PROMPT, prompt)


async def prompt_reply(update: Update, context: Context) -> None:
    """The note or reason a staff member types after its prompt (as a reply to the prompt, or
    simply as the next message): save it and show the card again."""
    message = update.message
    svc = services(context)
    if message is None or message.from_user is None:
        return
    if not svc.config.staff.is_staff(message.from_user.id):
        return
    prompt = flow.state(context, flow.STAFF_PROMPT)
    target = message.reply_to_message
    if prompt is None or (target is not None and target.message_id != prompt["message_id"]):
        return  # a reply to another message: not this prompt's answer
    prompt = dict(prompt)
    lang = await svc.language(message.from_user)
    text = (message.text or "").strip()
    if not text:
        await reply(update, svc.texts.render("staff_prompt_empty", lang))
        raise ApplicationHandlerStop
    await flow.end(update, context, flow.STAFF_PROMPT)  # a prompt is answered once
    actor, reg_no = message.from_user.id, prompt["reg_no"]
    regs = svc.stores.registrations
    try:
        if prompt["kind"] == "note":
            record = await svc.call(regs.add_note, reg_no, text[:MAX_NOTE_CHARS], actor=actor)
            await audit(svc, actor, "lead_note", reg_no, length=len(text))
            done = svc.texts.render("staff_note_saved", lang, reg_no=reg_no)
        else:
            before = await svc.call(regs.get, reg_no)
            record = await svc.call(
                regs.set_status,
                reg_no,
                DROPPED,
                actor=actor,
                reason="other",
                reason_text=text[:MAX_REASON_CHARS],
            )
            old = before["status"] if before else None
            await audit(
                svc, actor, "lead_status", reg_no, to=DROPPED, reason="typed", **{"from": old}
            )
            done = svc.texts.render("staff_reason_saved", lang, reg_no=reg_no)
    except NotFoundError:
        await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
        raise ApplicationHandlerStop from None
    page, _, code = prompt["ctx"].partition(":")
    card = await _card_text(svc, record, lang, actor)
    at = (int(page), code) if page.isdigit() else (0, "")
    await reply(update, Markup(done + "\n\n" + card), _card_keyboard(svc.texts, record, lang, at))
    raise ApplicationHandlerStop


# -- the lead list --------------------------------------------------------------------------------


async def list_screen(
    svc: Services, lang: str, page: int, code: str
) -> tuple[Markup, InlineKeyboardMarkup]:
    """One page of the registrations matching the filter ``code``, newest first."""
    texts = svc.texts
    flt = decode_filters(code)
    records = await svc.call(svc.stores.registrations.search, **asdict(flt))
    pages = max(1, math.ceil(len(records) / LEADS_PER_PAGE))
    page = min(page, pages - 1)
    shown = records[page * LEADS_PER_PAGE : (page + 1) * LEADS_PER_PAGE]
    statuses = labels("statuses", lang)
    title = texts.render(
        "staff_list_title",
        lang,
        count=len(records),
        page=page + 1,
        pages=pages,
        filters=describe_filters(texts, flt, lang),
    )
    lines = [
        texts.render(
            "staff_list_line",
            lang,
            number=page * LEADS_PER_PAGE + index,
            reg_no=record["reg_no"],
            name=record.get("full_name") or "-",
            kecamatan=kecamatan_name(record.get("kecamatan")),
            status=statuses.get(record.get("status") or "", record.get("status") or "-"),
        )
        + list_suffix(texts, record, lang)
        for index, record in enumerate(shown, start=1)
    ]
    body = "\n".join(lines) if lines else texts.render("staff_list_empty", lang)
    hint = "\n\n" + texts.render("staff_list_hint", lang) if lines else ""
    rows: list[list[Button]] = [
        [
            (
                f"{page * LEADS_PER_PAGE + index}. {record['reg_no']} · "
                f"{(record.get('full_name') or '-')[:24]}",
                CARD.data(record["reg_no"], page, code),
            )
        ]
        for index, record in enumerate(shown, start=1)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), LIST.data(page - 1, code)))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), LIST.data(page + 1, code)))
    rows.append(nav)
    rows.append(
        [
            (texts.get("btn_staff_filter", lang), FILTERS.data(page, code)),
            (texts.get("btn_staff_search", lang), SEARCH.data()),
        ]
    )
    if records:
        rows.append(
            [
                (texts.get("btn_staff_export_xlsx", lang), EXPORT.data("x", code)),
                (texts.get("btn_staff_export_csv", lang), EXPORT.data("c", code)),
            ]
        )
    if records and code:  # a filtered list (e.g. a training batch) can change all at once
        rows.append([bulk.bulk_button(texts, lang, len(records), code)])
    return Markup(f"{title}\n\n{body}{hint}"), keyboard(rows)


_DIMENSIONS = (
    ("p", "btn_staff_dim_programme"),
    ("o", "btn_staff_dim_outcome"),
    ("k", "btn_staff_dim_kecamatan"),
    ("s", "btn_staff_dim_status"),
    ("d", "btn_staff_dim_dates"),
)


def filter_screen(texts: Texts, lang: str, page: int, code: str) -> tuple[Markup, Any]:
    """What can be filtered, with the current filters."""
    flt = decode_filters(code)
    text = texts.render("staff_filter_title", lang, filters=describe_filters(texts, flt, lang))
    buttons = [(texts.get(key, lang), OPTIONS.data(letter, code)) for letter, key in _DIMENSIONS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(texts.get("btn_staff_clear_filters", lang), LIST.data(0, ""))])
    rows.append([(texts.get("btn_staff_show_list", lang), LIST.data(page, code))])
    return text, keyboard(rows)


def _with(flt: ExportFilters, field: str, value: str | None) -> ExportFilters:
    changes: dict[str, Any] = {field: value}
    return replace(flt, **changes)


def _date_presets(today: date) -> list[tuple[str, date | None, date | None]]:
    return [
        ("btn_staff_today", today, today),
        ("btn_staff_last_7", today - timedelta(days=6), today),
        ("btn_staff_last_30", today - timedelta(days=29), today),
        ("btn_staff_this_month", today.replace(day=1), today),
        ("btn_staff_any", None, None),
    ]


def options_screen(
    texts: Texts, lang: str, dimension: str, code: str, today: date
) -> tuple[Markup, Any]:
    """The choices of one filter; each choice opens the first page of the filtered list."""
    flt = decode_filters(code)
    title_key = dict(_DIMENSIONS).get(dimension)
    if title_key is None:
        raise Stale(dimension)
    choices: list[tuple[str, ExportFilters]] = []
    if dimension == "d":
        for key, since, until in _date_presets(today):
            choices.append((texts.get(key, lang), replace(flt, since=since, until=until)))
    else:
        field = FIELDS[dimension]
        for value in CHOICES[dimension]:
            label = value_label(dimension, value, lang)
            choices.append((label, _with(flt, field, value)))
        choices.append((texts.get("btn_staff_any", lang), _with(flt, field, None)))
    rows = [[(label, LIST.data(0, encode_filters(choice)))] for label, choice in choices]
    rows.append([(texts.get("btn_staff_back", lang), FILTERS.data(0, code))])
    text = texts.render(
        "staff_filter_options",
        lang,
        dimension=texts.get(title_key, lang),
        filters=describe_filters(texts, flt, lang),
    )
    return text, keyboard(rows)


# -- the lead card --------------------------------------------------------------------------------


async def _card_text(svc: Services, record: Mapping[str, Any], lang: str, viewer: int) -> Markup:
    full = svc.config.staff.is_admin(viewer)
    names = await svc.staff_names()
    return render_card(svc.texts, svc.config, record, lang, full_nik=full, names=names)


def _card_keyboard(
    texts: Texts, record: Mapping[str, Any], lang: str, at: tuple[int, str]
) -> InlineKeyboardMarkup:
    """Follow-up buttons: every other status, "tidak lanjut" with a reason, a note, back."""
    reg_no = record["reg_no"]
    back = [(texts.get("btn_staff_back_to_list", lang), LIST.data(*at))]
    if "anonymised_at" in record:
        return keyboard([back])
    statuses = labels("statuses", lang)
    current = record.get("status")
    moves = [
        (
            texts.get("btn_staff_set_status", lang).format(status=statuses[s]),
            STATUS.data(reg_no, i, *at),
        )
        for i, s in enumerate(STATUSES)
        if s not in (current, DROPPED)
    ]
    rows: list[list[Button]] = [moves[i : i + 2] for i in range(0, len(moves), 2)]
    if current != DROPPED:
        rows.append([(texts.get("btn_staff_drop", lang), REASONS.data(reg_no, *at))])
    rows.append([(texts.get("btn_staff_note", lang), NOTE_PROMPT.data(reg_no, *at))])
    rows.append(card_row(texts, record, lang, at))  # contact, follow-up date, assign, WhatsApp
    rows.append(back)
    return keyboard(rows)


async def _record(svc: Services, reg_no: str) -> dict[str, Any] | None:
    if not REG_NO.fullmatch(reg_no):
        raise Stale(reg_no)
    record: dict[str, Any] | None = await svc.call(svc.stores.registrations.get, reg_no)
    return record


async def _show_card(
    update: Update,
    svc: Services,
    record: Mapping[str, Any],
    lang: str,
    at: tuple[int, str],
    *,
    first_row: list[Button] | None = None,
) -> None:
    user = update.effective_user
    text = await _card_text(svc, record, lang, user.id if user else 0)
    markup = _card_keyboard(svc.texts, record, lang, at)
    if first_row:  # e.g. "undo" right after a change
        extra = [button(label, data) for label, data in first_row]
        markup = InlineKeyboardMarkup([extra, *markup.inline_keyboard])
    await show(update, text, markup)


async def _not_found(update: Update, svc: Services, reg_no: str, lang: str) -> None:
    if update.callback_query is not None:
        await answer(update.callback_query, svc.texts.get("staff_gone", lang), alert=True)
    else:
        await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))


# -- follow-up ------------------------------------------------------------------------------------


async def _change_status(
    update: Update,
    svc: Services,
    lang: str,
    reg_no: str,
    spec: str,
    at: tuple[int, str],
    *,
    confirmed: bool = False,
) -> None:
    """``spec`` is a status index, with ``.<reason index>`` for "tidak lanjut". "Berangkat"
    asks for a confirmation first (``confirmed`` once given); every change can be undone for
    a few minutes (:mod:`bot.handlers.bulk`)."""
    query = update.callback_query
    assert query is not None
    status_index, _, reason_index = spec.partition(".")
    try:
        status = STATUSES[int(status_index)]
        reason_key = PRESET_REASONS[int(reason_index)] if reason_index else None
    except (IndexError, ValueError):
        raise Stale(spec) from None
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    reason = reason_key
    if (status == DROPPED) != (reason is not None) or record["status"] == status:
        raise Stale(spec)  # only "tidak lanjut" takes a reason; the current status has no button
    if status in CONFIRMED_STATUSES and not confirmed:
        await answer(query)
        await show(update, *bulk.confirm_status_screen(svc, lang, record, spec, at))
        return
    try:
        updated = await svc.call(
            svc.stores.registrations.set_status,
            reg_no,
            status,
            actor=query.from_user.id,
            reason=reason,
        )
    except (StatusError, NotFoundError) as exc:
        problem = exc.message(lang) if isinstance(exc, StatusError) else str(exc)
        await answer(query, svc.texts.get("staff_status_failed", lang).format(problem=problem))
        return
    details = {"from": record["status"], "to": status}
    if reason_key:
        details["reason"] = reason_key
    await audit(svc, query.from_user.id, "lead_status", reg_no, **details)
    label = labels("statuses", lang).get(status, status)
    await answer(query, svc.texts.get("staff_status_changed", lang).format(status=label))
    await _show_card(update, svc, updated, lang, at, first_row=[bulk.undo_button(svc, lang)])


def reason_screen(texts: Texts, lang: str, reg_no: str, at: tuple[int, str]) -> tuple[Markup, Any]:
    """The preset reasons for "tidak lanjut", another typed reason, or back to the card."""
    dropped = STATUSES.index(DROPPED)
    rows: list[list[Button]] = [
        [(texts.get(f"btn_staff_reason_{key}", lang), STATUS.data(reg_no, f"{dropped}.{i}", *at))]
        for i, key in enumerate(PRESET_REASONS)
    ]
    rows.append([(texts.get("btn_staff_reason_other", lang), REASON_PROMPT.data(reg_no, *at))])
    rows.append([(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))])
    return texts.render("staff_reason_title", lang, reg_no=reg_no), keyboard(rows)


# -- buttons --------------------------------------------------------------------------------------


@handles(LIST)
async def _list(update: Update, context: Context, lang: str, page: str, code: str) -> None:
    text, markup = await list_screen(services(context), lang, *position(page, code))
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(FILTERS)
async def _filters(update: Update, context: Context, lang: str, page: str, code: str) -> None:
    text, markup = filter_screen(services(context).texts, lang, *position(page, code))
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(OPTIONS)
async def _options(update: Update, context: Context, lang: str, dimension: str, code: str) -> None:
    text, markup = options_screen(services(context).texts, lang, dimension, code, clock.today())
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(CARD)
async def _card(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    await answer(update.callback_query)
    await _show_card(update, svc, record, lang, at)


@handles(STATUS)
async def _status(
    update: Update, context: Context, lang: str, reg_no: str, spec: str, page: str, code: str
) -> None:
    await _change_status(update, services(context), lang, reg_no, spec, position(page, code))


@handles(STATUS_CONFIRMED)
async def _status_confirmed(
    update: Update, context: Context, lang: str, reg_no: str, spec: str, page: str, code: str
) -> None:
    """A status that looks final (berangkat), confirmed."""
    at = position(page, code)
    await _change_status(update, services(context), lang, reg_no, spec, at, confirmed=True)


@handles(REASONS)
async def _reasons(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    if record["status"] == DROPPED:
        raise Stale(reg_no)  # the card shows no "tidak lanjut" button then
    text, markup = reason_screen(svc.texts, lang, reg_no, at)
    await answer(update.callback_query)
    await show(update, text, markup)


async def _ask_for(
    update: Update, context: Context, lang: str, kind: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    if await _record(svc, reg_no) is None:
        await _not_found(update, svc, reg_no, lang)
        return
    await answer(update.callback_query)
    await _prompt(update, context, lang, kind, reg_no, at)


@handles(REASON_PROMPT)
async def _reason_prompt(update: Update, context: Context, lang: str, *fields: str) -> None:
    """Ask for a typed reason for "tidak lanjut"."""
    await _ask_for(update, context, lang, "reason", *fields)


@handles(NOTE_PROMPT)
async def _note_prompt(update: Update, context: Context, lang: str, *fields: str) -> None:
    """Ask for a typed note."""
    await _ask_for(update, context, lang, "note", *fields)


# -- commands -------------------------------------------------------------------------------------


async def leads_command(update: Update, context: Context) -> None:
    """/pendaftar [filters] or /pendaftar SRG-2026-000123: the lead list, or one card."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    svc = services(context)
    args = context.args or []
    if len(args) == 1 and REG_NO.fullmatch(args[0].upper()):
        record = await _record(svc, args[0].upper())
        if record is None:
            await _not_found(update, svc, args[0].upper(), lang)
            return
        await _show_card(update, svc, record, lang, (0, ""))
        return
    if args and not any("=" in arg for arg in args):
        # "/pendaftar Siti", "/pendaftar 3673…": words, not filters, so a search
        await search.run_search(update, context, lang, " ".join(args))
        return
    try:
        flt = parse_filter_args(args)
    except FilterError as error:
        await reply(update, filter_error_text(svc.texts, error, lang))
        return
    text, markup = await list_screen(svc, lang, 0, encode_filters(flt))
    await reply(update, text, markup)


def register_early(app: Application) -> None:
    """Before every feature (group -2): replies to the desk's prompts."""
    add_prompt_handler(app, flow.STAFF_PROMPT, prompt_reply)


def register(app: Application) -> None:
    """/pendaftar in private chats (the buttons are the router's)."""
    app.add_handler(CommandHandler("pendaftar", leads_command, filters=filters.ChatType.PRIVATE))
