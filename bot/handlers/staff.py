"""The staff desk: leads (list, filters, card, follow-up pipeline, notes), export, statistics and
unanswered questions. Staff only: every command and button is refused politely to citizens, and
registration data is shown in private chats only.

Callback data (``st:``; ``<ctx>`` is ``<page>:<filter code>`` of the list to go back to):

    st:l:<ctx>                      a page of the lead list
    st:f:<ctx>                      the filter overview
    st:fo:<dimension>:<code>        the choices of one filter (p o k s d)
    st:c:<reg_no>:<ctx>             a lead card
    st:s:<reg_no>:<status>[.<reason>]:<ctx>   a follow-up status change (indexes)
    st:t:<reg_no>:<ctx>             reasons for "tidak lanjut"
    st:w:<reg_no>:<ctx>             type another reason (a ForceReply prompt)
    st:n:<reg_no>:<ctx>             add a note (a ForceReply prompt)
    st:e:<c|x>:<code>               export as CSV or XLSX
    st:u:<page>                     unanswered question groups
    st:uh:<question id>:<page>      mark the group holding that question as handled

Declared with ``bot.routing``: staff only, private chats only, the number of fields checked.

Every change and every export is written to the audit (who, when, what; no personal data).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import date, timedelta
from typing import Any, TypeVar

from telegram import ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.config import Config
from bot.i18n import Markup, Texts
from bot.routing import Handler, Stale, router
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from desk import labels
from desk.export import ExportFilters
from desk.files import EXPORTERS, scratch_file, write_export
from desk.filters import (
    ARG_KEYS,
    CHOICES,
    FIELDS,
    FilterCodeError,
    FilterError,
    encode_filters,
    parse_filter_args,
)
from desk.filters import decode_filters as _decode_filters
from desk.stats import format_stats, stats_from
from desk.unanswered import Group, group_questions
from screening.identity import format_phone, load_wilayah, mask_nik
from store import STATUSES, NotFoundError, StatusError, clock
from store.clock import format_date, format_local

log = logging.getLogger(__name__)

T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE

#: Staff replies to the bot's prompts (notes, reasons) are taken before any other handler.
PROMPT_GROUP = -2
DESK_COMMANDS = ("pendaftar", "ekspor", "statistik", "pertanyaan")
LEADS_PER_PAGE = 8
GROUPS_PER_PAGE = 8
NOTES_SHOWN = 5
HISTORY_SHOWN = 8
MAX_NOTE_CHARS = 1000
MAX_REASON_CHARS = 300
MAX_NOTE_SHOWN = 300
MAX_QUESTION_SHOWN = 160
DROPPED = "tidak_lanjut"
#: Preset reasons for "tidak lanjut"; the stored reason is the Indonesian label.
REASONS = ("unreachable", "withdrew", "not_eligible", "duplicate")
EXPORT_FORMATS = {"c": "csv", "x": "xlsx"}
REG_NO = re.compile(r"SRG-\d{4}-\d{6}")


# -- filters: a compact code for callback data, and key=value arguments for commands ------------


def decode_filters(code: str) -> ExportFilters:
    """The filters of a code from a button; ``Stale`` for a code no screen makes."""
    try:
        return _decode_filters(code)
    except FilterCodeError as exc:
        raise Stale(code) from exc


def filter_error_text(texts: Texts, error: FilterError, lang: str) -> Markup:
    """What was wrong with a typed filter, with the keys or values that would work."""
    key, _, value = error.token.partition("=")
    if error.dimension in ("a", "b"):
        return texts.render("staff_bad_date", lang, value=value)
    known = ARG_KEYS if error.dimension is None else CHOICES[error.dimension]
    choices = ", ".join(sorted(known) if error.dimension is None else known)
    return texts.render("staff_bad_filter", lang, token=error.token, key=key, choices=choices)


def _value_label(letter: str, value: str, lang: str) -> str:
    if letter == "p":
        return {**labels("interests", lang), **labels("programmes", lang)}.get(value, value)
    if letter == "o":
        return labels("outcomes", lang).get(value, value)
    if letter == "k":
        kecamatan = load_wilayah().kecamatan_by_id(value)
        return kecamatan.name if kecamatan else value
    return labels("statuses", lang).get(value, value)


def describe_filters(texts: Texts, flt: ExportFilters, lang: str) -> str:
    """The filters in words, e.g. "status baru · kec. Serang" (plain text)."""
    parts = [
        texts.get(f"staff_filter_{field}", lang).format(value=_value_label(letter, value, lang))
        for letter, field in FIELDS.items()
        if (value := getattr(flt, field)) is not None
    ]
    if flt.since is not None or flt.until is not None:
        open_end = texts.get("staff_filter_open_end", lang)
        parts.append(
            texts.get("staff_filter_dates", lang).format(
                since=format_date(flt.since) if flt.since else open_end,
                until=format_date(flt.until) if flt.until else open_end,
            )
        )
    return " · ".join(parts) or texts.get("staff_filters_none", lang)


def _ctx(page: str, code: str) -> tuple[int, str]:
    """A list position from callback data: a page number and a valid filter code."""
    if not page.isdigit():
        raise Stale(page)
    decode_filters(code)
    return int(page), code


# -- roles ----------------------------------------------------------------------------------------


async def staff_lang(update: Update, context: Context) -> str | None:
    """The staff member's language; ``None`` after refusing anyone else politely."""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    if svc.config.staff.is_staff(user.id if user else None):
        return lang
    query = update.callback_query
    if query is not None:
        await answer(query, svc.texts.get("staff_only", lang), alert=True)
    else:
        await reply(update, svc.texts.render("staff_only", lang))
    return None


