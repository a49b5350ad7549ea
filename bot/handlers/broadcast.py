"""Announcements (staff only): compose, preview, send now or schedule, follow, cancel, history.

``/pengumuman`` opens a small flow in a private chat: the staff member sends the text (HTML) or a
photo/document with a caption, which is validated before anything is sent; picks the audience;
sees a preview sent exactly as citizens will get it (with the unsubscribe button); then sends it
now, schedules it (``28-11-2026 09:00``, Asia/Jakarta) or cancels. ``/siaran`` lists running,
scheduled and past announcements with their figures, and cancels.

A draft is the staff member's active flow (``bot.flow``, durable); everything after "send" or
"schedule" is in the durable outbox (``desk/broadcast.py``). The :class:`Broadcaster` runs the
deliveries as plain tasks, with bulk requests marked for the rate limiter, edits the staff
member's progress message and sends the final report. At start-up it resumes running
announcements and re-arms scheduled ones; at shutdown it stops the deliveries gracefully before
the bot's connections close (a rate limiter shutdown hook).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.i18n import Markup, Texts, escape
from bot.ratelimit import BULK, PriorityRateLimiter, retry_after_seconds
from bot.routing import pressed, router
from bot.services import Services, services
from bot.telegram_html import CAPTION_LIMIT, MESSAGE_LIMIT, check_html, to_plain, utf16_len
from bot.ui import answer, drop_buttons, keyboard, reply, show
from desk import labels
from desk.broadcast import (
    CANCELLED,
    DONE,
    RUNNING,
    SCHEDULED,
    Audience,
    Delivery,
    DeliveryError,
    Figures,
    Outbox,
    Pace,
    PermanentError,
    Progress,
    RateLimited,
    Recipient,
    Send,
    TransientError,
    UncertainError,
    Unreachable,
    resolve_audience,
)
from screening.identity import load_wilayah
from store.clock import format_local, local_now, parse, parse_local_time

log = logging.getLogger(__name__)

BROADCASTER = "broadcaster"
#: Audience dimensions offered as sub-menus, in order.
DIMENSIONS = ("outcome", "programme", "kecamatan", "status")
#: Entities that mean the staff member formatted the text with Telegram's own buttons.
FORMATTING = frozenset(
    {
        MessageEntity.BOLD,
        MessageEntity.ITALIC,
        MessageEntity.UNDERLINE,
        MessageEntity.STRIKETHROUGH,
        MessageEntity.CODE,
        MessageEntity.PRE,
        MessageEntity.TEXT_LINK,
        MessageEntity.BLOCKQUOTE,
    }
)
#: A tag or an entity: the staff member wrote HTML (anything else is taken as plain text).
_LOOKS_LIKE_HTML = re.compile(r"</?[a-zA-Z][^<>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
SCHEDULE_EXAMPLE_HOURS = 24
HISTORY_LIMIT = 10
SNIPPET_CHARS = 80


@dataclass
class Draft:
    """An announcement being composed; ``step``: content, audience, confirm or schedule."""

    lang: str
    step: str = "content"
    content: dict[str, Any] | None = None
    audience: Audience | None = None
    count: int = 0

    @classmethod
    def of(cls, context: ContextTypes.DEFAULT_TYPE) -> Draft | None:
        """The draft being composed, if it is the staff member's active flow."""
        raw = flow.state(context, flow.BROADCAST_DRAFT)
        if raw is None:
            return None
        audience = Audience.from_dict(raw["audience"]) if raw.get("audience") else None
        return cls(raw["lang"], raw["step"], raw.get("content"), audience, raw.get("count", 0))

    async def keep(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Save the draft as the active flow (a restart keeps an unfinished draft)."""
        data = {
            "lang": self.lang,
            "step": self.step,
            "content": self.content,
            "audience": self.audience.as_dict() if self.audience else None,
            "count": self.count,
        }
        await flow.put(update, context, flow.BROADCAST_DRAFT, data)


class _Composing(filters.MessageFilter):
    """Messages of a staff member whose draft waits for typed input at one of ``steps``."""

    def __init__(self, app: Application, steps: tuple[str, ...]) -> None:
        super().__init__(name="composing")
        self._user_data = app.user_data
        self.steps = steps

    def filter(self, message: Message) -> bool:
        user = message.from_user
        slot = (self._user_data.get(user.id) or {}).get(flow.KEY) if user else None
        return (
            isinstance(slot, dict)
            and slot.get("name") == flow.BROADCAST_DRAFT
            and slot["state"].get("step") in self.steps
        )


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


def _number(value: int, lang: str) -> str:
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


def _snippet(content: Mapping[str, Any]) -> str:
    plain = " ".join(to_plain(content.get("text") or "").split())
    if not plain:
        plain = f"[{content.get('kind')}]"
    return plain if len(plain) <= SNIPPET_CHARS else plain[: SNIPPET_CHARS - 1] + "…"


def render_progress(texts: Texts, doc: Mapping[str, Any], progress: Progress) -> Markup:
    lang, figures = doc["lang"], progress.figures
    return texts.render(
        "bc_progress",
        lang,
        id=doc["id"],
        audience=audience_label(texts, Audience.from_dict(doc["audience"]), lang),
        sent=_number(figures.sent, lang),
        failed=_number(figures.failed, lang),
        blocked=_number(figures.blocked, lang),
        remaining=_number(figures.remaining, lang),
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
        total=_number(figures.total, lang),
        **{
            name: _number(getattr(figures, name), lang)
            for name in ("sent", "failed", "blocked", "unknown", "skipped")
        },
        duration=_duration(seconds),
    )


def render_list(svc: Services, docs: list[dict[str, Any]], lang: str) -> Markup:
    texts = svc.texts
    if not docs:
        return texts.render("bc_list_empty", lang)
    lines = [texts.render("bc_list_title", lang)]
    for doc in docs:
        figures = doc["figures"]
        when = {
            RUNNING: doc["started_at"],
            SCHEDULED: doc["scheduled_for"],
            DONE: doc["finished_at"],
            CANCELLED: doc["finished_at"],
        }[doc["state"]]
        lines.append(
            texts.render(
                f"bc_list_{doc['state']}",
                lang,
                id=doc["id"],
                when=format_local(when),
                audience=audience_label(texts, Audience.from_dict(doc["audience"]), lang),
                snippet=_snippet(doc["content"]),
                **{name: _number(int(value), lang) for name, value in figures.items()},
            )
        )
    return Markup("\n\n".join(lines))


# -- the deliveries -------------------------------------------------------------------------


@dataclass
class Broadcaster:
    """Runs the Application's announcements: deliveries, schedules, progress and reports."""

    app: Any
    svc: Services
    outbox: Outbox
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # progress texts, to edit only changes

    @property
    def pace(self) -> Pace:
        cfg = self.svc.config.broadcast
        return Pace(
            rate_per_second=cfg.rate_per_second,
            per_chat_interval=cfg.per_chat_interval_seconds,
            max_retries=cfg.max_retries,
            progress_interval=cfg.progress_interval_seconds,
        )

    async def startup(self) -> None:
        """Resume running announcements and re-arm scheduled ones (after a restart)."""
        for broadcast_id in await self.svc.call(self.outbox.ids_in, RUNNING):
            doc = await self.svc.call(self.outbox.get, broadcast_id)
            log.info("resuming broadcast %s", broadcast_id)
            self.start(doc)
        for broadcast_id in await self.svc.call(self.outbox.ids_in, SCHEDULED):
            self.arm(await self.svc.call(self.outbox.get, broadcast_id))

    async def shutdown(self) -> None:
        """Stop every delivery after its sends in flight; they resume at the next start."""
        for delivery in self.deliveries.values():
            delivery.stop()
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def arm(self, doc: Mapping[str, Any]) -> None:
        """Schedule the start of an announcement: at once if its time has passed, or if it was
        sent "now" and the bot stopped before it started."""
        when = doc["scheduled_for"]
        seconds = max(0.0, (parse(when) - datetime.now(UTC)).total_seconds()) if when else 0.0
        job_queue = self.app.job_queue
        if job_queue is None:  # pragma: no cover - the job-queue extra is a dependency
            log.error("no job queue: broadcast %s cannot be scheduled", doc["id"])
            return
        job_queue.run_once(self._fire, seconds, data=doc["id"], name=_job_name(doc["id"]))

    def disarm(self, broadcast_id: str) -> None:
        if self.app.job_queue is not None:
            for job in self.app.job_queue.get_jobs_by_name(_job_name(broadcast_id)):
                job.schedule_removal()

    async def _fire(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None
        await self.begin(str(context.job.data))

    async def begin(self, broadcast_id: str) -> None:
        """Freeze the recipients of a scheduled announcement, open its report, start sending."""
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
        self.start(doc)

    def start(self, doc: dict[str, Any]) -> None:
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
        except Exception:
            log.exception("broadcast %s stopped by an error", doc["id"])
            return
        finally:
            self.deliveries.pop(doc["id"], None)
            self.tasks.pop(doc["id"], None)
            self.shown.pop(doc["id"], None)
        if delivery.finished:
            await self._report(doc["id"])

    def _sender(self, content: Mapping[str, Any]) -> Send:
        bot, texts = self.app.bot, self.svc.texts
        markups = {lang: unsubscribe_markup(texts, lang) for lang in ("id", "en")}

        async def send(recipient: Recipient) -> None:
            markup = markups.get(recipient.lang, markups["id"])
            try:
                await send_announcement(bot, recipient.chat_id, content, markup, bulk=True)
            except TelegramError as error:
                raise delivery_error(error) from error

        return send

    async def _unreachable(self, recipient: Recipient, reason: str) -> None:
        """A chat that blocked the bot (or is gone) receives no more announcements."""
        await self.svc.call(self.svc.stores.subscribers.mark_inactive, recipient.chat_id, reason)

    def _stop_markup(self, doc: Mapping[str, Any]) -> InlineKeyboardMarkup:
        label = self.svc.texts.get("btn_bc_stop", doc["lang"]).format(id=doc["id"])
        return keyboard([[(label, f"bc:c:{doc['id']}")]])

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
        options: dict[str, Any] = {"parse_mode": ParseMode.HTML}
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


def broadcaster(context: ContextTypes.DEFAULT_TYPE) -> Broadcaster:
    return context.bot_data[BROADCASTER]


async def on_startup(app: Application) -> None:
    """post_init: open the outbox, resume and re-arm; stop gracefully before the bot closes."""
    svc: Services = app.bot_data["services"]
    database = await svc.call(svc.stores.database, "broadcasts")
    manager = Broadcaster(app, svc, Outbox(database))
    app.bot_data[BROADCASTER] = manager
    limiter = app.bot.rate_limiter
    if isinstance(limiter, PriorityRateLimiter):
        limiter.on_shutdown(manager.shutdown)
    await manager.startup()


async def on_shutdown(app: Application) -> None:
    """post_shutdown: in case no rate limiter stopped the deliveries already."""
    manager = app.bot_data.pop(BROADCASTER, None)
    if manager is not None:
        await manager.shutdown()


# -- composing (staff) ------------------------------------------------------------------------


async def _staff(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, str] | None:
    """Services and language for a staff member; a polite refusal (and None) for anyone else."""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    if user is not None and svc.config.staff.is_staff(user.id):
        return svc, lang
    if update.callback_query is not None:
        await answer(update.callback_query, svc.texts.get("bc_staff_only", lang), alert=True)
    else:
        await reply(update, svc.texts.render("bc_staff_only", lang))
    return None


def _cancel_markup(svc: Services, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(svc.texts.get("btn_bc_cancel_draft", lang), "bc:x")]])


