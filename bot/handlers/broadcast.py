"""Announcements (staff only): compose, preview, send now or schedule, follow, cancel, history.

``/pengumuman`` opens a small flow in a private chat: the staff member sends the text (HTML) or a
photo/document with a caption, which is validated before anything is sent; picks the audience;
sees a preview sent exactly as citizens will get it (with the unsubscribe button); then sends it
now, schedules it (``28-11-2026 09:00``, in the configured time zone) or cancels. ``/siaran``
lists running, scheduled and past announcements with their figures, and cancels.

A draft is the staff member's active flow (``bot.flow``, durable); everything after "send" or
"schedule" is in the durable outbox (``desk/outbox.py``), sent by the delivery service
(``bot/delivery.py``). The ``bc:`` buttons are declared below, staff only, one handler each.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import delivery, flow
from bot.delivery import (
    STOP,
    audience_label,
    dimension_options,
    format_number,
    send_announcement,
    unsubscribe_markup,
)
from bot.i18n import Markup, Texts
from bot.routing import Handler, router
from bot.services import Services, services
from bot.telegram_html import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    check_html,
    to_plain,
    typed_html,
    utf16_len,
)
from bot.ui import answer, keyboard, reply, show
from desk.outbox import CANCELLED, DONE, RUNNING, SCHEDULED, Audience, resolve_audience
from store.clock import format_local, local_now, parse_local_time

log = logging.getLogger(__name__)

#: Audience dimensions offered as sub-menus, in order.
DIMENSIONS = ("outcome", "programme", "kecamatan", "status")
SCHEDULE_EXAMPLE_HOURS = 24
HISTORY_LIMIT = 10
SNIPPET_CHARS = 80

CANCEL_DRAFT = router.action("bc", "x", staff_only=True)
AUDIENCE = router.action("bc", "a", "kind", "value?", staff_only=True)
DIMENSION = router.action("bc", "d", "dimension", staff_only=True)
AUDIENCES = router.action("bc", "ab", staff_only=True)  # back to the audiences
SEND_NOW = router.action("bc", "go", staff_only=True)
SCHEDULE = router.action("bc", "sch", staff_only=True)
LIST = router.action("bc", "l", staff_only=True)  # the /siaran list, refreshed
CANCEL_CONFIRMED = router.action("bc", "cy", "broadcast", staff_only=True)
# STOP (``bc:c:<id>``, asked before cancelling) is declared with the progress message it is under
# (bot/delivery.py).


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


def _snippet(content: Mapping[str, Any]) -> str:
    plain = " ".join(to_plain(content.get("text") or "").split())
    if not plain:
        plain = f"[{content.get('kind')}]"
    return plain if len(plain) <= SNIPPET_CHARS else plain[: SNIPPET_CHARS - 1] + "…"


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
                **{name: format_number(int(value), lang) for name, value in figures.items()},
            )
        )
    return Markup("\n\n".join(lines))


# -- composing (staff) ------------------------------------------------------------------------


async def _staff(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, str] | None:
    """Services and language for a staff member; a polite refusal (and None) for anyone else.
    (Buttons are refused by the router: every ``bc:`` action is declared ``staff_only``.)"""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)
    if user is not None and svc.config.staff.is_staff(user.id):
        return svc, lang
    await reply(update, svc.texts.render("bc_staff_only", lang))
    return None


def _cancel_markup(svc: Services, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(svc.texts.get("btn_bc_cancel_draft", lang), CANCEL_DRAFT.data())]])


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
    text = typed_html(raw, formatted, (e.type for e in entities))
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
    subscribers = texts.get("btn_bc_subscribers", lang).format(count=format_number(count, lang))
    rows = [
        [(subscribers, AUDIENCE.data("subscribers"))],
        [(texts.get("btn_bc_registered", lang), AUDIENCE.data("registered"))],
        *[[(texts.get(f"btn_bc_by_{d}", lang), DIMENSION.data(d))] for d in DIMENSIONS],
        [(texts.get("btn_bc_cancel_draft", lang), CANCEL_DRAFT.data())],
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
            [(texts.get("btn_bc_send_now", lang), SEND_NOW.data())],
            [(texts.get("btn_bc_schedule", lang), SCHEDULE.data())],
            [(texts.get("btn_bc_cancel_draft", lang), CANCEL_DRAFT.data())],
        ]
    )
    text = texts.render(
        "bc_confirm", lang, audience=label, count=format_number(len(recipients), lang)
    )
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
    delivery.service(context).arm(doc)
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
        delivery.service(context).outbox.create,
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


# -- the draft's buttons ----------------------------------------------------------------------

DraftHandler = Callable[..., Awaitable[None]]


def _with_draft(*, step: str | None = None) -> Callable[[DraftHandler], Handler]:
    """A button of the draft: ``handler(update, context, svc, lang, draft, *fields)``. Without a
    draft (sent, cancelled, a restart long ago), or at another ``step``, it has expired."""

    def wrap(handler: DraftHandler) -> Handler:
        @functools.wraps(handler)
        async def run(update: Update, context: ContextTypes.DEFAULT_TYPE, *fields: str) -> None:
            svc = services(context)
            lang = await svc.language(update.effective_user)
            draft = Draft.of(context)
            if draft is None or (step is not None and draft.step != step):
                await _expired(update, svc, lang)
                return
            await handler(update, context, svc, lang, draft, *fields)

        return run

    return wrap


async def _expired(update: Update, svc: Services, lang: str) -> None:
    await answer(update.callback_query, svc.texts.get("bc_expired", lang), alert=True)


@CANCEL_DRAFT.handles
@_with_draft()
async def on_cancel_draft(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, draft: Draft
) -> None:
    await cancel_draft(update, context)


@DIMENSION.handles
@_with_draft()
async def on_dimension(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    draft: Draft,
    dimension: str,
) -> None:
    """The values of one audience dimension (an outcome, a kecamatan...) to pick from."""
    if dimension not in DIMENSIONS:
        await _expired(update, svc, lang)
        return
    await answer(update.callback_query)
    rows = [
        [(label, AUDIENCE.data(dimension, value))]
        for value, label in dimension_options(dimension, lang)
    ]
    rows.append([(svc.texts.get("btn_bc_back", lang), AUDIENCES.data())])
    name = svc.texts.get(f"bc_dimension_{dimension}", lang)
    await show(update, svc.texts.render("bc_audience_pick", lang, dimension=name), keyboard(rows))


@AUDIENCES.handles
@_with_draft()
async def on_audiences(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, draft: Draft
) -> None:
    await answer(update.callback_query)
    await _show_audiences(update, svc, lang, edit=True)


@AUDIENCE.handles
@_with_draft()
async def on_audience(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    draft: Draft,
    kind: str,
    value: str = "",
) -> None:
    """An audience picked: counted, previewed, to confirm."""
    try:
        audience = Audience(kind, value or None)
    except ValueError:
        await _expired(update, svc, lang)
        return
    await answer(update.callback_query)
    await _choose_audience(update, context, svc, lang, draft, audience)


@SEND_NOW.handles
@_with_draft(step="confirm")
async def on_send_now(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, draft: Draft
) -> None:
    await answer(update.callback_query)
    doc = await _create(update, context, svc, draft, scheduled_for=None)
    label = audience_label(svc.texts, Audience.from_dict(doc["audience"]), lang)
    await show(update, svc.texts.render("bc_started", lang, id=doc["id"], audience=label))
    await delivery.service(context).begin(doc["id"])


@SCHEDULE.handles
@_with_draft(step="confirm")
async def on_schedule(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, draft: Draft
) -> None:
    """Asks for the time (typed, see :func:`_take_time`)."""
    draft.step = "schedule"
    await draft.keep(update, context)
    await answer(update.callback_query)
    text = svc.texts.render("bc_schedule_prompt", lang, example=_example_time(svc))
    await show(update, text, _cancel_markup(svc, lang))


# -- the list and cancelling ------------------------------------------------------------------


async def list_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/siaran: running, scheduled and recent announcements with their figures."""
    staff = await _staff(update, context)
    if staff is not None:
        await _show_list(update, context, *staff, edit=False)