def _is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def private_link(context: Context) -> Markup:
    username = context.bot.username
    return Markup(f'<a href="https://t.me/{username}">@{username}</a>')


async def _audit(
    svc: Services, actor: int, action: str, target: str | None, **details: Any
) -> None:
    await svc.call(svc.stores.audit.record, actor, action, target, details or None)


# -- prompts: a typed note or reason, as the staff member's active flow ---------------------------


async def _ask(update: Update, context: Context, text: Markup, placeholder: str) -> Message:
    chat = update.effective_chat
    assert chat is not None
    markup = ForceReply(input_field_placeholder=placeholder[:64])
    return await chat.send_message(text, reply_markup=markup)


async def _prompt(
    update: Update, context: Context, lang: str, kind: str, reg_no: str, ctx: str
) -> None:
    svc = services(context)
    key = "staff_note" if kind == "note" else "staff_reason"
    text = svc.texts.render(f"{key}_prompt", lang, reg_no=reg_no)
    sent = await _ask(update, context, text, svc.texts.get(f"{key}_placeholder", lang))
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
            await _audit(svc, actor, "lead_note", reg_no, length=len(text))
            done = svc.texts.render("staff_note_saved", lang, reg_no=reg_no)
        else:
            before = await svc.call(regs.get, reg_no)
            record = await svc.call(
                regs.set_status, reg_no, DROPPED, actor=actor, reason=text[:MAX_REASON_CHARS]
            )
            old = before["status"] if before else None
            await _audit(
                svc, actor, "lead_status", reg_no, to=DROPPED, reason="typed", **{"from": old}
            )
            done = svc.texts.render("staff_reason_saved", lang, reg_no=reg_no)
    except NotFoundError:
        await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))
        raise ApplicationHandlerStop from None
    page, code = prompt["ctx"].split(":", 1)
    card = _card_text(svc, record, lang, actor)
    await reply(
        update,
        Markup(done + "\n\n" + card),
        _card_keyboard(svc.texts, record, lang, f"{page}:{code}"),
    )
    raise ApplicationHandlerStop


# -- the lead list --------------------------------------------------------------------------------


