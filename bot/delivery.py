"""The announcement delivery service: the one long-lived sender of the bot.

:class:`DeliveryService` runs the announcements of the durable outbox. The decisions are the
domain's: who gets what (``desk/outbox.py``), at what pace and exactly once
(``desk/broadcast.py``). Here each delivery runs as a plain asyncio task with its requests
marked *bulk* for the rate limiter, a progress message edited for the staff member who sent it
and a final report. Handlers reach it through :func:`service` to start,
schedule or cancel an announcement; nothing here reads an update.

Lifecycle, from ``bot/app.py``: :func:`start` (post_init) opens the outbox, resumes running
announcements and re-arms scheduled ones; :func:`stop` (post_shutdown, or earlier from the rate
limiter's shutdown hook, before the bot's connections close) stops every delivery after its sends
in flight; an interrupted one resumes at the next :func:`start`.

Only one process runs the deliveries over one outbox. In a fleet of workers (``bot/fleet.py``)
every worker has the service (handlers create, schedule and stop announcements through it) but
only the leader sends: :meth:`DeliveryService.lead` (called by the leader every poll) resumes
what is running and not sent here (a leader that died), arms what is scheduled, begins what
was sent "now" on another worker and stops what staff stopped on another worker (the outbox's
``stop_requested``); :meth:`DeliveryService.step_down` stops sending when the lead is lost. A
fleet's leader records each recipient's intent just before its own send (``Pace.intent_each``)
and paces announcements within its share of the fleet's send budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes

from bot.i18n import Markup, Texts
from bot.ratelimit import BEFORE_BULK_SEND, BULK, PriorityRateLimiter, retry_after_seconds
from bot.routing import router
from bot.services import Services
from bot.telegram_html import to_plain
from bot.ui import drop_buttons, keyboard
from desk import labels
from desk.broadcast import (
    Delivery,
    DeliveryError,
    Pace,
    PermanentError,
    Progress,
    RateLimited,
    Send,
    TransientError,
    UncertainError,
    Unreachable,
    intent_hook,
)
from desk.outbox import (
    DONE,
    RUNNING,
    SCHEDULED,
    Audience,
    Figures,
    Outbox,
    Recipient,
    resolve_audience,
)
from screening.identity import load_wilayah
from store.clock import parse

log = logging.getLogger(__name__)

#: Where the running service is kept in ``bot_data``.
SERVICE_KEY = "broadcaster"
#: "Hentikan #id" under a progress message, and in the /siaran list (handled by
#: ``bot/handlers/broadcast.py``, which asks to confirm first).
STOP = router.action("bc", "c", "broadcast", staff_only=True)


# -- what citizens receive ------------------------------------------------------------------


def unsubscribe_markup(texts: Texts, lang: str) -> InlineKeyboardMarkup:
    """The button under every announcement."""
    return keyboard([[(texts.get("btn_subscribe_off", lang), "sub:off")]])


PREVIEW = LinkPreviewOptions(is_disabled=False)


async def send_announcement(
    bot: Any, chat_id: int, content: Mapping[str, Any], markup: InlineKeyboardMarkup, *, bulk: bool
) -> Message:
    """Send an announcement to one chat; ``bulk`` puts it in the rate limiter's bulk lane."""
    options: dict[str, Any] = {"reply_markup": markup}
    if bulk and isinstance(bot.rate_limiter, PriorityRateLimiter):
        options["rate_limit_args"] = BULK
    text = content.get("text") or None
    if content["kind"] == "photo":
        return await bot.send_photo(chat_id, content["file_id"], caption=text, **options)
    if content["kind"] == "document":
        return await bot.send_document(chat_id, content["file_id"], caption=text, **options)
    # Announcements keep their link previews (a training schedule's page, say); replies don't.
    options["link_preview_options"] = PREVIEW
    return await bot.send_message(chat_id, content["text"], **options)


def delivery_error(error: TelegramError) -> DeliveryError:
    """Telegram's answer as the broadcast core's error: what to do with this recipient."""
    text = error.message.lower()
    if isinstance(error, RetryAfter):
        return RateLimited(retry_after_seconds(error))
    if isinstance(error, Forbidden):
        return Unreachable("deactivated" if "deactivated" in text else "blocked")
    if isinstance(error, BadRequest):
        if "chat not found" in text or "peer_id_invalid" in text:
            return Unreachable("chat_not_found")
        return PermanentError(error.message)
    if isinstance(error, TimedOut):  # a pool timeout never left; any other may have arrived
        return TransientError(error.message) if "pool" in text else UncertainError(error.message)
    if isinstance(error, NetworkError):
        return TransientError(error.message)
    return PermanentError(error.message)


