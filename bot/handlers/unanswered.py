"""The questions the bot could not answer, grouped by similarity, for the staff (``/pertanyaan``):
the most asked first, with a button to close a group once it is handled and one to teach the
bot with it. Buttons: see :mod:`bot.handlers.staff`.

Teaching a group (🎓): its screen shows its questions and the entries the matcher finds
closest; staff attach the group to one of them, or to an entry they type (its id, or words to
search), and its questions become phrasings of that entry in the group's language; or they mark
it off-topic and its questions become off-topic examples. Either way the change is stored,
applied to the live matcher at once (``bot.teaching``), audited, and the group is handled.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    filters,
)

from bot import flow, teaching
from bot.config import Config
from bot.handlers.staff import (
    ATTACH,
    MARK,
    OFF_TOPIC,
    PICK_ENTRY,
    TEACH,
    UNANSWERED,
    Context,
    add_prompt_handler,
    audit,
    handles,
    prompt_answer,
    shorten,
    staff_lang,
)
from bot.i18n import Markup, Texts, escape
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from desk.unanswered import Group, group_questions, normalise
from faq.learning import Learned
from faq.model import Entry
from screening.identity import redact
from store.clock import format_local

GROUPS_PER_PAGE = 8
MAX_QUESTION_SHOWN = 160
#: Questions of a group listed on its screen, and taught at most from one group.
QUESTIONS_SHOWN = 5
MAX_TAUGHT = 20
CANDIDATES = 3
PICK_RESULTS = 5
BUTTON_QUESTION_CHARS = 48
TOAST_CHARS = 200  # Telegram's limit for a callback answer
TOAST_QUESTION_CHARS = 60
STAFF_TEACH = flow.define("staff_teach")


@dataclass(frozen=True)
class Open:
    """The open questions grouped, and the questions by id."""

    groups: list[Group]
    items: Mapping[str, Mapping[str, Any]]

    def find(self, question_id: str) -> tuple[int, Group] | None:
        """The group holding ``question_id`` and its number in the list (from 1)."""
        return next(
            ((n, g) for n, g in enumerate(self.groups, start=1) if question_id in g.ids), None
        )

    def texts(self, group: Group) -> list[str]:
        """The group's distinct questions as staff see them (masked), most asked first."""
        counted: Counter[str] = Counter()
        shown: dict[str, str] = {}
        for question_id in group.ids:
            item = self.items.get(question_id)
            if item is None:
                continue
            text = " ".join(redact(str(item["text"])).split())
            key = normalise(text)
            if key:
                shown.setdefault(key, text)
                counted[key] += 1
        return [shown[key] for key, _ in counted.most_common()]

    def lang(self, group: Group) -> str:
        """The language most of the group's questions were asked in."""
        langs = Counter(
            str(self.items[i].get("lang") or "id") for i in group.ids if i in self.items
        )
        return langs.most_common(1)[0][0] if langs else "id"


async def _open(svc: Services) -> Open:
    items = await svc.call(svc.stores.unanswered.all_open)
    groups = await asyncio.to_thread(group_questions, items)
    return Open(groups, {str(item["id"]): item for item in items})


async def _open_groups(svc: Services) -> list[Group]:
    return (await _open(svc)).groups


def unanswered_screen(
    texts: Texts, config: Config, groups: Sequence[Group], lang: str, page: int
) -> tuple[Markup, Any]:
    """The most asked open questions, grouped by similarity, with 🎓 buttons to teach the bot
    with a group and ✅ buttons to close one."""
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
    numbered = list(enumerate(shown, start=first + 1))
    teach = [
        (texts.get("btn_staff_open_group", lang).format(number=n), TEACH.data(g.ids[0], page))
        for n, g in numbered
    ]
    marks = [
        (texts.get("btn_staff_mark", lang).format(number=n), MARK.data(g.ids[0], page))
        for n, g in numbered
    ]
    rows: list[list[Button]] = [teach[i : i + 4] for i in range(0, len(teach), 4)]
    rows += [marks[i : i + 4] for i in range(0, len(marks), 4)]
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), UNANSWERED.data(page - 1)))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), UNANSWERED.data(page + 1)))
    rows.append(nav)
    hint = texts.render("staff_unanswered_hint", lang)
    teach_hint = texts.render("staff_unanswered_teach_hint", lang)
    body = title + "\n\n" + "\n".join(lines) + "\n\n" + hint + "\n" + teach_hint
    return Markup(body), keyboard(rows)