def _kecamatan_name(kec_id: str | None) -> str:
    kecamatan = load_wilayah().kecamatan_by_id(kec_id or "")
    return kecamatan.name if kecamatan else "-"


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
            kecamatan=_kecamatan_name(record.get("kecamatan")),
            status=statuses.get(record.get("status") or "", record.get("status") or "-"),
        )
        for index, record in enumerate(shown, start=1)
    ]
    body = "\n".join(lines) if lines else texts.render("staff_list_empty", lang)
    hint = "\n\n" + texts.render("staff_list_hint", lang) if lines else ""
    ctx = f"{page}:{code}"
    rows: list[list[Button]] = [
        [
            (
                f"{page * LEADS_PER_PAGE + index}. {record['reg_no']} · "
                f"{(record.get('full_name') or '-')[:24]}",
                f"st:c:{record['reg_no']}:{ctx}",
            )
        ]
        for index, record in enumerate(shown, start=1)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), f"st:l:{page - 1}:{code}"))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), f"st:l:{page + 1}:{code}"))
    rows.append(nav)
    rows.append([(texts.get("btn_staff_filter", lang), f"st:f:{ctx}")])
    if records:
        rows.append(
            [
                (texts.get("btn_staff_export_csv", lang), f"st:e:c:{code}"),
                (texts.get("btn_staff_export_xlsx", lang), f"st:e:x:{code}"),
            ]
        )
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
    buttons = [(texts.get(key, lang), f"st:fo:{letter}:{code}") for letter, key in _DIMENSIONS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(texts.get("btn_staff_clear_filters", lang), "st:l:0:")])
    rows.append([(texts.get("btn_staff_show_list", lang), f"st:l:{page}:{code}")])
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
            label = _value_label(dimension, value, lang)
            choices.append((label, _with(flt, field, value)))
        choices.append((texts.get("btn_staff_any", lang), _with(flt, field, None)))
    rows = [[(label, f"st:l:0:{encode_filters(choice)}")] for label, choice in choices]
    rows.append([(texts.get("btn_staff_back", lang), f"st:f:0:{code}")])
    text = texts.render(
        "staff_filter_options",
        lang,
        dimension=texts.get(title_key, lang),
        filters=describe_filters(texts, flt, lang),
    )
    return text, keyboard(rows)


# -- the lead card --------------------------------------------------------------------------------


def _who(texts: Texts, record: Mapping[str, Any], actor: int, lang: str) -> str:
    if actor == record.get("user_id"):
        return texts.get("staff_who_citizen", lang)
    if not actor:
        return texts.get("staff_who_system", lang)
    return texts.get("staff_who_staff", lang).format(id=actor)


def _change(texts: Texts, entry: Mapping[str, Any], lang: str) -> str:
    kind = entry.get("change")
    if kind == "created":
        return texts.get("staff_change_created", lang)
    if kind == "updated":
        return texts.get("staff_change_updated", lang).format(
            fields=", ".join(entry.get("fields") or ())
        )
    if kind == "status":
        statuses = labels("statuses", lang)
        old, new = entry.get("from") or "", entry.get("to") or ""
        return texts.get("staff_change_status", lang).format(
            old=statuses.get(old, old), new=statuses.get(new, new)
        )
    if kind == "note":
        return texts.get("staff_change_note", lang)
    return texts.get("staff_change_other", lang).format(change=kind)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(
    texts: Texts, lines: Sequence[Markup], shown: int, lang: str, empty: Markup | None = None
) -> Markup:
    """The last ``shown`` lines, with a count of the hidden ones."""
    if not lines:
        return empty or Markup(texts.get("staff_card_none", lang))
    hidden = len(lines) - shown
    kept = list(lines[-shown:])
    if hidden > 0:
        kept.insert(0, texts.render("staff_card_more", lang, count=hidden))
    return Markup("\n".join(kept))


