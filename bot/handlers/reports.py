"""Exports and statistics for the staff (``/ekspor``, ``/statistik``): a file or a chart is written
to a scratch file beside the data (owner-only), sent, and deleted. Buttons: see
:mod:`bot.handlers.staff`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot.handlers.staff import (
    EXPORT,
    STATS,
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
from bot.services import Services, services
from bot.ui import answer, keyboard, reply, show
from desk.files import EXPORTERS, scratch_file, write_export
from desk.filters import FilterError, encode_filters, parse_filter_args
from desk.stats import (
    PRESETS,
    Period,
    PeriodError,
    decode_period,
    format_stats,
    parse_period,
    period_label,
    stats_from,
)
from store import clock

log = logging.getLogger(__name__)

EXPORT_FORMATS = {"x": "xlsx", "c": "csv"}  # the staff's file first


# -- export ---------------------------------------------------------------------------------------


def staff_names(svc: Services) -> Mapping[int, str]:
    """The staff's display names by Telegram id, for the "assigned to" column (``staff.names``
    of the config, when it has them; otherwise the export shows the ids)."""
    names: Mapping[int, str] = getattr(svc.config.staff, "names", None) or {}
    return names


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
        rows = await asyncio.to_thread(
            write_export, records, path, fmt, lang=lang, names=staff_names(svc), today=today
        )
        caption = svc.texts.render(
            "staff_export_caption_csv" if fmt == "csv" else "staff_export_caption",
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
        (texts.get("btn_staff_export_xlsx", lang), EXPORT.data("x", code)),
        (texts.get("btn_staff_export_csv", lang), EXPORT.data("c", code)),
    ]
    return text, keyboard([buttons])


# -- statistics -----------------------------------------------------------------------------------


def period_keyboard(texts: Texts, lang: str, period: Period) -> Any:
    """The preset periods as buttons, the one shown marked."""
    buttons = []
    for preset in PRESETS:
        label = texts.get(f"btn_staff_stats_{preset}", lang)
        if preset == period.preset:
            label = texts.get("btn_staff_stats_current", lang).format(label=label)
        buttons.append((label, STATS.data(preset)))
    return keyboard([buttons])


async def send_stats(update: Update, context: Context, lang: str, period: Period) -> None:
    """The statistics report of ``period`` with the period buttons (a press edits the report in
    place), then the chart as a photo."""
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    await svc.flush_usage()
    records = await svc.call(svc.stores.registrations.search)
    usage = await svc.call(svc.stores.kv.items, "faq_usage")
    unanswered = await svc.call(svc.stores.unanswered.count_total)
    today = clock.today()
    stats = await asyncio.to_thread(stats_from, records, usage, unanswered, today, period)
    report = Markup(format_stats(stats, lang) + "\n\n" + svc.texts.get("staff_stats_hint", lang))
    await show(update, report, period_keyboard(svc.texts, lang, period))
    from desk.charts import render_chart  # matplotlib: loaded when a chart is first drawn

    path = scratch_file(svc.config.data_dir, "chart", "png")
    try:
        await asyncio.to_thread(render_chart, stats, path, lang)
        caption = svc.texts.render(
            "staff_chart_caption", lang, period=period_label(stats.period, lang)
        )
        with path.open("rb") as handle:
            await chat.send_photo(handle, caption=caption)
    finally:
        path.unlink(missing_ok=True)


@handles(STATS)
async def _stats(update: Update, context: Context, lang: str, code: str) -> None:
    try:
        period = decode_period(code, clock.today())
    except PeriodError as exc:
        raise Stale(code) from exc
    texts = services(context).texts
    await answer(update.callback_query, texts.get("staff_stats_preparing", lang))
    await send_stats(update, context, lang, period)


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
    """/statistik [7 hari | 30 hari | semua | DD-MM-YYYY DD-MM-YYYY]: the report and the chart."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    args = list(context.args or [])
    try:
        period = parse_period(args, clock.today())
    except PeriodError:
        value = " ".join(args)
        await reply(
            update, services(context).texts.render("staff_stats_bad_period", lang, value=value)
        )
        return
    await send_stats(update, context, lang, period)


def register(app: Application) -> None:
    """/ekspor and /statistik in private chats (the buttons are the router's)."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("ekspor", export_command, filters=private))
    app.add_handler(CommandHandler("statistik", stats_command, filters=private))