def read_content(
    texts: Texts, message: Message, lang: str
) -> tuple[dict[str, Any] | None, Markup]:
    """The announcement in a staff member's message, or None and what is wrong with it.

    Text formatted with Telegram's own formatting is converted to HTML; text typed with HTML
    tags or entities is taken as HTML and must be valid; any other text is plain and escaped.
    Either way it must fit Telegram's length limits.
    """
    if message.photo:
        kind, file_id = "photo", message.photo[-1].file_id
    elif message.document:
        kind, file_id = "document", message.document.file_id
    elif message.text is not None:
        kind, file_id = "text", None
    else:
        return None, texts.render("bc_wrong_kind", lang)
    if kind == "text":
        raw, entities, limit = message.text or "", message.entities, MESSAGE_LIMIT
        formatted = message.text_html if raw else ""
    else:
        raw, entities, limit = message.caption or "", message.caption_entities, CAPTION_LIMIT
        formatted = message.caption_html if raw else ""
    if any(e.type in FORMATTING for e in entities):
        text = formatted
    elif _LOOKS_LIKE_HTML.search(raw):
        text = raw
    else:
        text = escape(raw)
    if kind == "text" and not text.strip():
        return None, texts.render("bc_empty", lang)
    problem = check_html(text)
    if problem:
        return None, texts.render("bc_bad_html", lang, problem=problem)
    length = utf16_len(to_plain(text))
    if length > limit:
        return None, texts.render("bc_too_long", lang, length=length, limit=limit)
    content: dict[str, Any] = {"kind": kind, "text": text}
    if file_id:
        content["file_id"] = file_id
    return content, Markup("")