def render_card(
    texts: Texts, config: Config, record: Mapping[str, Any], lang: str, *, full_nik: bool
) -> Markup:
    """A registration for the staff: identity (NIK masked unless ``full_nik``), answers,
    outcome, follow-up status, notes and history."""
    if "anonymised_at" in record:
        return texts.render("staff_card_anonymised", lang, reg_no=record["reg_no"])
    none = texts.get("staff_card_none", lang)
    answers = labels("answers", lang)
    interests = labels("interests", lang)
    programmes, outcomes = labels("programmes", lang), labels("outcomes", lang)

    def yes_no(flag: object) -> str:
        return none if flag is None else answers["yes" if flag else "no"]

    wilayah = load_wilayah()
    kec_id, kel_id = record.get("kecamatan") or "", record.get("kelurahan") or ""
    kelurahan = wilayah.kelurahan(kec_id, kel_id)
    nik = record.get("nik")
    phone = record.get("phone")
    status = record.get("status") or ""
    reason = record.get("status_reason")
    notes = [
        texts.render(
            "staff_note_line",
            lang,
            at=format_local(note.get("at")),
            who=_who(texts, record, note.get("by") or 0, lang),
            text=_shorten(note.get("text", ""), MAX_NOTE_SHOWN),
        )
        for note in record.get("notes") or ()
    ]
    history = [
        texts.render(
            "staff_history_line",
            lang,
            at=format_local(entry.get("at")),
            who=_who(texts, record, entry.get("by") or 0, lang),
            change=_change(texts, entry, lang),
        )
        for entry in record.get("history") or ()
    ]
    return texts.render(
        "staff_card",
        lang,
        reg_no=record["reg_no"],
        name=record.get("full_name") or none,
        nik=(nik if full_nik else mask_nik(nik)) if nik else none,
        phone=format_phone(phone) if phone else none,
        email=record.get("email") or none,
        kelurahan=kelurahan.name if kelurahan else none,
        kecamatan=_kecamatan_name(kec_id),
        domicile=yes_no(record.get("domicile_confirmed")),
        interests=", ".join(interests.get(i, i) for i in record.get("programmes") or ()) or none,
        training=yes_no(record.get("training_willing")),
        screening="; ".join(
            f"{programmes.get(p, p)}: {outcomes.get(o, o)}"
            for p, o in (record.get("screening") or {}).items()
        )
        or none,
        created=format_local(record.get("created_at")),
        status=labels("statuses", lang).get(status, status),
        reason=texts.render("staff_card_reason", lang, reason=reason) if reason else "",
        notes=_tail(texts, notes, NOTES_SHOWN, lang, texts.render("staff_card_no_notes", lang)),
        history=_tail(texts, history, HISTORY_SHOWN, lang),
    )


def _card_text(svc: Services, record: Mapping[str, Any], lang: str, viewer: int) -> Markup:
    full = svc.config.staff.is_admin(viewer)
    return render_card(svc.texts, svc.config, record, lang, full_nik=full)


def _card_keyboard(
    texts: Texts, record: Mapping[str, Any], lang: str, ctx: str
) -> InlineKeyboardMarkup:
    """Follow-up buttons: every other status, "tidak lanjut" with a reason, a note, back."""
    reg_no = record["reg_no"]
    back = [(texts.get("btn_staff_back_to_list", lang), f"st:l:{ctx}")]
    if "anonymised_at" in record:
        return keyboard([back])
    statuses = labels("statuses", lang)
    current = record.get("status")
    moves = [
        (
            texts.get("btn_staff_set_status", lang).format(status=statuses[s]),
            f"st:s:{reg_no}:{i}:{ctx}",
        )
        for i, s in enumerate(STATUSES)
        if s not in (current, DROPPED)
    ]
    rows: list[list[Button]] = [moves[i : i + 2] for i in range(0, len(moves), 2)]
    if current != DROPPED:
        rows.append([(texts.get("btn_staff_drop", lang), f"st:t:{reg_no}:{ctx}")])
    rows.append([(texts.get("btn_staff_note", lang), f"st:n:{reg_no}:{ctx}")])
    rows.append(back)
    return keyboard(rows)