# -- rendering ------------------------------------------------------------------------------


def format_number(value: int, lang: str) -> str:
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if lang == "id" else grouped


def _duration(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def dimension_options(dimension: str, lang: str) -> list[tuple[str, str]]:
    """(value, label) of one audience dimension."""
    if dimension == "kecamatan":
        return [(kec.id, kec.name) for kec in load_wilayah().kecamatan]
    section = {"outcome": "outcomes", "programme": "interests", "status": "statuses"}[dimension]
    return list(labels(section, lang).items())


def audience_label(texts: Texts, audience: Audience, lang: str) -> str:
    """Who an announcement goes to, in words."""
    if audience.value is None:
        return texts.get(f"bc_audience_{audience.kind}", lang)
    value = dict(dimension_options(audience.kind, lang)).get(audience.value, audience.value)
    dimension = texts.get(f"bc_dimension_{audience.kind}", lang)
    return to_plain(texts.render("bc_audience_value", lang, dimension=dimension, value=value))


def render_progress(texts: Texts, doc: Mapping[str, Any], progress: Progress) -> Markup:
    lang, figures = doc["lang"], progress.figures
    return texts.render(
        "bc_progress",
        lang,
        id=doc["id"],
        audience=audience_label(texts, Audience.from_dict(doc["audience"]), lang),
        sent=format_number(figures.sent, lang),
        failed=format_number(figures.failed, lang),
        blocked=format_number(figures.blocked, lang),
        remaining=format_number(figures.remaining, lang),
        eta=_duration(progress.eta_seconds),
    )


def render_report(texts: Texts, doc: Mapping[str, Any]) -> Markup:
    lang = doc["lang"]
    figures = Figures.from_dict(doc["figures"])
    started, finished = doc.get("started_at"), doc.get("finished_at")
    seconds = (parse(finished) - parse(started)).total_seconds() if started and finished else 0
    done = doc["state"] == DONE
    return texts.render(
        "bc_report",
        lang,
        icon="✅" if done else "⛔",
        id=doc["id"],
        outcome=texts.get("bc_outcome_done" if done else "bc_outcome_cancelled", lang),
        audience=audience_label(texts, Audience.from_dict(doc["audience"]), lang),
        total=format_number(figures.total, lang),
        **{
            name: format_number(getattr(figures, name), lang)
            for name in ("sent", "failed", "blocked", "unknown", "skipped")
        },
        duration=_duration(seconds),
    )


# -- the service ----------------------------------------------------------------------------


@dataclass
class DeliveryService:
    """Runs the Application's announcements: deliveries, schedules, progress and reports."""

    app: Any
    svc: Services
    outbox: Outbox
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # progress texts, to edit only changes
    #: A fleet's worker: sends only while it leads (``lead``/``step_down``).
    fleet: bool = False
    leading: bool = True
    armed: set[str] = field(default_factory=set)
    starting: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)  # ended here: never resumed again

    @property
    def pace(self) -> Pace:
        cfg = self.svc.config.broadcast
        if not self.fleet:
            return Pace(
                rate_per_second=cfg.rate_per_second,
                per_chat_interval=cfg.per_chat_interval_seconds,
                max_retries=cfg.max_retries,
                progress_interval=cfg.progress_interval_seconds,
            )
        # Within this worker's share of the fleet's budget (a little under, so that bulk sends
        # seldom wait in the rate limiter with their intent recorded), few in flight.
        share = float(self.app.bot_data.get("fleet_share") or cfg.rate_per_second)
        return Pace(
            rate_per_second=max(0.5, min(cfg.rate_per_second, 0.8 * share)),
            per_chat_interval=cfg.per_chat_interval_seconds,
            max_retries=cfg.max_retries,
            progress_interval=cfg.progress_interval_seconds,
            max_in_flight=4,
            intent_each=True,
        )

    async def lead(self) -> None:
        """The fleet's leader, every poll: resume running announcements not sent here, arm the
        scheduled ones, stop those staff stopped on another worker."""
        self.leading = True
        for broadcast_id in await self.svc.call(self.outbox.ids_in, RUNNING):
            doc = await self.svc.call(self.outbox.get, broadcast_id)
            if doc is None:
                continue
            delivery = self.deliveries.get(broadcast_id)
            busy = broadcast_id in self.starting or broadcast_id in self.finished
            if delivery is None and not busy and doc["state"] == RUNNING:
                log.info("resuming broadcast %s", broadcast_id)
                self.launch(doc)
                delivery = self.deliveries.get(broadcast_id)
            if delivery is not None and doc.get("stop_requested"):
                delivery.cancel()
        for broadcast_id in await self.svc.call(self.outbox.ids_in, SCHEDULED):
            if broadcast_id not in self.armed:
                doc = await self.svc.call(self.outbox.get, broadcast_id)
                if doc is not None:
                    self.arm(doc)

    async def step_down(self) -> None:
        """The lead is lost: stop sending (resumable by the next leader), forget the timers."""
        self.leading = False
        for broadcast_id in list(self.armed):
            self.disarm(broadcast_id)
        await self.stop()

    async def request_cancel(self, broadcast_id: str) -> bool:
        """Stop a running announcement: here, or (a fleet) wherever the leader sends it."""
        if self.cancel_running(broadcast_id):
            return True
        if not self.fleet:
            return False
        return bool(await self.svc.call(self.outbox.request_stop, broadcast_id))

    async def start(self) -> None:
        """Resume running announcements and re-arm scheduled ones (after a restart)."""
        for broadcast_id in await self.svc.call(self.outbox.ids_in, RUNNING):
            doc = await self.svc.call(self.outbox.get, broadcast_id)
            log.info("resuming broadcast %s", broadcast_id)
            self.launch(doc)
        for broadcast_id in await self.svc.call(self.outbox.ids_in, SCHEDULED):
            self.arm(await self.svc.call(self.outbox.get, broadcast_id))

    async def stop(self) -> None:
        """Stop every delivery after its sends in flight; they resume at the next start."""
        for delivery in self.deliveries.values():
            delivery.stop()
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def arm(self, doc: Mapping[str, Any]) -> None:
        """Schedule the start of an announcement: at once if its time has passed, or if it was
        sent "now" and the bot stopped before it started."""
        if not self.leading:
            return  # the leader arms it (``lead``)
        self.armed.add(doc["id"])
        when = doc["scheduled_for"]
        seconds = max(0.0, (parse(when) - datetime.now(UTC)).total_seconds()) if when else 0.0
        job_queue = self.app.job_queue
        if job_queue is None:  # pragma: no cover - the job-queue extra is a dependency
            log.error("no job queue: broadcast %s cannot be scheduled", doc["id"])
            return
        job_queue.run_once(self._fire, seconds, data=doc["id"], name=_job_name(doc["id"]))

    def disarm(self, broadcast_id: str) -> None:
        self.armed.discard(broadcast_id)
        if self.app.job_queue is not None:
            for job in self.app.job_queue.get_jobs_by_name(_job_name(broadcast_id)):
                job.schedule_removal()

    async def _fire(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None
        await self.begin(str(context.job.data))

    async def begin(self, broadcast_id: str) -> None:
        """Freeze the recipients of a scheduled announcement, open its report, start sending
        (a fleet's worker that does not lead leaves that to the leader)."""
        if not self.leading or broadcast_id in self.starting:
            return
        self.starting.add(broadcast_id)
        try:
            await self._begin(broadcast_id)
        finally:
            self.starting.discard(broadcast_id)

    async def _begin(self, broadcast_id: str) -> None:
        svc = self.svc
        doc = await svc.call(self.outbox.get, broadcast_id)
        if doc is None or doc["state"] != SCHEDULED:
            return
        audience = Audience.from_dict(doc["audience"])
        recipients = await svc.call(
            resolve_audience, svc.stores, audience, svc.config.default_language
        )
        doc = await svc.call(self.outbox.begin, broadcast_id, recipients)
        if doc is None:
            return
        text = render_progress(svc.texts, doc, Progress(Figures.from_dict(doc["figures"]), 0, 0))
        self.shown[broadcast_id] = text
        try:
            message = await self.app.bot.send_message(
                doc["chat_id"],
                text,
                reply_markup=self._stop_markup(doc),
            )
            await svc.call(
                self.outbox.set_report, broadcast_id, doc["chat_id"], message.message_id
            )
            doc["report"] = {"chat_id": doc["chat_id"], "message_id": message.message_id}
        except TelegramError as error:
            log.warning("broadcast %s: no progress message: %s", broadcast_id, error)
        self.launch(doc)

    def launch(self, doc: dict[str, Any]) -> None:
        """Run the delivery of a running announcement as a task."""
        broadcast_id = doc["id"]
        delivery = Delivery(
            self.outbox,
            broadcast_id,
            self._sender(doc["content"]),
            self.pace,
            run_blocking=self.svc.call,
            on_progress=lambda progress: self._progress(doc, progress),
            on_unreachable=self._unreachable,
        )
        self.deliveries[broadcast_id] = delivery
        task = asyncio.get_running_loop().create_task(
            self._run(delivery, doc), name=f"broadcast-{broadcast_id}"
        )
        self.tasks[broadcast_id] = task

    def cancel_running(self, broadcast_id: str) -> bool:
        delivery = self.deliveries.get(broadcast_id)
        if delivery is None:
            return False
        delivery.cancel()
        return True

    async def _run(self, delivery: Delivery, doc: dict[str, Any]) -> None:
        try:
            await delivery.run()
        except LookupError:  # finished meanwhile (by this process or an earlier leader)
            log.info("broadcast %s is not running any more", doc["id"])
            return
        except Exception:
            log.exception("broadcast %s stopped by an error", doc["id"])
            return
        finally:
            self.deliveries.pop(doc["id"], None)
            self.tasks.pop(doc["id"], None)
            self.shown.pop(doc["id"], None)
        if delivery.finished:
            self.finished.add(doc["id"])
            await self._report(doc["id"])

    def _sender(self, content: Mapping[str, Any]) -> Send:
        bot, texts = self.app.bot, self.svc.texts
        markups = {lang: unsubscribe_markup(texts, lang) for lang in ("id", "en")}

        async def send(recipient: Recipient) -> None:
            markup = markups.get(recipient.lang, markups["id"])
            intent = intent_hook()  # a fleet's leader: the intent, once the limiter grants
            if intent is not None and not isinstance(bot.rate_limiter, PriorityRateLimiter):
                await intent()
            token = BEFORE_BULK_SEND.set(intent)
            try:
                await send_announcement(bot, recipient.chat_id, content, markup, bulk=True)
            except TelegramError as error:
                raise delivery_error(error) from error
            finally:
                BEFORE_BULK_SEND.reset(token)

        return send

    async def _unreachable(self, recipient: Recipient, reason: str) -> None:
        """A chat that blocked the bot (or is gone) receives no more announcements."""
        await self.svc.call(self.svc.stores.subscribers.mark_inactive, recipient.chat_id, reason)

    def _stop_markup(self, doc: Mapping[str, Any]) -> InlineKeyboardMarkup:
        label = self.svc.texts.get("btn_bc_stop", doc["lang"]).format(id=doc["id"])
        return keyboard([[(label, STOP.data(doc["id"]))]])

    async def _progress(self, doc: Mapping[str, Any], progress: Progress) -> None:
        report = doc.get("report")
        text = render_progress(self.svc.texts, doc, progress)
        if not report or self.shown.get(doc["id"]) == text:
            return
        self.shown[doc["id"]] = text
        try:
            await self.app.bot.edit_message_text(
                text,
                chat_id=report["chat_id"],
                message_id=report["message_id"],
                reply_markup=self._stop_markup(doc),
            )
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                log.info("broadcast %s: progress not shown: %s", doc["id"], error)

    async def _report(self, broadcast_id: str) -> None:
        """The final report, as a new message under the progress message (which loses its stop
        button and keeps its last figures)."""
        doc = await self.svc.call(self.outbox.get, broadcast_id)
        if doc is None:
            return
        bot, report = self.app.bot, doc.get("report")
        options: dict[str, Any] = {}
        if report:
            options["reply_parameters"] = ReplyParameters(
                report["message_id"], allow_sending_without_reply=True
            )
            try:
                await drop_buttons(bot, report["chat_id"], report["message_id"])
            except TelegramError as error:
                log.info("broadcast %s: stop button not removed: %s", broadcast_id, error)
        try:
            await bot.send_message(doc["chat_id"], render_report(self.svc.texts, doc), **options)
        except TelegramError as error:
            log.warning("broadcast %s: report not delivered: %s", broadcast_id, error)


def _job_name(broadcast_id: str) -> str:
    return f"broadcast:{broadcast_id}"


def service(context: ContextTypes.DEFAULT_TYPE) -> DeliveryService:
    """The running service (handlers start, schedule and cancel announcements through it)."""
    return context.bot_data[SERVICE_KEY]


async def start(app: Application) -> DeliveryService:
    """post_init: open the outbox, resume and re-arm; stop gracefully before the bot closes."""
    svc: Services = app.bot_data["services"]
    database = await svc.call(svc.stores.database, "broadcasts")
    fleet = bool(svc.config.fleet)
    running = DeliveryService(app, svc, Outbox(database), fleet=fleet, leading=not fleet)
    app.bot_data[SERVICE_KEY] = running
    limiter = app.bot.rate_limiter
    if isinstance(limiter, PriorityRateLimiter):
        limiter.on_shutdown(running.stop)
    if not fleet:  # a fleet's leader starts sending once it leads (bot/fleet.py)
        await running.start()
    return running


async def stop(app: Application) -> None:
    """post_shutdown: in case no rate limiter stopped the deliveries already."""
    running = app.bot_data.pop(SERVICE_KEY, None)
    if running is not None:
        await running.stop()
