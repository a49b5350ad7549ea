"""The staff desk's common ground: who is staff, the desk's callback actions, filters in words,
the audit, and desk commands typed in a group. The desk itself is three modules:

- :mod:`bot.handlers.leads`: the lead list, its filters, the lead card, follow-up and notes
  (``/pendaftar``);
- :mod:`bot.handlers.reports`: exports and statistics (``/ekspor``, ``/statistik``);
- :mod:`bot.handlers.unanswered`: the questions the bot could not answer (``/pertanyaan``).

Staff only: every command and button is refused politely to citizens, and registration data is
shown in private chats only. Every change and every export is written to the audit (who, when,
what; no personal data).

Callback data (``st:``; ``<page>:<code>`` is the position in the list to go back to: a page number
and the filter code of ``desk.filters``), declared here with ``bot.routing`` (staff only, private
chats only, the number of fields checked) and handled in the modules above:

    st:l:<page>:<code>                  a page of the lead list
    st:f:<page>:<code>                  the filter overview
    st:fo:<dimension>:<code>            the choices of one filter (p o k s d)
    st:c:<reg_no>:<page>:<code>         a lead card
    st:s:<reg_no>:<status>[.<reason>]:<page>:<code>   a follow-up status change (indexes)
    st:t:<reg_no>:<page>:<code>         reasons for "tidak lanjut"
    st:w:<reg_no>:<page>:<code>         type another reason (a ForceReply prompt)
    st:n:<reg_no>:<page>:<code>         add a note (a ForceReply prompt)
    st:e:<c|x>:<code>                   export as CSV or XLSX
    st:u:<page>                         unanswered question groups
    st:uh:<question id>:<page>          mark the group holding that question as handled
    st:uo:<question id>:<page>          teach the bot that group: candidates, off-topic
    st:ua:<question id>:<entry>:<page>  its questions become phrasings of that entry
    st:ux:<question id>:<page>          its questions become off-topic examples
    st:us:<question id>:<page>          type an entry id or words (a ForceReply prompt)

    Bulk and safe changes (bot.handlers.bulk):
    st:b:<code>                         change the status of every lead of a filtered list
    st:bs:<status>:<code>               ... to that status (index): confirm, with the count
    st:by:<status>:<count>:<code>       confirmed: apply (refused if the count changed since)
    st:bu                               undo the staff member's last status change (or bulk one)
    st:sy:<reg_no>:<status>:<page>:<code>   a status that looks final (berangkat), confirmed

    Search (bot.handlers.search):
    st:q                                ask for the search text (a ForceReply prompt)
    st:qp:<page>                        a page of the last search's results

deskout (statistics):

    st:g:<period>                       statistics over a period: 7, 30, all or
                                        d<yyyymmdd>-<yyyymmdd> (typed dates)

deskfollow (``fu:``, :mod:`bot.handlers.followup`: the queue, the call log, assignment):

    fu:q:<m|a>:<page>                   the follow-up queue, mine or all (/antrian)
    fu:o:<reg_no>:<m|a>:<page>          a lead card opened from the queue (back: the queue)
    fu:k:<reg_no>:<page>:<code>         record a contact: the outcomes
    fu:ko:<reg_no>:<outcome>:<page>:<code>     record that outcome (index in CONTACT_OUTCOMES)
    fu:kd:<reg_no>:<preset>:<page>:<code>      "call back" on a preset date (index)
    fu:kt:<reg_no>:<page>:<code>        "call back" on a typed date (a ForceReply prompt)
    fu:kn:<reg_no>:<contact>:<page>:<code>     a typed note on contact attempt <contact>
    fu:d:<reg_no>:<page>:<code>         the next follow-up date: presets, typed, clear
    fu:ds:<reg_no>:<preset|x>:<page>:<code>    set it to a preset (index), or clear it (x)
    fu:dt:<reg_no>:<page>:<code>        type the next follow-up date (a ForceReply prompt)
    fu:a:<reg_no>:<page>:<code>         assignment: to me, to nobody, (admins) to anyone
    fu:at:<reg_no>:<m|0|user id>:<page>:<code> assign to me, to nobody, to that staff member
    fu:u:<reg_no>:<page>:<code>         the lead's audit trail, staff shown by name
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.i18n import Markup, Texts
from bot.routing import Action, Stale, router
from bot.services import Services, services
from bot.ui import answer, reply
from desk import labels
from desk.export import ExportFilters
from desk.filters import ARG_KEYS, CHOICES, FIELDS, FilterCodeError, FilterError
from desk.filters import decode_filters as _decode_filters
from screening.identity import load_wilayah
from store.clock import format_date

Context = ContextTypes.DEFAULT_TYPE
#: A desk button's handler: the staff member's language, then the action's fields.
Route = Callable[..., Awaitable[None]]

#: Staff replies to the bot's prompts (notes, reasons) are taken before any other handler.
PROMPT_GROUP = -2
DESK_COMMANDS = ("pendaftar", "cari", "ekspor", "statistik", "pertanyaan")


def _desk(area: str, name: str, *fields: str) -> Action:
    return router.action(area, name, *fields, staff_only=True)


LIST = _desk("st", "l", "page", "code")
FILTERS = _desk("st", "f", "page", "code")
OPTIONS = _desk("st", "fo", "dimension", "code")
CARD = _desk("st", "c", "reg_no", "page", "code")
STATUS = _desk("st", "s", "reg_no", "status", "page", "code")
REASONS = _desk("st", "t", "reg_no", "page", "code")
REASON_PROMPT = _desk("st", "w", "reg_no", "page", "code")
NOTE_PROMPT = _desk("st", "n", "reg_no", "page", "code")
EXPORT = _desk("st", "e", "format", "code")
UNANSWERED = _desk("st", "u", "page")
MARK = _desk("st", "uh", "question", "page")
TEACH = _desk("st", "uo", "question", "page")
ATTACH = _desk("st", "ua", "question", "entry", "page")
OFF_TOPIC = _desk("st", "ux", "question", "page")
PICK_ENTRY = _desk("st", "us", "question", "page")

# -- bulk and safe changes: see bot.handlers.bulk
BULK = _desk("st", "b", "code")
BULK_STATUS = _desk("st", "bs", "status", "code")
BULK_APPLY = _desk("st", "by", "status", "count", "code")
UNDO = _desk("st", "bu")
STATUS_CONFIRMED = _desk("st", "sy", "reg_no", "status", "page", "code")

# -- search: see bot.handlers.search
SEARCH = _desk("st", "q")
SEARCH_PAGE = _desk("st", "qp", "page")

# -- deskout: statistics over a period (``desk.stats.Period.code``) ------------------------------
STATS = _desk("st", "g", "period")


def handles(action: Action) -> Callable[[Route], Route]:
    """Decorator: ``route(update, context, lang, *fields)`` answers ``action``'s presses (the
    router has checked: staff, private chat, the number of fields)."""

    def attach(route: Route) -> Route:
        async def handler(update: Update, context: Context, *fields: str) -> None:
            lang = await services(context).language(update.effective_user)
            await route(update, context, lang, *fields)

        handler.__doc__ = route.__doc__
        action.handles(handler)
        return route

    return attach


# -- filters: a compact code for callback data, and key=value arguments for commands ------------


def decode_filters(code: str) -> ExportFilters:
    """The filters of a code from a button; ``Stale`` for a code no screen makes."""
    try:
        return _decode_filters(code)
    except FilterCodeError as exc:
        raise Stale(code) from exc


def position(page: str, code: str) -> tuple[int, str]:
    """A list position from callback data: a page number and a valid filter code."""
    if not page.isdigit():
        raise Stale(page)
    decode_filters(code)
    return int(page), code


def filter_error_text(texts: Texts, error: FilterError, lang: str) -> Markup:
    """What was wrong with a typed filter, with the keys or values that would work."""
    key, _, value = error.token.partition("=")
    if error.dimension in ("a", "b"):
        return texts.render("staff_bad_date", lang, value=value)
    known = ARG_KEYS if error.dimension is None else CHOICES[error.dimension]
    choices = ", ".join(sorted(known) if error.dimension is None else known)
    return texts.render("staff_bad_filter", lang, token=error.token, key=key, choices=choices)


def value_label(letter: str, value: str, lang: str) -> str:
    """A filter value in words (a programme, an outcome, a kecamatan, a status)."""
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
        texts.get(f"staff_filter_{field}", lang).format(value=value_label(letter, value, lang))
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


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def add_prompt_handler(
    app: Application, name: str, callback: Callable[[Update, Context], Coroutine[Any, Any, None]]
) -> None:
    """Before every feature (group -2): a staff member's typed answer to prompt flow ``name``,
    in a private chat (the callback checks it with :func:`prompt_answer`)."""
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGE
            & filters.ChatType.PRIVATE
            & flow.Active(app, name)
            & filters.TEXT
            & ~filters.COMMAND,
            callback,
        ),
        group=PROMPT_GROUP,
    )


def prompt_answer(update: Update, context: Context, name: str) -> dict[str, Any] | None:
    """The state of prompt flow ``name`` if this message from a staff member answers it: a
    reply to the prompt, or simply the next message (a reply to another message is not)."""
    message = update.message
    if message is None or message.from_user is None:
        return None
    if not services(context).config.staff.is_staff(message.from_user.id):
        return None
    prompt = flow.state(context, name)
    target = message.reply_to_message
    if prompt is None or (target is not None and target.message_id != prompt["message_id"]):
        return None
    return dict(prompt)


def private_link(context: Context) -> Markup:
    username = context.bot.username
    return Markup(f'<a href="https://t.me/{username}">@{username}</a>')


async def audit(
    svc: Services, actor: int, action: str, target: str | None, **details: Any
) -> None:
    await svc.call(svc.stores.audit.record, actor, action, target, details or None)


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
    """Before every feature (group -2): desk commands typed in a group are refused there."""
    app.add_handler(
        CommandHandler(DESK_COMMANDS, group_command, filters=filters.ChatType.GROUPS),
        group=PROMPT_GROUP,
    )


# -- deskfollow: the follow-up queue, the call log, the next follow-up date, assignment --------
# Area ``fu``; handled in bot.handlers.followup (the card's lines in bot.handlers.followup_card).

QUEUE = _desk("fu", "q", "scope", "page")
QUEUE_CARD = _desk("fu", "o", "reg_no", "scope", "page")
CONTACT = _desk("fu", "k", "reg_no", "page", "code")
OUTCOME = _desk("fu", "ko", "reg_no", "outcome", "page", "code")
CALL_BACK = _desk("fu", "kd", "reg_no", "preset", "page", "code")
CALL_BACK_PROMPT = _desk("fu", "kt", "reg_no", "page", "code")
CONTACT_NOTE = _desk("fu", "kn", "reg_no", "contact", "page", "code")
SCHEDULE = _desk("fu", "d", "reg_no", "page", "code")
SCHEDULE_SET = _desk("fu", "ds", "reg_no", "preset", "page", "code")
SCHEDULE_PROMPT = _desk("fu", "dt", "reg_no", "page", "code")
ASSIGN = _desk("fu", "a", "reg_no", "page", "code")
ASSIGN_TO = _desk("fu", "at", "reg_no", "target", "page", "code")
AUDIT = _desk("fu", "u", "reg_no", "page", "code")
