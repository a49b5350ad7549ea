"""The questions the bot could not answer, grouped by similarity, for the staff (``/pertanyaan``):
the most asked first, with a button to close a group once it is handled. Buttons: see
:mod:`bot.handlers.staff`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.config import Config
from bot.handlers.staff import MARK, UNANSWERED, Context, audit, handles, shorten, staff_lang
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from desk.unanswered import Group, group_questions
from store.clock import format_local

GROUPS_PER_PAGE = 8
MAX_QUESTION_SHOWN = 160


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
                text=shorten(group.representative, MAX_QUESTION_SHOWN),
                count=group.count,
                last=format_local(group.last_at, "%d-%m %H:%M"),
            )
        )
    marks = [
        (texts.get("btn_staff_mark", lang).format(number=number), MARK.data(group.ids[0], page))
        for number, group in enumerate(shown, start=first + 1)
    ]
    rows: list[list[Button]] = [marks[i : i + 4] for i in range(0, len(marks), 4)]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), UNANSWERED.data(page - 1)))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), UNANSWERED.data(page + 1)))
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
    await audit(svc, query.from_user.id, "unanswered_handled", None, count=count)
    await answer(query, svc.texts.get("staff_unanswered_marked", lang).format(count=count))
    remaining = [g for g in groups if g is not group]
    text, markup = unanswered_screen(svc.texts, svc.config, remaining, lang, page)
    await show(update, text, markup)


@handles(UNANSWERED)
async def _page(update: Update, context: Context, lang: str, page: str) -> None:
    if not page.isdigit():
        raise Stale(page)
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, int(page))
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(MARK)
async def _mark(update: Update, context: Context, lang: str, question_id: str, page: str) -> None:
    if not page.isdigit():
        raise Stale(page)
    await _mark_handled(update, services(context), lang, question_id, int(page))


async def unanswered_command(update: Update, context: Context) -> None:
    """/pertanyaan: the open unanswered questions, grouped."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, 0)
    await reply(update, text, markup)


def register(app: Application) -> None:
    """/pertanyaan in private chats (the buttons are the router's)."""
    app.add_handler(
        CommandHandler("pertanyaan", unanswered_command, filters=filters.ChatType.PRIVATE)
    )