async def _show_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, *, edit: bool
) -> None:
    outbox = delivery.service(context).outbox
    active = await svc.call(outbox.history, states=(RUNNING, SCHEDULED), limit=50)
    active.sort(key=lambda d: (d["state"] != RUNNING, d["scheduled_for"] or ""))
    past = await svc.call(outbox.history, states=(DONE, CANCELLED), limit=HISTORY_LIMIT)
    rows = []
    for doc in active:
        key = "btn_bc_stop" if doc["state"] == RUNNING else "btn_bc_cancel"
        rows.append([(svc.texts.get(key, lang).format(id=doc["id"]), STOP.data(doc["id"]))])
    rows.append([(svc.texts.get("btn_bc_refresh", lang), LIST.data())])
    text = render_list(svc, [*active, *past], lang)
    if edit:
        await show(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


@LIST.handles
async def on_refresh(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🔄 under the list (an unchanged list is not edited: ``bot.ui.show``)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await _show_list(update, context, svc, lang, edit=True)


@STOP.handles
async def on_stop(update: Update, context: ContextTypes.DEFAULT_TYPE, broadcast_id: str) -> None:
    """Stop or cancel, from the list or from a progress message: confirm first."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    markup = keyboard(
        [
            [(svc.texts.get("btn_bc_cancel_yes", lang), CANCEL_CONFIRMED.data(broadcast_id))],
            [(svc.texts.get("btn_bc_back", lang), LIST.data())],
        ]
    )
    await reply(update, svc.texts.render("bc_cancel_confirm", lang, id=broadcast_id), markup)


@CANCEL_CONFIRMED.handles
async def on_cancel_confirmed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, broadcast_id: str
) -> None:
    """A running announcement stopped, or a scheduled one cancelled (audited)."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    lang = await svc.language(user)
    await answer(update.callback_query)
    running = delivery.service(context)
    if await running.request_cancel(broadcast_id):
        key = "bc_cancel_stopping"
    elif await svc.call(running.outbox.cancel_scheduled, broadcast_id) is not None:
        running.disarm(broadcast_id)
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
