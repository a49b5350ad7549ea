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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    filters,
)

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
DESK_COMMANDS = ("pendaftar", "ekspor", "statistik", "pertanyaan")


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