def _label(entry: Entry, lang: str) -> str:
    return shorten(entry.question[lang], BUTTON_QUESTION_CHARS)


def group_screen(
    svc: Services,
    lang: str,
    number: int,
    group: Group,
    questions: Sequence[str],
    group_lang: str,
    candidates: Sequence[tuple[Entry, float]],
    page: int,
) -> tuple[Markup, InlineKeyboardMarkup]:
    """One group to teach: its questions, the closest entries to attach it to, off-topic."""
    texts = svc.texts
    question_id = group.ids[0]
    parts = [
        texts.render(
            "staff_group_title",
            lang,
            number=number,
            count=group.count,
            last=format_local(group.last_at, "%d-%m %H:%M"),
            lang=texts.get(f"staff_group_lang_{group_lang}", lang),
        ),
        "\n".join(
            texts.render("staff_group_question", lang, text=shorten(q, MAX_QUESTION_SHOWN))
            for q in questions[:QUESTIONS_SHOWN]
        ),
    ]
    if len(questions) > QUESTIONS_SHOWN:
        parts[-1] += "\n" + texts.render(
            "staff_group_more", lang, count=len(questions) - QUESTIONS_SHOWN
        )
    rows: list[list[Button]] = []
    if candidates:
        lines = [texts.render("staff_group_candidates", lang)]
        for n, (entry, score) in enumerate(candidates, start=1):
            lines.append(
                texts.render(
                    "staff_group_candidate",
                    lang,
                    number=n,
                    question=entry.question[lang],
                    entry=entry.id,
                    score=round(score),
                )
            )
            label = texts.get("btn_staff_attach", lang).format(
                number=n, question=_label(entry, lang)
            )
            rows.append([(label, ATTACH.data(question_id, entry.id, page))])
        parts.append("\n".join(lines))
    parts.append(texts.render("staff_group_hint", lang))
    rows += [
        [(texts.get("btn_staff_pick_entry", lang), PICK_ENTRY.data(question_id, page))],
        [
            (texts.get("btn_staff_off_topic", lang), OFF_TOPIC.data(question_id, page)),
            (texts.get("btn_staff_mark_group", lang), MARK.data(question_id, page)),
        ],
        [(texts.get("btn_staff_back_to_questions", lang), UNANSWERED.data(page))],
    ]
    return Markup("\n\n".join(parts)), keyboard(rows)


def _page_of(page: str) -> int:
    if not page.isdigit():
        raise Stale(page)
    return int(page)


async def _gone(update: Update, svc: Services, lang: str) -> None:
    await answer(update.callback_query, svc.texts.get("staff_unanswered_gone", lang), alert=True)


async def _after(
    update: Update, svc: Services, lang: str, page: int, toast: str, *, alert: bool = False
) -> None:
    """The list again, without the group just handled; ``toast`` says what was done."""
    await answer(update.callback_query, shorten(toast, TOAST_CHARS), alert=alert)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, page)
    await show(update, text, markup)


async def _mark_handled(
    update: Update, svc: Services, lang: str, question_id: str, page: int
) -> None:
    query = update.callback_query
    assert query is not None
    groups = await _open_groups(svc)
    group = next((g for g in groups if question_id in g.ids), None)
    if group is None:
        await _gone(update, svc, lang)
        return
    count = await svc.call(svc.stores.unanswered.mark_handled, group.ids, actor=query.from_user.id)
    await audit(svc, query.from_user.id, "unanswered_handled", None, count=count)
    await answer(query, svc.texts.get("staff_unanswered_marked", lang).format(count=count))
    remaining = [g for g in groups if g is not group]
    text, markup = unanswered_screen(svc.texts, svc.config, remaining, lang, page)
    await show(update, text, markup)


