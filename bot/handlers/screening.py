"""The eligibility questionnaire (/cekkelayakan): one flow (``bot.flow``) and a step pointer.

(About 640 lines: one handler per declared ``scr:`` action, each short; the questionnaire's logic
is in :mod:`screening.engine`, not here.)

The questions, their order and conditions, validation and the result all come from
``screening.engine.Engine``; this module only shows the current step and applies what the citizen
taps or types. The session is the state of the user's active flow, as JSON data::

    {"answers": {question id: value}, "consent": None | bool,
     "step": question id | "consent" | "review", "picked": [choice ids of a multi question]}

Every change is written to the store before the bot replies (:func:`_commit`), so a restart, even
a ``kill -9``, continues at the same question. Buttons carry the question they answer
(``scr:a:<question>:<choice>``), so a button from an old screen is recognised and the citizen is
shown the current question instead of having the tap applied blindly.

Callback data (declared below, one handler each): ``scr:start``, ``scr:x`` (cancel),
``scr:xy`` (cancel confirmed), ``scr:resume:<step>``, ``scr:a:<q>:<choice>`` (single / yes-no),
``scr:t:<q>:<choice>`` (toggle), ``scr:done:<q>``, ``scr:back:<step>``, ``scr:cons:y|n``,
``scr:edit:<q>``, ``scr:ok`` (review confirmed).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.handlers.faq import answer_text
from bot.i18n import Markup, escape
from bot.menu import main_menu
from bot.routing import router
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from screening.engine import CONSENT_ID, Engine, Question
from screening.report import format_evaluation

log = logging.getLogger(__name__)

REVIEW = "review"
CONSENT_PURPOSE = "screening"
CHOICE_TYPES = frozenset({"single", "multi", "yesno"})
YES, NO = "y", "n"
Context = ContextTypes.DEFAULT_TYPE
Rows = list[list[Button]]

START = router.action("scr", "start")
CANCEL = router.action("scr", "x")
CANCEL_CONFIRMED = router.action("scr", "xy")
RESUME = router.action("scr", "resume", "step")
ANSWER = router.action("scr", "a", "question", "choice")
TOGGLE = router.action("scr", "t", "question", "choice")
DONE = router.action("scr", "done", "question")
BACK = router.action("scr", "back", "step")
CONSENT = router.action("scr", "cons", "answer")
EDIT = router.action("scr", "edit", "question")
CONFIRM = router.action("scr", "ok")


@dataclass
class Session:
    """One citizen's questionnaire in progress."""

    answers: dict[str, Any] = field(default_factory=dict)
    consent: bool | None = None
    step: str = ""
    picked: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, context: Context) -> Session | None:
        raw = flow.state(context, flow.SCREENING)
        if raw is None:
            return None
        return cls(**{key: raw[key] for key in cls.__dataclass_fields__ if key in raw})


def engine_of(svc: Services) -> Engine:
    """The engine, built once per process (``Services.screening_engine``)."""
    return svc.screening_engine()


async def _commit(update: Update, context: Context, session: Session | None) -> None:
    """Keep ``session`` as the active flow (or end it), durably before the bot replies, so a
    restart, even a ``kill -9``, continues at the same question."""
    if session is None:
        await flow.end(update, context, flow.SCREENING)
    else:
        await flow.put(update, context, flow.SCREENING, asdict(session))


# -- moving through the questionnaire ----------------------------------------------------------


def _advance(engine: Engine, session: Session) -> None:
    """Drop answers that no longer apply and point at the next unanswered step (or the review)."""
    session.answers = engine.prune(session.answers, consent=session.consent)
    question = engine.next_question(session.answers, consent=session.consent)
    _go_to(engine, session, question.id if question is not None else REVIEW)


def _go_to(engine: Engine, session: Session, step: str) -> None:
    session.step = step
    current = session.answers.get(step)
    multi = step not in (REVIEW, CONSENT_ID) and engine.question(step).type == "multi"
    session.picked = list(current or []) if multi else []


def _previous(engine: Engine, session: Session) -> Question | None:
    """The step before the current one, for the Back button."""
    if session.step == REVIEW:
        sequence = engine.sequence(session.answers, consent=session.consent)
        return sequence[-1] if sequence else None
    return engine.previous_question(session.answers, session.step, consent=session.consent)


def _applies(engine: Engine, session: Session, step: str) -> bool:
    sequence = engine.sequence(session.answers, consent=session.consent)
    return any(question.id == step for question in sequence)


