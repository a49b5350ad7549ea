"""The FAQ's replies as the bot sends them: answers with their sources, "did you mean"
suggestions, the fallback. Pure (no update, no context): shared by the FAQ handler, the flows
that answer a question typed mid-way, and ``python -m bot ask``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup

from bot.i18n import Markup, Texts, escape
from bot.menu import main_menu
from bot.ui import column, keyboard
from faq.matcher import Match, Matcher
from faq.model import Entry, KnowledgeBase
from faq.render import Rendered, StatusUpdate, office_values, render
from store import clock

# The matcher reads at most this much of a message; a question is never longer.
MAX_QUESTION_CHARS = 500
_NUMBER_ONLY = re.compile(r"^[\d\s.+()-]{6,}$")
_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]+")


#: The bot's own values in answers (retention period, office block), set from the config once.
_values: dict[str, object] = {}


def set_values(config_values: dict[str, object]) -> None:
    """Use ``config_values`` (see :func:`values_of`) in every answer from now on."""
    _values.clear()
    _values.update(config_values)


def values_of(retention_days: int, office: dict[str, str]) -> dict[str, object]:
    """The placeholders the knowledge base uses, from the config."""
    return {"retention_days": retention_days, **office_values(office)}


def shown(entry: Entry, lang: str, status: StatusUpdate | None = None) -> Rendered:
    """The entry's answer and detail as of today (dated statements computed per message), the
    admins' programme ``status`` update on top of the status and timeline answers."""
    return render(entry, lang, today=clock.today(), values=_values, status=status)


def render_answer(
    texts: Texts, entry: Entry, lang: str, status: StatusUpdate | None = None
) -> Markup:
    sources = ", ".join(
        f'<a href="{escape(s.url)}">{escape(s.title)}</a>' if s.url else escape(s.title)
        for s in entry.sources
    )
    return texts.render(
        "answer",
        lang,
        question=entry.question[lang],
        answer=Markup(shown(entry, lang, status).answer),
        sources=Markup(sources),
        checked=entry.checked.strftime("%d-%m-%Y"),
    )


#: What an answer may point to, and the button that does it: an answer that says "/daftar" or
#: "Hubungi petugas" carries that button, so the citizen never has to type it.
ACTION_BUTTONS = (
    (("/daftar",), "btn_register", "reg:start"),
    (("/cekkelayakan",), "btn_screening", "scr:start"),
    (("/langganan",), "btn_subscribe", "sub:on"),
    (("/petugas", "hubungi petugas", "contact staff"), "btn_contact", "m:contact"),
    (("/dataku",), "btn_reg_my_data", "data:view"),
    (("/hapusdata",), "btn_data_delete", "data:delete"),
)


def action_rows(texts: Texts, answer_html: str, lang: str) -> list[list[tuple[str, str]]]:
    """Buttons for the commands and actions the answer mentions, two to a row."""
    lowered = answer_html.lower()
    buttons = [
        (texts.get(label, lang), data)
        for words, label, data in ACTION_BUTTONS
        if any(word in lowered for word in words)
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def answer_keyboard(texts: Texts, entry: Entry, lang: str) -> InlineKeyboardMarkup:
    # The commands an answer names are in its template: no second rendering for the buttons.
    rows = action_rows(texts, (entry.template_answer or entry.answer)[lang], lang)
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
    texts: Texts, kb: KnowledgeBase, match: Match, lang: str, status: StatusUpdate | None = None
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The reply to a free-text question, exactly as the bot sends it."""
    if match.kind == "answer" and match.entry is not None:
        body = render_answer(texts, match.entry, lang, status)
        return body, answer_keyboard(texts, match.entry, lang)
    if match.kind == "suggest":
        rows = column((e.question[lang], f"q:{e.id}") for e in match.suggestions)
        rows.append([(texts.get("btn_none_of_these", lang), "m:none")])
        # the candidates in the text too: a screen reader, a notification or a forwarded
        # message shows no buttons
        lines = [texts.render("suggest", lang)]
        lines += [
            texts.render("suggest_item", lang, number=str(n), question=e.question[lang])
            for n, e in enumerate(match.suggestions, 1)
        ]
        return Markup("\n".join(lines)), keyboard(rows)
    if match.kind == "smalltalk":
        return texts.render("smalltalk", lang), main_menu(texts, lang)
    return texts.render("fallback", lang), topics_keyboard(texts, kb, lang)


@dataclass(frozen=True)
class Reply:
    """The bot's reply to a typed text, before anything is sent or stored."""

    text: Markup
    markup: InlineKeyboardMarkup | None
    match: Match | None = None
    notice: Markup | None = None  # sent first, e.g. "your message was very long"


def compose_reply(
    svc_texts: Texts,
    kb: KnowledgeBase,
    matcher: Matcher,
    text: str,
    lang: str,
    status: StatusUpdate | None = None,
) -> Reply:
    """What the bot answers to ``text`` (pure: shared by the handler and ``python -m bot ask``),
    with the programme ``status`` update on top of the status and timeline answers."""
    if not _INVISIBLE.sub("", text):
        return Reply(svc_texts.render("empty_text", lang), main_menu(svc_texts, lang))
    if _NUMBER_ONLY.match(text.strip()):
        return Reply(svc_texts.render("number_only", lang), main_menu(svc_texts, lang))
    notice = None
    if len(text) > MAX_QUESTION_CHARS:
        notice, text = svc_texts.render("too_long", lang), text[:MAX_QUESTION_CHARS]
    match = matcher.match(text)
    body, markup = render_match(svc_texts, kb, match, lang, status)
    return Reply(body, markup, match, notice)
