"""Questions and answers: browsing topics by buttons, and free-text questions via the matcher."""

from __future__ import annotations

import functools

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.answers import (
    MAX_QUESTION_CHARS,
    answer_keyboard,
    compose_reply,
    render_answer,
    shown,
    topics_keyboard,
)
from bot.i18n import Markup
from bot.routing import pressed, router
from bot.services import services
from bot.ui import answer, column, keyboard, reply, show
from faq.normalize import mask_personal_numbers

# -- handlers -------------------------------------------------------------------------------


async def show_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """All topics."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await show(
        update, svc.texts.render("topics_title", lang), topics_keyboard(svc.texts, svc.kb, lang)
    )


async def show_topic(update: Update, context: ContextTypes.DEFAULT_TYPE, topic_id: str) -> None:
    """The questions of one topic (``t:<topic>``)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    query = update.callback_query
    assert query is not None
    topic = next((t for t in svc.kb.topics if t.id == topic_id), None)
    if topic is None:
        await answer(query, svc.texts.get("stale_button", lang), alert=True)
        return
    await answer(query)
    rows = column((e.question[lang], f"q:{e.id}") for e in svc.kb.entries_in(topic.id))
    rows.append(
        [
            (svc.texts.get("btn_back", lang), "m:topics"),
            (svc.texts.get("btn_home", lang), "m:home"),
        ]
    )
    text = svc.texts.render("topic_title", lang, emoji=topic.emoji, title=topic.title[lang])
    await show(update, text, keyboard(rows))


async def show_entry(
    update: Update, context: ContextTypes.DEFAULT_TYPE, entry_id: str, *, kind: str = "q"
) -> None:
    """One answer (``q:<entry>``) or its detail (``d:<entry>``)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    query = update.callback_query
    assert query is not None
    entry = svc.kb.by_id.get(entry_id)
    if entry is None:
        await answer(query, svc.texts.get("stale_button", lang), alert=True)
        return
    await answer(query)
    svc.count_usage(entry.id)
    if kind == "d" and entry.detail:
        text = svc.texts.render(
            "detail",
            lang,
            question=entry.question[lang],
            detail=Markup(shown(entry, lang, svc.status).detail or entry.detail[lang]),
        )
        back = keyboard(
            [
                [
                    (svc.texts.get("btn_back", lang), f"q:{entry.id}"),
                    (svc.texts.get("btn_home", lang), "m:home"),
                ]
            ]
        )
        await show(update, text, back)
    else:
        await show(
            update,
            render_answer(svc.texts, entry, lang, svc.status),
            answer_keyboard(svc.texts, entry, lang),
        )


async def ask_prompt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "ask a question" button: explain how to ask."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await reply(update, svc.texts.render("ask_prompt", lang))


async def none_of_these(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The citizen rejected every suggestion."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await show(
        update, svc.texts.render("none_of_these", lang), topics_keyboard(svc.texts, svc.kb, lang)
    )


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A free-text message: answer it, offer close matches, or fall back and note it for staff."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    await answer_text(update, context, message.text)


async def answer_text(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """Answer ``text`` as a question (also used by other areas for questions typed mid-flow)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    result = compose_reply(svc.texts, svc.kb, svc.matcher, text, lang, svc.status)
    if result.notice:
        await reply(update, result.notice)
    await reply(update, result.text, result.markup)
    match = result.match  # bookkeeping after the reply: the citizen doesn't wait for it
    if match is not None and match.kind == "answer" and match.entry is not None:
        svc.count_usage(match.entry.id)
    elif match is not None and match.kind == "fallback":
        masked = mask_personal_numbers(text[:MAX_QUESTION_CHARS])
        user = update.effective_user
        author = user.id if user else None  # so the citizen's own questions are erased with them
        await svc.call(svc.stores.unanswered.log, masked, lang, user_id=author)


def register_questions(app: Application) -> None:
    """Free text as questions: registered after every conversation, as the last text handler."""
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, question)
    )


router.action("m", "topics").handles(pressed(show_topics))
router.action("t", "", "topic").handles(show_topic)
router.action("q", "", "entry").handles(show_entry)
router.action("d", "", "entry").handles(functools.partial(show_entry, kind="d"))
router.action("m", "ask").handles(pressed(ask_prompt))
router.action("m", "none").handles(pressed(none_of_these))