async def _teach_group(
    update: Update,
    svc: Services,
    lang: str,
    question_id: str,
    page: int,
    entry: Entry | None,
    *,
    edit: bool = True,
) -> None:
    """Attach the group holding ``question_id`` to ``entry`` (None: mark it off-topic), store
    and apply it, audit it, close the group; then the list again."""
    user = update.effective_user
    assert user is not None
    found = await _open(svc)
    located = found.find(question_id)
    if located is None:
        if edit:
            await _gone(update, svc, lang)
        else:
            await reply(update, svc.texts.render("staff_unanswered_gone", lang))
        return
    _, group = located
    questions = found.texts(group)[:MAX_TAUGHT]
    group_lang = found.lang(group)

    def change(learned: Learned) -> Learned:
        for text in questions:
            if entry is None:
                learned = learned.mark_off_topic(text, group_lang, by=user.id)
            else:
                learned = learned.attach(text, entry.id, group_lang, by=user.id)
        return learned

    learned = await teaching.teach(svc, change)
    count = await svc.call(svc.stores.unanswered.mark_handled, group.ids, actor=user.id)
    # What the live matcher still decides otherwise is said, not hidden (faq.learning.unmet).
    unmet = len(await asyncio.to_thread(learned.unmet, svc.matcher, questions))
    details: dict[str, Any] = {
        "taught": len(questions),
        "questions": count,
        "lang": group_lang,
        "unmet": unmet,
    }
    texts = svc.texts
    if entry is None:
        await audit(svc, user.id, "faq_taught_off_topic", None, **details)
        toast = texts.get("staff_taught_off_topic", lang).format(count=len(questions))
    else:
        await audit(svc, user.id, "faq_taught", f"faq:{entry.id}", **details)
        question = shorten(entry.question[lang], TOAST_QUESTION_CHARS)
        toast = texts.get("staff_taught", lang).format(count=len(questions), question=question)
    if unmet:
        toast += "\n" + texts.get("staff_taught_unmet", lang).format(count=unmet)
    if edit:
        await _after(update, svc, lang, page, toast, alert=bool(unmet))
        return
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, page)
    await reply(update, Markup(f"{escape(toast)}\n\n{text}"), markup)


@handles(UNANSWERED)
async def _page(update: Update, context: Context, lang: str, page: str) -> None:
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, _page_of(page))
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(MARK)
async def _mark(update: Update, context: Context, lang: str, question_id: str, page: str) -> None:
    await _mark_handled(update, services(context), lang, question_id, _page_of(page))


@handles(TEACH)
async def _group(update: Update, context: Context, lang: str, question_id: str, page: str) -> None:
    """A group's teaching screen: its questions and the entries the matcher finds closest."""
    svc = services(context)
    page_number = _page_of(page)
    found = await _open(svc)
    located = found.find(question_id)
    if located is None:
        await _gone(update, svc, lang)
        return
    position, group = located
    scored = await asyncio.to_thread(svc.matcher.scores, group.representative)
    screen = group_screen(
        svc,
        lang,
        position,
        group,
        found.texts(group),
        found.lang(group),
        scored[:CANDIDATES],
        page_number,
    )
    await answer(update.callback_query)
    await show(update, *screen)


@handles(ATTACH)
async def _attach(
    update: Update, context: Context, lang: str, question_id: str, entry_id: str, page: str
) -> None:
    svc = services(context)
    entry = svc.kb.by_id.get(entry_id)
    if entry is None:
        raise Stale(entry_id)
    await _teach_group(update, svc, lang, question_id, _page_of(page), entry)