# -- screens -------------------------------------------------------------------------------------


def _screen(svc: Services, session: Session, lang: str) -> tuple[Markup, InlineKeyboardMarkup]:
    """The text and buttons of the session's current step."""
    engine = engine_of(svc)
    if session.step == REVIEW:
        return _review_screen(svc, engine, session, lang)
    if session.step == CONSENT_ID:
        return _consent_screen(svc, engine, session, lang)
    return _question_screen(svc, engine, session, lang)


def _nav_row(svc: Services, engine: Engine, session: Session, lang: str) -> list[Button]:
    row: list[Button] = []
    if _previous(engine, session) is not None:
        row.append((svc.texts.get("btn_back", lang), BACK.data(session.step)))
    row.append((svc.texts.get("btn_scr_cancel", lang), CANCEL.data()))
    return row


def _question_screen(
    svc: Services, engine: Engine, session: Session, lang: str
) -> tuple[Markup, InlineKeyboardMarkup]:
    texts, question = svc.texts, engine.question(session.step)
    # Only the questions this citizen will see are counted; "about N more" while later
    # answers can still change that (the count never jumps).
    where = engine.progress_info(session.answers, question.id, consent=session.consent)
    section = engine.questionnaire.section(question.section)
    title = section.title[lang] if section else ""
    progress = texts.render(
        "scr_progress", lang, where=where.text(lang, engine.texts), section=title
    )
    lines = [
        progress,
        "",
        texts.render("scr_question", lang, text=question.text[lang]),
    ]
    if question.why:
        lines.append(texts.render("scr_why", lang, why=question.why[lang]))
    if question.hint:
        lines.append(texts.render("scr_hint", lang, hint=question.hint[lang]))
    elif question.type == "multi":
        lines.append(texts.render("scr_multi_hint", lang))
    elif question.type not in CHOICE_TYPES:
        lines.append(texts.render("scr_type_answer", lang))
    current = session.answers.get(question.id)
    if current is not None and question.type != "multi":
        shown = engine.format_answer(question, current, lang)
        lines.append(texts.render("scr_current", lang, answer=shown))
    return Markup("\n".join(lines)), keyboard(
        [*_answer_rows(svc, engine, question, session, lang), _nav_row(svc, engine, session, lang)]
    )


def _answer_rows(
    svc: Services, engine: Engine, question: Question, session: Session, lang: str
) -> Rows:
    qid = question.id
    if question.type == "yesno":
        return [
            [
                (engine.texts.get("answers.yes", lang), ANSWER.data(qid, YES)),
                (engine.texts.get("answers.no", lang), ANSWER.data(qid, NO)),
            ]
        ]
    if question.type == "single":
        buttons = [(c.text[lang], ANSWER.data(qid, c.id)) for c in question.choices]
        width = 2 if all(len(text) <= 20 for text, _ in buttons) else 1
        return [buttons[i : i + width] for i in range(0, len(buttons), width)]
    if question.type == "multi":
        rows: Rows = []
        for choice in question.choices:
            key = "btn_scr_picked" if choice.id in session.picked else "btn_scr_unpicked"
            label = svc.texts.get(key, lang).format(choice=choice.text[lang])
            rows.append([(label, TOGGLE.data(qid, choice.id))])
        rows.append([(svc.texts.get("btn_scr_done", lang), DONE.data(qid))])
        return rows
    return []  # typed answers


def _consent_screen(
    svc: Services, engine: Engine, session: Session, lang: str
) -> tuple[Markup, InlineKeyboardMarkup]:
    notice = engine.consent
    text = svc.texts.render("scr_consent", lang, title=notice.title[lang], text=notice.text[lang])
    rows: Rows = [
        [
            (notice.accept[lang], CONSENT.data(YES)),
            (notice.decline[lang], CONSENT.data(NO)),
        ],
        _nav_row(svc, engine, session, lang),
    ]
    return text, keyboard(rows)