async def _record(svc: Services, reg_no: str) -> dict[str, Any] | None:
    if not REG_NO.fullmatch(reg_no):
        raise Stale(reg_no)
    record: dict[str, Any] | None = await svc.call(svc.stores.registrations.get, reg_no)
    return record


async def _show_card(
    update: Update, svc: Services, record: Mapping[str, Any], lang: str, ctx: str
) -> None:
    user = update.effective_user
    text = _card_text(svc, record, lang, user.id if user else 0)
    await show(update, text, _card_keyboard(svc.texts, record, lang, ctx))


async def _not_found(update: Update, svc: Services, reg_no: str, lang: str) -> None:
    if update.callback_query is not None:
        await answer(update.callback_query, svc.texts.get("staff_gone", lang), alert=True)
    else:
        await reply(update, svc.texts.render("staff_not_found", lang, reg_no=reg_no))


# -- follow-up ------------------------------------------------------------------------------------


async def _change_status(
    update: Update, svc: Services, lang: str, reg_no: str, spec: str, ctx: str
) -> None:
    """``spec`` is a status index, with ``.<reason index>`` for "tidak lanjut"."""
    query = update.callback_query
    assert query is not None
    status_index, _, reason_index = spec.partition(".")
    try:
        status = STATUSES[int(status_index)]
        reason_key = REASONS[int(reason_index)] if reason_index else None
    except (IndexError, ValueError):
        raise Stale(spec) from None
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    reason = svc.texts.get(f"btn_staff_reason_{reason_key}", "id") if reason_key else None
    if (status == DROPPED) != (reason is not None) or record["status"] == status:
        raise Stale(spec)  # only "tidak lanjut" takes a reason; the current status has no button
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
    await _audit(svc, query.from_user.id, "lead_status", reg_no, **details)
    label = labels("statuses", lang).get(status, status)
    await answer(query, svc.texts.get("staff_status_changed", lang).format(status=label))
    await _show_card(update, svc, updated, lang, ctx)


def reason_screen(texts: Texts, lang: str, reg_no: str, ctx: str) -> tuple[Markup, Any]:
    """The preset reasons for "tidak lanjut", another typed reason, or back to the card."""
    dropped = STATUSES.index(DROPPED)
    rows: list[list[Button]] = [
        [(texts.get(f"btn_staff_reason_{key}", lang), f"st:s:{reg_no}:{dropped}.{i}:{ctx}")]
        for i, key in enumerate(REASONS)
    ]
    rows.append([(texts.get("btn_staff_reason_other", lang), f"st:w:{reg_no}:{ctx}")])
    rows.append([(texts.get("btn_staff_back", lang), f"st:c:{reg_no}:{ctx}")])
    return texts.render("staff_reason_title", lang, reg_no=reg_no), keyboard(rows)


# -- export ---------------------------------------------------------------------------------------