@handles(OFF_TOPIC)
async def _off_topic(
    update: Update, context: Context, lang: str, question_id: str, page: str
) -> None:
    await _teach_group(update, services(context), lang, question_id, _page_of(page), None)


@handles(PICK_ENTRY)
async def _pick(update: Update, context: Context, lang: str, question_id: str, page: str) -> None:
    """Ask for an entry id or words to find the entry (a ForceReply prompt)."""
    svc = services(context)
    page_number = _page_of(page)
    chat = update.effective_chat
    assert chat is not None
    await answer(update.callback_query)
    placeholder = svc.texts.get("staff_pick_placeholder", lang)[:64]
    sent = await chat.send_message(
        svc.texts.render("staff_pick_prompt", lang),
        reply_markup=ForceReply(input_field_placeholder=placeholder),
    )
    state = {"message_id": sent.message_id, "question": question_id, "page": page_number}
    await flow.begin(update, context, STAFF_TEACH, state)


def find_entries(svc: Services, text: str) -> list[Entry]:
    """Entries for what a staff member typed: those whose id or question holds it, then the
    matcher's closest, at most ``PICK_RESULTS``."""
    wanted = " ".join(text.casefold().split())
    named = [
        e
        for e in svc.kb.entries
        if wanted in e.id or any(wanted in e.question[lang].casefold() for lang in ("id", "en"))
    ]
    scored = [entry for entry, _ in svc.matcher.scores(text)]
    return list(dict.fromkeys([*named, *scored]))[:PICK_RESULTS]


async def pick_reply(update: Update, context: Context) -> None:
    """What a staff member typed after the entry prompt: an entry id attaches the group to it;
    words list the entries they may mean, each a button."""
    message = update.message
    prompt = prompt_answer(update, context, STAFF_TEACH)
    if prompt is None or message is None or message.from_user is None:
        return
    svc = services(context)
    lang = await svc.language(message.from_user)
    await flow.end(update, context, STAFF_TEACH)
    text = " ".join((message.text or "").split())
    question_id, page = str(prompt["question"]), int(prompt["page"])
    entry = svc.kb.by_id.get(text.lower())
    if entry is not None:
        await _teach_group(update, svc, lang, question_id, page, entry, edit=False)
        raise ApplicationHandlerStop
    entries = await asyncio.to_thread(find_entries, svc, text)
    texts = svc.texts
    lines = [texts.render("staff_pick_results", lang, query=shorten(redact(text), 40))]
    rows: list[list[Button]] = []
    for n, found in enumerate(entries, start=1):
        lines.append(
            texts.render(
                "staff_pick_line", lang, number=n, question=found.question[lang], entry=found.id
            )
        )
        label = texts.get("btn_staff_attach", lang).format(number=n, question=_label(found, lang))
        rows.append([(label, ATTACH.data(question_id, found.id, page))])
    rows.append([(texts.get("btn_staff_pick_entry", lang), PICK_ENTRY.data(question_id, page))])
    rows.append([(texts.get("btn_staff_back", lang), TEACH.data(question_id, page))])
    await reply(update, Markup("\n".join(lines)), keyboard(rows))
    raise ApplicationHandlerStop


async def unanswered_command(update: Update, context: Context) -> None:
    """/pertanyaan: the open unanswered questions, grouped."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    svc = services(context)
    groups = await _open_groups(svc)
    text, markup = unanswered_screen(svc.texts, svc.config, groups, lang, 0)
    await reply(update, text, markup)


def register_early(app: Application) -> None:
    """Before every feature (group -2): the answer to the entry prompt."""
    add_prompt_handler(app, STAFF_TEACH, pick_reply)


def register(app: Application) -> None:
    """/pertanyaan in private chats (the buttons are the router's)."""
    app.add_handler(
        CommandHandler("pertanyaan", unanswered_command, filters=filters.ChatType.PRIVATE)
    )