def _review_screen(
    svc: Services, engine: Engine, session: Session, lang: str
) -> tuple[Markup, InlineKeyboardMarkup]:
    texts = svc.texts
    lines = [texts.render("scr_review_title", lang), ""]
    edits: list[Button] = []
    consent_asked = False
    for question in engine.sequence(session.answers, consent=session.consent):
        if question.id == CONSENT_ID:
            consent_asked = True
            continue
        number = len(edits) + 1
        shown = engine.format_answer(question, session.answers.get(question.id), lang)
        lines.append(
            texts.render(
                "scr_review_line",
                lang,
                number=number,
                question=_short(question.text[lang]),
                answer=shown,
            )
        )
        label = texts.get("btn_scr_edit", lang).format(number=number)
        edits.append((label, EDIT.data(question.id)))
    rows: Rows = [edits[i : i + 5] for i in range(0, len(edits), 5)]
    if consent_asked:
        notice = engine.consent
        decision = notice.accept[lang] if session.consent else notice.decline[lang]
        lines += ["", texts.render("scr_review_consent", lang, answer=decision)]
        rows.append([(texts.get("btn_scr_edit_consent", lang), EDIT.data(CONSENT_ID))])
    rows.append([(texts.get("btn_scr_confirm", lang), CONFIRM.data())])
    rows.append(_nav_row(svc, engine, session, lang))
    return Markup("\n".join(lines)), keyboard(rows)


#: Longest question shown on the review screen: one line per answer on a phone.
REVIEW_QUESTION_CHARS = 48


def _short(question: str) -> str:
    """A question's first sentence, clipped, for the review screen."""
    first = question.split("? ")[0].rstrip("?") + "?"
    if len(first) <= REVIEW_QUESTION_CHARS:
        return first
    return first[: REVIEW_QUESTION_CHARS - 1].rsplit(" ", 1)[0] + "…"  # never inside a word


def _result_keyboard(svc: Services, lang: str) -> InlineKeyboardMarkup:
    texts = svc.texts
    return keyboard(
        [
            [(texts.get("btn_scr_register", lang), "reg:start")],
            [(texts.get("btn_scr_ask", lang), "m:ask"), (texts.get("btn_home", lang), "m:home")],
            [(texts.get("btn_scr_again", lang), START.data())],
        ]
    )


# -- handlers ----------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """/cekkelayakan or the menu button: a new questionnaire, or the current one continued."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    session = Session.of(context)
    if session is not None:
        text, markup = _screen(svc, session, lang)
        await reply(update, Markup(svc.texts.render("scr_resume", lang) + "\n\n" + text), markup)
        return
    session = Session()
    _advance(engine_of(svc), session)
    await _commit(update, context, session)
    text, markup = _screen(svc, session, lang)
    await show(update, Markup(svc.texts.render("scr_intro", lang) + "\n\n" + text), markup)
    return


async def cancel(update: Update, context: Context) -> None:
    """/batal or the Cancel button: with answers given, ask first (one tap must not delete ten
    answers); otherwise forget them."""
    await _cancel(update, context, confirmed=False)


@CANCEL_CONFIRMED.handles
async def cancel_confirmed(update: Update, context: Context) -> None:
    """ "Ya, batalkan" under the question whether to forget the answers."""
    await _cancel(update, context, confirmed=True)


async def _cancel(update: Update, context: Context, *, confirmed: bool) -> None:
    svc = services(context)
    lang = await svc.language(update.effective_user)
    session = Session.of(context)
    query = update.callback_query
    if session is not None and session.answers and not confirmed:
        await answer(query)
        rows = [
            [(svc.texts.get("btn_scr_cancel_yes", lang), CANCEL_CONFIRMED.data())],
            [(svc.texts.get("btn_scr_cancel_no", lang), RESUME.data(session.step))],
        ]
        count = len(session.answers)
        await show(
            update, svc.texts.render("scr_cancel_confirm", lang, count=count), keyboard(rows)
        )
        return
    await _commit(update, context, None)
    await answer(query)
    await show(update, svc.texts.render("scr_cancelled", lang), main_menu(svc.texts, lang))


# -- buttons: each reads the running questionnaire (pressed after a restart too) ---------------

SessionHandler = Callable[..., Awaitable[None]]


def _in_session(handler: SessionHandler) -> SessionHandler:
    """A button of a running questionnaire: ``handler(update, context, session, lang, *fields)``;
    with none running (finished, cancelled, forgotten) the citizen is told so."""

    @functools.wraps(handler)
    async def run(update: Update, context: Context, *fields: str) -> None:
        session = Session.of(context)
        if session is None:
            await _expired(update, context)
            return
        lang = await services(context).language(update.effective_user)
        await handler(update, context, session, lang, *fields)

    return run


def _at_step(*, question: bool) -> Callable[[SessionHandler], SessionHandler]:
    """A button that carries the step it belongs to: one of an earlier screen is stale (and so
    is an answer button while the review is shown, when ``question``)."""

    def wrap(handler: SessionHandler) -> SessionHandler:
        @_in_session
        @functools.wraps(handler)
        async def run(
            update: Update, context: Context, session: Session, lang: str, step: str, *rest: str
        ) -> None:
            if step != session.step or (question and step == REVIEW):
                await _stale(update, context, session, lang)
                return
            await handler(update, context, session, lang, *rest)

        return run

    return wrap


