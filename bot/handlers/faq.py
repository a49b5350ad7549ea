"""Questions and answers: browsing topics by buttons, and free-text questions via the matcher."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.i18n import Markup, Texts, escape
from bot.menu import main_menu
from bot.routing import pressed, router
from bot.services import services
from bot.ui import answer, column, keyboard, reply, show
from faq.matcher import Match, Matcher
from faq.model import Entry, KnowledgeBase
from faq.normalize import mask_personal_numbers

# The matcher reads at most this much of a message; a question is never longer.
MAX_QUESTION_CHARS = 500
_NUMBER_ONLY = re.compile(r"^[\d\s.+()-]{6,}$")
_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]+")


# -- rendering (pure: also used by `python -m bot ask` and the console chat) ------------------


def render_answer(texts: Texts, entry: Entry, lang: str) -> Markup:
    sources = ", ".join(
        f'<a href="{escape(s.url)}">{escape(s.title)}</a>' if s.url else escape(s.title)
        for s in entry.sources
    )
    return texts.render(
        "answer",
        lang,
        question=entry.question[lang],
        answer=Markup(entry.answer[lang]),
        sources=Markup(sources),
        checked=entry.checked.strftime("%d-%m-%Y"),
    )


def answer_keyboard(texts: Texts, entry: Entry, lang: str) -> InlineKeyboardMarkup:
    rows = []
    if entry.detail:
        rows.append([(texts.get("btn_detail", lang), f"d:{entry.id}")])
    rows.append(
        [
            (texts.get("btn_back", lang), f"t:{entry.topic}"),
            (texts.get("btn_home", lang), "m:home"),
        ]
    )
    return keyboard(rows)


def topics_keyboard(texts: Texts, kb: KnowledgeBase, lang: str) -> InlineKeyboardMarkup:
    rows = column((f"{t.emoji} {t.title[lang]}", f"t:{t.id}") for t in kb.topics)
    rows.append(
        [(texts.get("btn_contact", lang), "m:contact"), (texts.get("btn_home", lang), "m:home")]
    )
    return keyboard(rows)


def render_match(
    texts: Texts, kb: KnowledgeBase, match: Match, lang: str
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The reply to a free-text question, exactly as the bot sends it."""
    if match.kind == "answer" and match.entry is not None:
        return render_answer(texts, match.entry, lang), answer_keyboard(texts, match.entry, lang)
    if match.kind == "suggest":
        rows = column((e.question[lang], f"q:{e.id}") for e in match.suggestions)
        rows.append([(texts.get("btn_none_of_these", lang), "m:none")])
        return texts.render("suggest", lang), keyboard(rows)
    if match.kind == "smalltalk":
        return texts.render("smalltalk", lang), main_menu(texts, lang)
    return texts.render("fallback", lang), topics_keyboard(texts, kb, lang)


# -- handlers -------------------------------------------------------------------------------


async def show_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """All topics."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await show(
        update, svc.texts.render("topics_title", lang), topics_keyboard(svc.texts, svc.kb, lang)
    )


async def show_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The questions of one topic."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = next((t for t in svc.kb.topics if t.id == query.data[2:]), None)
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


async def show_entry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One answer (``q:``) or its detail (``d:``)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    query = update.callback_query
    assert query is not None and query.data is not None
    kind, _, entry_id = query.data.partition(":")
    entry = svc.kb.by_id.get(entry_id)
    if entry is None:
        await answer(query, svc.texts.get("stale_button", lang), alert=True)
        return
    await answer(query)
    svc.count_usage(entry.id)
    if kind == "d" and entry.detail:
        text = svc.texts.render(
            "detail", lang, question=entry.question[lang], detail=Markup(entry.detail[lang])
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
            update, render_answer(svc.texts, entry, lang), answer_keyboard(svc.texts, entry, lang)
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


@dataclass(frozen=True)
class Reply:
    """The bot's reply to a typed text, before anything is sent or stored."""

    text: Markup
    markup: InlineKeyboardMarkup | None
    match: Match | None = None
    notice: Markup | None = None  # sent first, e.g. "your message was very long"


def compose_reply(
    svc_texts: Texts, kb: KnowledgeBase, matcher: Matcher, text: str, lang: str
) -> Reply:
    """What the bot answers to ``text`` (pure: shared by the handler and ``python -m bot ask``)."""
    if not _INVISIBLE.sub("", text):
        return Reply(svc_texts.render("empty_text", lang), main_menu(svc_texts, lang))
    if _NUMBER_ONLY.match(text.strip()):
        return Reply(svc_texts.render("number_only", lang), main_menu(svc_texts, lang))
    notice = None
    if len(text) > MAX_QUESTION_CHARS:
        notice, text = svc_texts.render("too_long", lang), text[:MAX_QUESTION_CHARS]
    match = matcher.match(text)
    body, markup = render_match(svc_texts, kb, match, lang)
    return Reply(body, markup, match, notice)


async def answer_text(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """Answer ``text`` as a question (also used by other areas for questions typed mid-flow)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    result = compose_reply(svc.texts, svc.kb, svc.matcher, text, lang)
    if result.notice:
        await reply(update, result.notice)
    await reply(update, result.text, result.markup)
    match = result.match  # bookkeeping after the reply: the citizen doesn't wait for it
    if match is not None and match.kind == "answer" and match.entry is not None:
        svc.count_usage(match.entry.id)
    elif match is not None and match.kind == "fallback":
        masked = mask_personal_numbers(text[:MAX_QUESTION_CHARS])
        await svc.call(svc.stores.unanswered.log, masked, lang)


def register_questions(app: Application) -> None:
    """Free text as questions: registered after every conversation, as the last text handler."""
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, question)
    )


router.action("m", "topics").handles(pressed(show_topics))
router.action("t", "", "topic").handles(pressed(show_topic))
router.action("q", "", "entry").handles(pressed(show_entry))
router.action("d", "", "entry").handles(pressed(show_entry))
router.action("m", "ask").handles(pressed(ask_prompt))
router.action("m", "none").handles(pressed(none_of_these))