async def compose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pengumuman: start a new draft."""
    staff = await _staff(update, context)
    if staff is None or update.effective_user is None:
        return
    svc, lang = staff
    await Draft(lang).keep(update, context)
    await reply(update, svc.texts.render("bc_compose_prompt", lang), _cancel_markup(svc, lang))


async def cancel_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/batal or the Batal button while composing: drop the draft, nothing is sent."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await flow.end(update, context, flow.BROADCAST_DRAFT)
    await answer(update.callback_query)
    await show(update, svc.texts.render("bc_draft_cancelled", lang))


async def on_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What a staff member types while composing: the content, or the time of a schedule."""
    staff = await _staff(update, context)
    message, user = update.effective_message, update.effective_user
    if staff is None or message is None or user is None:
        return
    svc, lang = staff
    draft = Draft.of(context)
    if draft is None:
        return
    if draft.step == "schedule":
        await _take_time(update, context, svc, draft, message.text or "")
        return
    content, problem = read_content(svc.texts, message, lang)
    if content is None:
        await reply(update, problem, _cancel_markup(svc, lang))
        return
    draft.content, draft.step = content, "audience"
    await draft.keep(update, context)
    await _show_audiences(update, svc, lang, edit=False)


async def _show_audiences(update: Update, svc: Services, lang: str, *, edit: bool) -> None:
    count = await svc.call(svc.stores.subscribers.count_active)
    texts = svc.texts
    subscribers = texts.get("btn_bc_subscribers", lang).format(count=_number(count, lang))
    rows = [
        [(subscribers, "bc:a:subscribers")],
        [(texts.get("btn_bc_registered", lang), "bc:a:registered")],
        *[[(texts.get(f"btn_bc_by_{d}", lang), f"bc:d:{d}")] for d in DIMENSIONS],
        [(texts.get("btn_bc_cancel_draft", lang), "bc:x")],
    ]
    text = texts.render("bc_audience_prompt", lang)
    if edit:
        await show(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def _choose_audience(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    draft: Draft,
    audience: Audience,
) -> None:
    """Count the audience, send the preview exactly as citizens will see it, ask to confirm."""
    recipients = await svc.call(
        resolve_audience, svc.stores, audience, svc.config.default_language
    )
    label = audience_label(svc.texts, audience, lang)
    if not recipients:
        await show(update, svc.texts.render("bc_audience_empty", lang, audience=label))
        await _show_audiences(update, svc, lang, edit=False)
        return
    draft.audience, draft.count, draft.step = audience, len(recipients), "confirm"
    await draft.keep(update, context)
    chat = update.effective_chat
    assert chat is not None and draft.content is not None
    await send_announcement(
        context.bot, chat.id, draft.content, unsubscribe_markup(svc.texts, lang), bulk=False
    )
    texts = svc.texts
    markup = keyboard(
        [
            [(texts.get("btn_bc_send_now", lang), "bc:go")],
            [(texts.get("btn_bc_schedule", lang), "bc:sch")],
            [(texts.get("btn_bc_cancel_draft", lang), "bc:x")],
        ]
    )
    text = texts.render("bc_confirm", lang, audience=label, count=_number(len(recipients), lang))
    await reply(update, text, markup)


def _example_time(svc: Services) -> str:
    tomorrow = local_now() + timedelta(hours=SCHEDULE_EXAMPLE_HOURS)
    return tomorrow.strftime("%d-%m-%Y 09:00")


async def _take_time(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, draft: Draft, text: str
) -> None:
    lang, example = draft.lang, _example_time(svc)
    when = parse_local_time(text)
    if when is None or when <= local_now():
        key = "bc_schedule_bad" if when is None else "bc_schedule_past"
        await reply(
            update, svc.texts.render(key, lang, example=example), _cancel_markup(svc, lang)
        )
        return
    doc = await _create(update, context, svc, draft, scheduled_for=when)
    broadcaster(context).arm(doc)
    await reply(
        update,
        svc.texts.render(
            "bc_scheduled",
            lang,
            id=doc["id"],
            when=format_local(doc["scheduled_for"]),
            audience=audience_label(svc.texts, Audience.from_dict(doc["audience"]), lang),
        ),
    )


async def _create(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    draft: Draft,
    *,
    scheduled_for: datetime | None,
) -> dict[str, Any]:
    """Put the draft in the outbox (audited) and forget the draft."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    assert draft.content is not None and draft.audience is not None
    doc: dict[str, Any] = await svc.call(
        broadcaster(context).outbox.create,
        author=user.id,
        chat_id=chat.id,
        lang=draft.lang,
        content=draft.content,
        audience=draft.audience,
        scheduled_for=scheduled_for,
    )
    await flow.end(update, context, flow.BROADCAST_DRAFT)
    action = "broadcast_scheduled" if scheduled_for else "broadcast_sent"
    details = {"audience": draft.audience.as_dict(), "recipients_at_compose": draft.count}
    await svc.call(svc.stores.audit.record, user.id, action, f"broadcast:{doc['id']}", details)
    return doc


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every ``bc:`` button: the draft's steps, the list, cancelling."""
    staff = await _staff(update, context)
    query, user = update.callback_query, update.effective_user
    if staff is None or query is None or query.data is None or user is None:
        return
    svc, lang = staff
    action, _, rest = query.data[3:].partition(":")
    if action in ("l", "c", "cy"):
        await _list_button(update, context, svc, lang, action, rest)
        return
    draft = Draft.of(context)
    if draft is None or (action in ("go", "sch") and draft.step != "confirm"):
        await answer(query, svc.texts.get("bc_expired", lang), alert=True)
        return
    if action == "x":
        await cancel_draft(update, context)
    elif action == "d" and rest in DIMENSIONS:
        await answer(query)
        rows = [
            [(label, f"bc:a:{rest}:{value}")] for value, label in dimension_options(rest, lang)
        ]
        rows.append([(svc.texts.get("btn_bc_back", lang), "bc:ab")])
        dimension = svc.texts.get(f"bc_dimension_{rest}", lang)
        await show(
            update, svc.texts.render("bc_audience_pick", lang, dimension=dimension), keyboard(rows)
        )
    elif action == "ab":
        await answer(query)
        await _show_audiences(update, svc, lang, edit=True)
    elif action == "a":
        kind, _, value = rest.partition(":")
        try:
            audience = Audience(kind, value or None)
        except ValueError:
            await answer(query, svc.texts.get("bc_expired", lang), alert=True)
            return
        await answer(query)
        await _choose_audience(update, context, svc, lang, draft, audience)
    elif action == "go":
        await answer(query)
        doc = await _create(update, context, svc, draft, scheduled_for=None)
        label = audience_label(svc.texts, Audience.from_dict(doc["audience"]), lang)
        await show(update, svc.texts.render("bc_started", lang, id=doc["id"], audience=label))
        await broadcaster(context).begin(doc["id"])
    elif action == "sch":
        draft.step = "schedule"
        await draft.keep(update, context)
        await answer(query)
        text = svc.texts.render("bc_schedule_prompt", lang, example=_example_time(svc))
        await show(update, text, _cancel_markup(svc, lang))
    else:
        await answer(query, svc.texts.get("bc_expired", lang), alert=True)


# -- the list and cancelling ------------------------------------------------------------------


async def list_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/siaran: running, scheduled and recent announcements with their figures."""
    staff = await _staff(update, context)
    if staff is not None:
        await _show_list(update, context, *staff, edit=False)


async def _show_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, *, edit: bool
) -> None:
    outbox = broadcaster(context).outbox
    active = await svc.call(outbox.history, states=(RUNNING, SCHEDULED), limit=50)
    active.sort(key=lambda d: (d["state"] != RUNNING, d["scheduled_for"] or ""))
    past = await svc.call(outbox.history, states=(DONE, CANCELLED), limit=HISTORY_LIMIT)
    rows = []
    for doc in active:
        key = "btn_bc_stop" if doc["state"] == RUNNING else "btn_bc_cancel"
        rows.append([(svc.texts.get(key, lang).format(id=doc["id"]), f"bc:c:{doc['id']}")])
    rows.append([(svc.texts.get("btn_bc_refresh", lang), "bc:l")])
    text = render_list(svc, [*active, *past], lang)
    if edit:
        await show(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def _list_button(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    action: str,
    broadcast_id: str,
) -> None:
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    await answer(query)
    if action == "l":
        await _show_list(update, context, svc, lang, edit=True)
        return
    if action == "c":  # asked from the list or from a progress message: confirm first
        markup = keyboard(
            [
                [(svc.texts.get("btn_bc_cancel_yes", lang), f"bc:cy:{broadcast_id}")],
                [(svc.texts.get("btn_bc_back", lang), "bc:l")],
            ]
        )
        await reply(update, svc.texts.render("bc_cancel_confirm", lang, id=broadcast_id), markup)
        return
    manager = broadcaster(context)
    if manager.cancel_running(broadcast_id):
        key = "bc_cancel_stopping"
    elif await svc.call(manager.outbox.cancel_scheduled, broadcast_id) is not None:
        manager.disarm(broadcast_id)
        key = "bc_cancelled"
    else:
        await show(update, svc.texts.render("bc_cancel_too_late", lang, id=broadcast_id))
        return
    await svc.call(
        svc.stores.audit.record, user.id, "broadcast_cancelled", f"broadcast:{broadcast_id}"
    )
    await show(update, svc.texts.render(key, lang, id=broadcast_id))


def register(app: Application) -> None:
    """Staff commands and buttons, and the typed input of a draft (before free text as FAQ)."""
    private = filters.ChatType.PRIVATE
    typing = _Composing(app, ("content", "schedule"))
    composing = _Composing(app, ("content", "audience", "confirm", "schedule"))
    app.add_handler(CommandHandler("pengumuman", compose, filters=private))
    app.add_handler(CommandHandler("siaran", list_command, filters=private))
    app.add_handler(CommandHandler("batal", cancel_draft, filters=private & composing))
    app.add_handler(
        MessageHandler(private & typing & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_input)
    )


for _name, *_fields in (
    ("x",),
    ("a", "kind", "value?"),
    ("d", "dimension"),
    ("ab",),
    ("go",),
    ("sch",),
    ("l",),
    ("c", "broadcast"),
    ("cy", "broadcast"),
):
    router.action("bc", _name, *_fields, staff_only=True).handles(pressed(on_button))