@ANSWER.handles
@_at_step(question=True)
async def on_answer(
    update: Update, context: Context, session: Session, lang: str, choice: str
) -> None:
    """A choice of a single or yes/no question."""
    engine = engine_of(services(context))
    if choice in (YES, NO) and engine.question(session.step).type == "yesno":
        await _record(update, context, session, choice == YES, lang)
        return
    await _apply(update, context, session, choice, lang)


@TOGGLE.handles
@_at_step(question=True)
async def on_toggle(
    update: Update, context: Context, session: Session, lang: str, choice: str
) -> None:
    """A choice of a multi question ticked or unticked."""
    await _toggle(update, context, session, choice, lang)


@DONE.handles
@_at_step(question=True)
async def on_done(update: Update, context: Context, session: Session, lang: str) -> None:
    """ "Selesai" under a multi question: the ticked choices are the answer."""
    await _apply(update, context, session, session.picked, lang)


@BACK.handles
@_at_step(question=False)
async def on_back(update: Update, context: Context, session: Session, lang: str) -> None:
    """Back to the previous step (on the first question there is none)."""
    svc = services(context)
    engine = engine_of(svc)
    previous = _previous(engine, session)
    if previous is None:
        await answer(update.callback_query)
        return
    _go_to(engine, session, previous.id)
    await _commit(update, context, session)
    await _show_step(update, session, svc, lang)


@CONSENT.handles
@_in_session
async def on_consent(
    update: Update, context: Context, session: Session, lang: str, decision: str
) -> None:
    """The consent to the sensitive questions, given or declined."""
    if session.step != CONSENT_ID:
        await _stale(update, context, session, lang)
        return
    await _record(update, context, session, decision == YES, lang)


@EDIT.handles
@_in_session
async def on_edit(
    update: Update, context: Context, session: Session, lang: str, step: str
) -> None:
    """An answer changed from the review."""
    svc = services(context)
    engine = engine_of(svc)
    if session.step != REVIEW or not _applies(engine, session, step):
        await _stale(update, context, session, lang)
        return
    _go_to(engine, session, step)
    await _commit(update, context, session)
    await _show_step(update, session, svc, lang)


@CONFIRM.handles
@_in_session
async def on_confirm(update: Update, context: Context, session: Session, lang: str) -> None:
    """The review confirmed: the result."""
    if session.step != REVIEW:
        await _stale(update, context, session, lang)
        return
    await _finish(update, context, session, lang)


@RESUME.handles
@_in_session
async def on_resume(
    update: Update, context: Context, session: Session, lang: str, step: str
) -> None:
    """ "Lanjutkan" after Batal: back to where the citizen was."""
    await _show_step(update, session, services(context), lang)


async def on_text(update: Update, context: Context) -> None:
    """A typed answer; a typed question is answered and the current step shown again."""
    message = update.effective_message
    assert message is not None and message.text is not None
    session = Session.of(context)
    if session is None:  # the conversation outlived its session: treat as a question
        await answer_text(update, context, message.text)
        return
    svc = services(context)
    lang = await svc.language(update.effective_user)
    if session.step == REVIEW:
        await _aside(update, context, session, message.text, lang)
        return
    question = engine_of(svc).question(session.step)
    result = engine_of(svc).validate(question, message.text, lang)
    if result.ok:
        await _apply(update, context, session, message.text, lang)
        return
    if question.type in CHOICE_TYPES or "?" in message.text:
        await _aside(update, context, session, message.text, lang)
        return
    text, markup = _screen(svc, session, lang)
    error = svc.texts.render("scr_invalid", lang, error=result.error)
    await reply(update, Markup(error + "\n\n" + text), markup)
    return


async def _apply(
    update: Update, context: Context, session: Session, raw: str | list[str], lang: str
) -> None:
    """Validate a tapped choice or typed answer to the current step, then record it."""
    svc = services(context)
    engine = engine_of(svc)
    result = engine.validate(engine.question(session.step), raw, lang)
    if result.ok:
        await _record(update, context, session, result.value, lang)
        return
    if update.callback_query is not None:  # e.g. "Selesai" with nothing chosen
        await answer(update.callback_query, result.error, alert=True)
    else:
        await reply(update, svc.texts.render("scr_invalid", lang, error=result.error))
    return