async def send_export(update: Update, context: Context, lang: str, fmt: str, code: str) -> None:
    """Export the registrations matching ``code`` as a file, then delete the file."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    flt = decode_filters(code)
    records = await svc.call(svc.stores.registrations.search, **asdict(flt))
    if not records:
        await reply(update, svc.texts.render("staff_export_empty", lang))
        return
    today = clock.today()
    path = scratch_file(svc.config.data_dir, "export", fmt)
    try:
        rows = await asyncio.to_thread(write_export, records, path, fmt, lang=lang)
        caption = svc.texts.render(
            "staff_export_caption",
            lang,
            count=rows,
            filters=describe_filters(svc.texts, flt, lang),
        )
        with path.open("rb") as handle:
            await chat.send_document(
                handle,
                filename=f"pendaftar-{today.isoformat()}.{fmt}",
                caption=caption,
            )
    except TelegramError as exc:
        log.warning("export could not be sent: %s", exc)
        await reply(update, svc.texts.render("staff_export_failed", lang))
        return
    finally:
        path.unlink(missing_ok=True)
    await _audit(svc, user.id, "export", None, format=fmt, rows=rows, filters=code or None)


def export_choice(texts: Texts, lang: str, code: str, count: int) -> tuple[Markup, Any]:
    flt = decode_filters(code)
    text = texts.render(
        "staff_export_choose", lang, filters=describe_filters(texts, flt, lang), count=count
    )
    buttons = [
        (texts.get("btn_staff_export_csv", lang), f"st:e:c:{code}"),
        (texts.get("btn_staff_export_xlsx", lang), f"st:e:x:{code}"),
    ]
    return text, keyboard([buttons])


# -- statistics -----------------------------------------------------------------------------------


async def send_stats(update: Update, context: Context, lang: str) -> None:
    """The statistics report, then the chart as a photo."""
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    await svc.flush_usage()
    records = await svc.call(svc.stores.registrations.search)
    usage = await svc.call(svc.stores.kv.items, "faq_usage")
    unanswered = await svc.call(svc.stores.unanswered.count_total)
    stats = await asyncio.to_thread(stats_from, records, usage, unanswered, clock.today())
    await reply(update, Markup(format_stats(stats, lang)))
    from desk.charts import render_chart  # matplotlib: loaded when a chart is first drawn

    path = scratch_file(svc.config.data_dir, "chart", "png")
    try:
        await asyncio.to_thread(render_chart, stats, path, lang)
        with path.open("rb") as handle:
            await chat.send_photo(handle, caption=svc.texts.get("staff_chart_caption", lang))
    finally:
        path.unlink(missing_ok=True)


# -- unanswered questions -------------------------------------------------------------------------


async def _open_groups(svc: Services) -> list[Group]:
    items = await svc.call(svc.stores.unanswered.all_open)
    return await asyncio.to_thread(group_questions, items)


def unanswered_screen(
    texts: Texts, config: Config, groups: Sequence[Group], lang: str, page: int
) -> tuple[Markup, Any]:
    """The most asked open questions, grouped by similarity, with ✅ buttons to close a group."""
    if not groups:
        return texts.render("staff_unanswered_empty", lang), None
    pages = max(1, math.ceil(len(groups) / GROUPS_PER_PAGE))
    page = min(page, pages - 1)
    first = page * GROUPS_PER_PAGE
    shown = groups[first : first + GROUPS_PER_PAGE]
    title = texts.render(
        "staff_unanswered_title",
        lang,
        questions=sum(group.count for group in groups),
        groups=len(groups),
        page=page + 1,
        pages=pages,
    )
    lines = []
    for number, group in enumerate(shown, start=first + 1):
        lines.append(
            texts.render(
                "staff_unanswered_line",
                lang,
                number=number,
                text=_shorten(group.representative, MAX_QUESTION_SHOWN),
                count=group.count,
                last=format_local(group.last_at, "%d-%m %H:%M"),
            )
        )
    marks = [
        (texts.get("btn_staff_mark", lang).format(number=number), f"st:uh:{group.ids[0]}:{page}")
        for number, group in enumerate(shown, start=first + 1)
    ]
    rows: list[list[Button]] = [marks[i : i + 4] for i in range(0, len(marks), 4)]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), f"st:u:{page - 1}"))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), f"st:u:{page + 1}"))
    rows.append(nav)
    hint = texts.render("staff_unanswered_hint", lang)
    return Markup(title + "\n\n" + "\n".join(lines) + "\n\n" + hint), keyboard(rows)


async def _mark_handled(
    update: Update, svc: Services, lang: str, question_id: str, page: int
) -> None:
    query = update.callback_query
    assert query is not None
    groups = await _open_groups(svc)
    group = next((g for g in groups if question_id in g.ids), None)
    if group is None:
        await answer(query, svc.texts.get("staff_unanswered_gone", lang), alert=True)
        return
    count = await svc.call(svc.stores.unanswered.mark_handled, group.ids, actor=query.from_user.id)
    await _audit(svc, query.from_user.id, "unanswered_handled", None, count=count)
    await answer(query, svc.texts.get("staff_unanswered_marked", lang).format(count=count))
    remaining = [g for g in groups if g is not group]
    text, markup = unanswered_screen(svc.texts, svc.config, remaining, lang, page)
    await show(update, text, markup)


# -- buttons --------------------------------------------------------------------------------------

Route = Callable[[Update, Context, str, list[str]], Awaitable[None]]


async def _route_list(update: Update, context: Context, lang: str, args: list[str]) -> None:
    page, code = _ctx(*args)
    text, markup = await list_screen(services(context), lang, page, code)
    await answer(update.callback_query)
    await show(update, text, markup)


async def _route_filters(update: Update, context: Context, lang: str, args: list[str]) -> None:
    page, code = _ctx(*args)
    text, markup = filter_screen(services(context).texts, lang, page, code)
    await answer(update.callback_query)
    await show(update, text, markup)


async def _route_options(update: Update, context: Context, lang: str, args: list[str]) -> None:
    dimension, code = args
    svc = services(context)
    text, markup = options_screen(svc.texts, lang, dimension, code, clock.today())
    await answer(update.callback_query)
    await show(update, text, markup)


async def _route_card(update: Update, context: Context, lang: str, args: list[str]) -> None:
    reg_no, *position = args
    ctx = ":".join(map(str, _ctx(*position)))
    svc = services(context)
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    await answer(update.callback_query)
    await _show_card(update, svc, record, lang, ctx)


async def _route_status(update: Update, context: Context, lang: str, args: list[str]) -> None:
    reg_no, spec, *position = args
    ctx = ":".join(map(str, _ctx(*position)))
    await _change_status(update, services(context), lang, reg_no, spec, ctx)


async def _route_reasons(update: Update, context: Context, lang: str, args: list[str]) -> None:
    reg_no, *position = args
    ctx = ":".join(map(str, _ctx(*position)))
    svc = services(context)
    record = await _record(svc, reg_no)
    if record is None:
        await _not_found(update, svc, reg_no, lang)
        return
    if record["status"] == DROPPED:
        raise Stale(reg_no)  # the card shows no "tidak lanjut" button then
    text, markup = reason_screen(svc.texts, lang, reg_no, ctx)
    await answer(update.callback_query)
    await show(update, text, markup)


def _route_prompt(kind: str) -> Route:
    async def route(update: Update, context: Context, lang: str, args: list[str]) -> None:
        reg_no, *position = args
        ctx = ":".join(map(str, _ctx(*position)))
        svc = services(context)
        if await _record(svc, reg_no) is None:
            await _not_found(update, svc, reg_no, lang)
            return
        await answer(update.callback_query)
        await _prompt(update, context, lang, kind, reg_no, ctx)

    route.__doc__ = f"Ask for a typed {kind}."
    return route


async def _route_export(update: Update, context: Context, lang: str, args: list[str]) -> None:
    letter, code = args
    fmt = EXPORT_FORMATS.get(letter)
    if fmt is None:
        raise Stale(letter)
    decode_filters(code)
    await answer(
        update.callback_query, services(context).texts.get("staff_export_preparing", lang)
    )
    await send_export(update, context, lang, fmt, code)


async def _route_unanswered(update: Update, context: Context, lang: str, args: list[str]) -> None:
    (page,) = args
    if not page.isdigit():
        raise Stale(page)
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, int(page))
    await answer(update.callback_query)
    await show(update, text, markup)


async def _route_mark(update: Update, context: Context, lang: str, args: list[str]) -> None:
    question_id, page = args
    if not page.isdigit():
        raise Stale(page)
    await _mark_handled(update, services(context), lang, question_id, int(page))


def _desk(route: Route) -> Handler:
    """A desk route behind the router (which has checked: staff, private chat, field count)."""

    async def handler(update: Update, context: Context, *args: str) -> None:
        lang = await services(context).language(update.effective_user)
        await route(update, context, lang, list(args))

    handler.__doc__ = route.__doc__
    return handler


#: action, its fields, route
for _action, _fields, _route in (
    ("l", ("page", "code"), _route_list),
    ("f", ("page", "code"), _route_filters),
    ("fo", ("dimension", "code"), _route_options),
    ("c", ("reg_no", "page", "code"), _route_card),
    ("s", ("reg_no", "status", "page", "code"), _route_status),
    ("t", ("reg_no", "page", "code"), _route_reasons),
    ("w", ("reg_no", "page", "code"), _route_prompt("reason")),
    ("n", ("reg_no", "page", "code"), _route_prompt("note")),
    ("e", ("format", "code"), _route_export),
    ("u", ("page",), _route_unanswered),
    ("uh", ("question", "page"), _route_mark),
):
    router.action("st", _action, *_fields, staff_only=True).handles(_desk(_route))


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
        await _show_card(update, svc, record, lang, "0:")
        return
    try:
        flt = parse_filter_args(args)
    except FilterError as error:
        await reply(update, filter_error_text(svc.texts, error, lang))
        return
    text, markup = await list_screen(svc, lang, 0, encode_filters(flt))
    await reply(update, text, markup)


async def export_command(update: Update, context: Context) -> None:
    """/ekspor [csv|xlsx] [filters]: the file at once, or a choice of format."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    svc = services(context)
    args = list(context.args or [])
    fmt = None
    if args and "=" not in args[0]:
        fmt = args.pop(0).lower().lstrip(".")
        if fmt not in EXPORTERS:
            await reply(update, svc.texts.render("staff_export_bad_format", lang, value=fmt))
            return
    try:
        code = encode_filters(parse_filter_args(args))
    except FilterError as error:
        await reply(update, filter_error_text(svc.texts, error, lang))
        return
    if fmt is not None:
        await send_export(update, context, lang, fmt, code)
        return
    count = await svc.call(svc.stores.registrations.count, **asdict(decode_filters(code)))
    if not count:
        await reply(update, svc.texts.render("staff_export_empty", lang))
        return
    text, markup = export_choice(svc.texts, lang, code, count)
    await reply(update, text, markup)


