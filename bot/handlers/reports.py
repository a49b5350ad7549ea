"""Exports and statistics for the staff (``/ekspor``, ``/statistik``): a file or a chart is written
to a scratch file beside the data (owner-only), sent, and deleted. Buttons: see
:mod:`bot.handlers.staff`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot.handlers.staff import (
    EXPORT,
    Context,
    audit,
    decode_filters,
    describe_filters,
    filter_error_text,
    handles,
    staff_lang,
)
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import services
from bot.ui import answer, keyboard, reply
from desk.files import EXPORTERS, scratch_file, write_export
from desk.filters import FilterError, encode_filters, parse_filter_args
from desk.stats import format_stats, stats_from
from store import clock

log = logging.getLogger(__name__)

EXPORT_FORMATS = {"c": "csv", "x": "xlsx"}


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
    await audit(svc, user.id, "export", None, format=fmt, rows=rows, filters=code or None)


def export_choice(texts: Texts, lang: str, code: str, count: int) -> tuple[Markup, Any]:
    flt = decode_filters(code)
    text = texts.render(
        "staff_export_choose", lang, filters=describe_filters(texts, flt, lang), count=count
    )
    buttons = [
        (texts.get("btn_staff_export_csv", lang), EXPORT.data("c", code)),
        (texts.get("btn_staff_export_xlsx", lang), EXPORT.data("x", code)),
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


@handles(EXPORT)
async def _export(update: Update, context: Context, lang: str, letter: str, code: str) -> None:
    fmt = EXPORT_FORMATS.get(letter)
    if fmt is None:
        raise Stale(letter)
    decode_filters(code)
    await answer(
        update.callback_query, services(context).texts.get("staff_export_preparing", lang)
    )
    await send_export(update, context, lang, fmt, code)


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


def register(app: Application) -> None:
    """/ekspor and /statistik in private chats (the buttons are the router's)."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("ekspor", export_command, filters=private))
    app.add_handler(CommandHandler("statistik", stats_command, filters=private))