async def _record(
    update: Update, context: Context, session: Session, value: Any, lang: str
) -> None:
    """Record a valid answer (or the consent decision) and show the next step."""
    svc = services(context)
    engine = engine_of(svc)
    notice = None
    if session.step == CONSENT_ID:
        user = update.effective_user
        assert user is not None
        session.consent = bool(value)
        await svc.call(
            svc.stores.consents.record,
            user.id,
            CONSENT_PURPOSE,
            engine.consent.version,
            session.consent,
        )
        if not session.consent:
            notice = escape(engine.consent.declined[lang])
    else:
        session.answers[session.step] = value
    _advance(engine, session)
    await _commit(update, context, session)
    await _show_step(update, session, svc, lang, notice)
    return


async def _toggle(
    update: Update, context: Context, session: Session, choice_id: str, lang: str
) -> None:
    """Tick or untick one choice of a multi question (an exclusive choice stands alone)."""
    svc = services(context)
    question = engine_of(svc).question(session.step)
    choice = question.choice(choice_id)
    if question.type != "multi" or choice is None:
        await _stale(update, context, session, lang)
        return
    if choice_id in session.picked:
        session.picked.remove(choice_id)
    elif choice.exclusive:
        session.picked = [choice_id]
    else:
        exclusive = {c.id for c in question.choices if c.exclusive}
        session.picked = [p for p in session.picked if p not in exclusive] + [choice_id]
    await _commit(update, context, session)
    await _show_step(update, session, svc, lang)
    return


async def _finish(update: Update, context: Context, session: Session, lang: str) -> None:
    """Evaluate, save the outcome (answers only with consent), show the result."""
    svc = services(context)
    engine = engine_of(svc)
    if engine.next_question(session.answers, consent=session.consent) is not None:
        _advance(engine, session)  # an answer went missing (rules changed): ask it first
        await _commit(update, context, session)
        await _show_step(update, session, svc, lang)
        return
    granted = session.consent is not False  # None: no sensitive question applied
    evaluation = engine.evaluate(session.answers, consent=granted)
    user = update.effective_user
    assert user is not None
    await svc.call(
        svc.stores.screenings.save, user.id, session.answers, evaluation.outcomes(), granted
    )
    await _commit(update, context, None)
    await answer(update.callback_query)
    report = format_evaluation(evaluation, lang, html=True)
    text = Markup(report + "\n\n" + svc.texts.render("scr_result_next", lang))
    await show(update, text, _result_keyboard(svc, lang))
    return


async def _show_step(
    update: Update, session: Session, svc: Services, lang: str, notice: str | None = None
) -> None:
    """Show the current step: edit the pressed message, or send it after a typed answer."""
    text, markup = _screen(svc, session, lang)
    if notice:
        text = Markup(notice + "\n\n" + text)
    await answer(update.callback_query)
    await show(update, text, markup)
    return


async def _aside(update: Update, context: Context, session: Session, text: str, lang: str) -> None:
    """A question typed mid-way: answer it, then show where the citizen was."""
    svc = services(context)
    await answer_text(update, context, text)
    screen, markup = _screen(svc, session, lang)
    await reply(update, Markup(svc.texts.render("scr_continue", lang) + "\n\n" + screen), markup)
    return


async def _stale(update: Update, context: Context, session: Session, lang: str) -> None:
    """A button of an earlier screen: say so and show the current step as a new message."""
    svc = services(context)
    await answer(update.callback_query, svc.texts.get("scr_passed", lang))
    text, markup = _screen(svc, session, lang)
    await reply(update, text, markup)
    return


async def _expired(update: Update, context: Context) -> None:
    """A questionnaire button with no questionnaire running (finished, cancelled, forgotten)."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query, svc.texts.get("scr_expired", lang))
    markup = keyboard([[(svc.texts.get("btn_scr_start", lang), START.data())]])
    await reply(update, svc.texts.render("scr_expired_message", lang), markup)
    return


def register(app: Application) -> None:
    """The questionnaire: its command, its buttons (also after a restart) and, while it is the
    active flow, the citizen's typed answers (before free text is read as FAQ questions)."""
    private = filters.ChatType.PRIVATE
    active = flow.Active(app, flow.SCREENING) & private
    app.add_handler(CommandHandler("cekkelayakan", start, filters=private))
    app.add_handler(CommandHandler("batal", cancel, filters=active))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & active, on_text))


START.handles(start)
CANCEL.handles(cancel)