async def stats_command(update: Update, context: Context) -> None:
    """/statistik: the report and the chart."""
    lang = await staff_lang(update, context)
    if lang is not None:
        await send_stats(update, context, lang)


async def unanswered_command(update: Update, context: Context) -> None:
    """/pertanyaan: the open unanswered questions, grouped."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, 0)
    await reply(update, text, markup)


async def group_command(update: Update, context: Context) -> None:
    """A desk command in a group: registration data is for private chats only."""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    if svc.config.staff.is_staff(user.id if user else None):
        await reply(
            update, svc.texts.render("staff_private_only", lang, link=private_link(context))
        )
    else:
        await reply(update, svc.texts.render("staff_only", lang))
    raise ApplicationHandlerStop


def register_early(app: Application) -> None:
    """Before every feature (group -2): replies to the desk's prompts, desk commands in groups."""
    app.add_handler(
        CommandHandler(DESK_COMMANDS, group_command, filters=filters.ChatType.GROUPS),
        group=PROMPT_GROUP,
    )
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGE
            & filters.ChatType.PRIVATE
            & flow.Active(app, flow.STAFF_PROMPT)
            & filters.TEXT
            & ~filters.COMMAND,
            prompt_reply,
        ),
        group=PROMPT_GROUP,
    )


def register(app: Application) -> None:
    """The desk's commands (private chats) and buttons."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("pendaftar", leads_command, filters=private))
    app.add_handler(CommandHandler("ekspor", export_command, filters=private))
    app.add_handler(CommandHandler("statistik", stats_command, filters=private))
    app.add_handler(CommandHandler("pertanyaan", unanswered_command, filters=private))
