"""The follow-up queue (``/antrian``) and each staff member's daily digest.

- ``/antrian`` lists what to do next (``desk.followup.build_queue``: never contacted, due or
  overdue, the rest), the staff member's own leads ("punya saya") or everyone's ("semua"); each
  line opens the lead card, whose back button returns to the queue.
- At ``desk.digest_hour`` (the config's time zone) each staff member receives privately what
  is due for them: counts and the first few; nothing when nothing is due.

Callback data: see :mod:`bot.handlers.staff` (area ``fu``: ``fu:q``, ``fu:o``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date, time

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.handlers.followup import lead_of, show_card
from bot.handlers.followup_card import follow_up_text, relative_day, staff_name
from bot.handlers.staff import (
    CARD,
    PROMPT_GROUP,
    QUEUE,
    QUEUE_CARD,
    Context,
    group_command,
    handles,
    shorten,
    staff_lang,
)
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from desk.followup import DUE, NEW, REST, Digest, QueueItem, build_digests, build_queue, labels
from store import clock
from store.clock import format_date, format_local

log = logging.getLogger(__name__)

QUEUE_PER_PAGE = 8
MINE, ALL = "m", "a"
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
    record = await lead_of(update, svc, reg_no, lang)
    if record is None:
        return
    await answer(update.callback_query)
    back = (svc.texts.get("btn_fu_back_to_queue", lang), QUEUE.data(scope, page))
    await show_card(update, svc, record, lang, (0, ""), back=back)


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


def register_early(app: Application) -> None:
    """Before every feature (group -2): /antrian typed in a group points to a private chat."""
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
