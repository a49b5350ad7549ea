"""build_application(): the one place where every handler is registered, in order.

Order matters: within handler group 0 the first matching handler wins. So:
1. groups and edited messages are dealt with before any feature sees them;
2. commands and buttons of each feature;
3. conversations (questionnaire, registration), which own free text while they are active;
4. free text as a FAQ question;
5. the catch-alls: unknown commands, other media, unknown buttons, anything else.
Before all of group 0, groups -2 and -1 take what belongs to the staff: replies to the bot's
prompts, the staff group's messages, and the messages of a citizen talking to the staff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, Defaults
from telegram.request import BaseRequest, HTTPXRequest

from bot import delivery, teaching
from bot.commands import CommandMenus
from bot.config import Config
from bot.errors import error_handler
from bot.handlers import (
    broadcast,
    data_rights,
    fallbacks,
    faq,
    followup,
    handoff,
    leads,
    nik_guard,
    programme_status,
    queue,
    registration,
    reports,
    search,
    staff,
    start,
    subscribe,
    unanswered,
)
from bot.handlers import screening as screening_handlers
from bot.metrics import CountingQueue, MeteredApplication, MeteredRequest, Metrics, count_error
from bot.persistence import StorePersistence
from bot.processing import GroupPolicy, PerChatUpdateProcessor
from bot.ratelimit import PriorityRateLimiter
from bot.routing import router
from bot.services import Services
from bot.ui import NO_PREVIEW
from desk.files import remove_scratch_files

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def build_application(
    config: Config,
    *,
    services: Services | None = None,
    update_processor: BaseUpdateProcessor | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
) -> AnyApplication:
    """The real Application, for Telegram, the console chat and the tests alike."""
    if not config.token:
        raise ValueError("a bot token is needed to build the Telegram application")
    persistence = StorePersistence()  # conversation states and user_data in stores.kv
    metrics = Metrics()  # served at /metrics by bot.webhook; nothing personal in a label
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .application_class(MeteredApplication)  # times every update it handles
        .update_queue(CountingQueue(metrics))  # counts what long polling receives
        .token(config.token)
        .concurrent_updates(update_processor or PerChatUpdateProcessor())
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .persistence(persistence)
        # Every message is Telegram HTML without link previews, unless a call says otherwise.
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW))
    )
    if config.base_url and config.base_file_url:
        builder = builder.base_url(config.base_url).base_file_url(config.base_file_url)
    # Every Bot API call is counted and timed by method (PTB's own defaults otherwise).
    if request is None:
        request, get_updates_request = HTTPXRequest(connection_pool_size=256), HTTPXRequest()
    builder = builder.request(MeteredRequest(request, metrics)).get_updates_request(
        MeteredRequest(get_updates_request or request, metrics)
    )
    if rate_limiter:
        # Citizens' replies before announcements, under one global budget (bot/ratelimit.py).
        limiter = PriorityRateLimiter(
            per_chat_interval=config.broadcast.per_chat_interval_seconds, max_retries=2
        )
        builder = builder.rate_limiter(limiter)
        metrics.live.rate_limiter = limiter
    app = builder.build()
    if isinstance(app.update_processor, PerChatUpdateProcessor):
        # The staff group gets its own lane; other groups one reply per minute at most; a chat
        # that floods the bot is told once and the excess dropped (bot/processing.py).
        app.update_processor.configure(
            staff_chat_id=config.staff.group_chat_id,
            group_policy=GroupPolicy(),
            on_overflow=functools.partial(_too_many_messages, app),
        )
    persistence.attach(app)  # reads the stores of the services (opened on first use)
    app.bot_data["config"] = config
    app.bot_data["metrics"] = metrics
    app.bot_data["owns_services"] = services is None
    if services is not None:
        app.bot_data["services"] = services

    followup.register_early(app)  # -5: staff names; -2: its prompts
    queue.register_early(app)  # -2: /antrian in a group
    nik_guard.register_first(app)  # group -3: a NIK typed anywhere leaves the chat at once
    staff.register_early(app)  # group -2: desk commands typed in a group
    leads.register_early(app)  # group -2: replies to the desk's prompts (notes, reasons)
    search.register_early(app)  # group -2: the answer to the desk's search prompt
    unanswered.register_early(app)  # group -2: the entry typed to teach the bot a question
    handoff.register_early(app)  # group -1: /tutup, staff answers, citizens' open conversations
    fallbacks.register_first(app)
    start.register(app)
    handoff.register(app)  # /petugas
    leads.register(app)  # the desk: /pendaftar
    search.register(app)  # /cari
    queue.register(app)  # /antrian, the daily follow-up digest
    reports.register(app)  # /ekspor /statistik
    unanswered.register(app)  # /pertanyaan
    programme_status.register(app)  # /statusprogram (admins)
    screening_handlers.register(app)  # a flow that owns text while active: before free text
    registration.register(app)  # a flow that owns text while active: before free text
    data_rights.register(app)  # /dataku, /hapusdata, the daily retention purge
    subscribe.register(app)  # /langganan, /berhenti
    broadcast.register(app)  # /pengumuman, /siaran, a draft's typed input
    router.register(app)  # every button of every area (bot/routing.py), guards declared there
    faq.register_questions(app)
    registration.register_cancel_fallback(app)  # /batal outside every flow: nothing to cancel
    fallbacks.register(app)
    app.add_error_handler(error_handler)
    app.add_error_handler(count_error)  # bot_handler_errors by exception class
    return app


async def _post_init(app: AnyApplication) -> None:
    config: Config = app.bot_data["config"]
    services = app.bot_data.get("services")
    if services is None:
        services = app.bot_data["services"] = await Services.create(config)
    removed = await asyncio.to_thread(remove_scratch_files, config.data_dir)
    if removed:
        log.warning("removed %d export file(s) left behind by an interrupted export", removed)
    if app.job_queue is not None:
        app.job_queue.run_repeating(_flush_usage, interval=60, first=60, name="faq-usage")
        if config.fleet:  # what another worker taught or posted (bot.teaching), within a minute
            app.job_queue.run_repeating(
                _refresh_teaching, interval=60, first=60, name="faq-taught"
            )
    await delivery.start(app)  # the announcement sender: resume running ones, re-arm scheduled
    _watch(app, services)
    menus = app.bot_data["commands"] = CommandMenus(services.texts, config.staff)
    if app.bot_data.get("set_commands", True):
        await menus.apply_defaults(app.bot)
    log.info("bot @%s ready", app.bot.username)


def _watch(app: AnyApplication, services: Services) -> None:
    """What ``/metrics`` reads when scraped: store writes, announcements, the FAQ's counts."""
    metrics: Metrics = app.bot_data["metrics"]
    metrics.observe_stores()

    def running_broadcasts() -> list[dict[str, int]]:
        manager = app.bot_data.get(delivery.SERVICE_KEY)
        deliveries = list(getattr(manager, "deliveries", {}).values())
        return [running.progress().figures.as_dict() for running in deliveries]

    def faq_counts() -> tuple[int, int]:
        stores = services.stores
        answered = sum(int(n or 0) for _, n in stores.kv.items("faq_usage"))
        return answered, stores.unanswered.count_total()

    metrics.live.broadcasts = running_broadcasts
    metrics.live.faq_counts = faq_counts


async def _too_many_messages(app: AnyApplication, update: object) -> None:
    """Once per burst: the chat sent more than the bot queues; the rest was dropped."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    services = app.bot_data.get("services")
    if services is None:
        return
    lang = await services.language(update.effective_user)
    try:
        await app.bot.send_message(
            update.effective_chat.id, services.texts.render("too_many_messages", lang)
        )
    except TelegramError as exc:
        log.info("could not tell a chat it sent too many messages: %s", exc)


async def _flush_usage(context: Any) -> None:
    await context.bot_data["services"].flush_usage()


async def _refresh_teaching(context: Any) -> None:
    if await teaching.refresh(context.bot_data["services"]):
        log.info("the FAQ took up what staff taught or posted in another process")


async def _post_shutdown(app: AnyApplication) -> None:
    await delivery.stop(app)  # deliveries stop before the stores close
    metrics = app.bot_data.get("metrics")
    if isinstance(metrics, Metrics):
        metrics.close()
    services = app.bot_data.pop("services", None)
    if services is not None and app.bot_data.pop("owns_services", True):
        await services.close()
