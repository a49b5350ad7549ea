"""Citizens' data rights (UU PDP): see (/dataku), correct, withdraw consent, delete (/hapusdata),
and retention (the daily purge).

Withdrawing consent stops processing without erasing: the registration is closed as
``tidak_lanjut`` with the reason "consent withdrawn" (``data_withdrawn_reason``; staff see why and
never call; it no longer counts as active, so the citizen may register again), the screening's
detailed answers are dropped, and the withdrawal is recorded as proof. Erasure is /hapusdata,
offered right after.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import time
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    filters,
)

from bot import flow
from bot.handlers import registration, registration_form
from bot.i18n import Markup, Texts
from bot.menu import main_menu
from bot.routing import Handler, Stale, pressed, router
from bot.services import Services, services
from bot.ui import answer, keyboard, reply, show
from screening.identity import mask_phone
from screening.model import load_questionnaire, load_rules, load_texts
from store.clock import format_local

log = logging.getLogger(__name__)

#: Purposes whose consent a withdrawal revokes (the questionnaire records "screening").
WITHDRAWN_PURPOSES = ("registration", "screening")
#: The text key of the reason a withdrawal closes the registration with; stored in Indonesian,
#: like the staff's preset reasons.
#: The reason id of a registration closed because the citizen withdrew consent (desk "reasons").
WITHDRAWN_REASON = "consent_withdrawn"
#: When the retention purge runs each day (Asia/Jakarta by default, from config).
PURGE_AT = time(2, 30)


# -- /dataku ----------------------------------------------------------------------------------


async def gather(svc: Services, user_id: int) -> dict[str, Any]:
    """Everything stored about the user, read from each store."""
    stores = svc.stores
    return {
        "registration": await svc.call(stores.registrations.get_by_user, user_id),
        "screening": await svc.call(stores.screenings.get, user_id),
        "consents": await svc.call(stores.consents.history, user_id),
        "subscribed": await svc.call(stores.subscribers.is_subscribed, user_id),
        "user": await svc.call(stores.users.get, user_id),
    }


def render_my_data(svc: Services, lang: str, found: Mapping[str, Any]) -> Markup:
    """The /dataku text: NIK and phone masked, dates in the configured time zone."""
    texts = svc.texts
    if not any(found[key] for key in ("registration", "screening", "consents", "subscribed")):
        return texts.render("data_nothing", lang)

    def when(stamp: str) -> str:
        return format_local(stamp)

    parts = [texts.render("data_title", lang)]
    record = found["registration"]
    if record:
        fields = registration_form.summary_fields(texts, lang, record)
        fields["phone"] = mask_phone(record["phone"]) if record.get("phone") else fields["phone"]
        status = texts.get(f"data_status_{record['status']}", lang)
        parts.append(
            texts.render(
                "data_registration",
                lang,
                reg_no=record["reg_no"],
                status=status,
                created=when(record["created_at"]),
                updated=when(record["updated_at"]),
                **fields,
            )
        )
    else:
        parts.append(texts.render("data_no_registration", lang))
    screening = found["screening"]
    if screening:
        parts.append(_screening(texts, lang, screening, when(screening["at"])))
    if found["consents"]:
        lines = "\n".join(
            str(
                texts.render(
                    "data_consent_line",
                    lang,
                    purpose=_purpose(texts, c["purpose"], lang),
                    decision=texts.get("data_granted" if c["granted"] else "data_withdrawn", lang),
                    version=c["version"],
                    date=when(c["at"]),
                )
            )
            for c in found["consents"]
        )
        parts.append(texts.render("data_consents", lang, lines=Markup(lines)))
    state = texts.get("data_subscribed" if found["subscribed"] else "data_not_subscribed", lang)
    parts.append(texts.render("data_subscription", lang, state=state))
    user = found["user"]
    if user and user.get("last_seen"):
        language = user.get("lang") or "-"
        parts.append(
            texts.render("data_preferences", lang, lang=language, date=when(user["last_seen"]))
        )
    parts.append(texts.render("data_footer", lang))
    return Markup("\n\n".join(parts))


def _purpose(texts: Texts, purpose: str, lang: str) -> str:
    key = f"data_purpose_{purpose}"
    return texts.get(key, lang) if key in texts else purpose


def _screening(texts: Texts, lang: str, screening: Mapping[str, Any], date: str) -> Markup:
    rules, labels = load_rules(), load_texts()
    outcomes = registration_form.screening_outcomes(screening.get("result")) or {}
    lines = []
    for programme_id, outcome in outcomes.items():
        programme = rules.programme(programme_id)
        try:
            outcome_label = labels.get(f"outcomes.{outcome}", lang)
        except KeyError:
            outcome_label = outcome
        name = programme.name.get(lang, programme_id) if programme else programme_id
        lines.append(
            str(texts.render("data_outcome_line", lang, programme=name, outcome=outcome_label))
        )
    answers = screening.get("answers") or {}
    sensitive = [q for q in load_questionnaire().questions if q.sensitive and q.id in answers]
    general = len(answers) - len(sensitive)
    return texts.render(
        "data_screening",
        lang,
        date=date,
        outcomes=Markup("\n".join(lines)),
        general=texts.render("data_answers_count", lang, count=general)
        if general
        else texts.render("data_answers_none", lang),
        sensitive=texts.render("data_answers_count", lang, count=len(sensitive))
        if sensitive
        else texts.render("data_answers_none", lang),
    )


def answers_screen(
    svc: Services, lang: str, screening: Mapping[str, Any] | None, *, sensitive: bool
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The citizen's own stored answers: general ones, or (after a second tap) the health and
    legal ones; "tidak ada" when none are stored."""
    texts, engine = svc.texts, svc.screening_engine()
    answers = (screening or {}).get("answers") or {}
    lines = [
        str(
            texts.render(
                "data_answer_line",
                lang,
                question=question.text[lang],
                answer=engine.format_answer(question, answers[question.id], lang),
            )
        )
        for question in engine.questionnaire.questions
        if question.id in answers and question.sensitive == sensitive
    ]
    title = texts.render("data_answers_sensitive" if sensitive else "data_answers_title", lang)
    body = "\n".join(lines) if lines else str(texts.render("data_answers_none", lang))
    rows: list[list[tuple[str, str]]] = []
    has_sensitive = any(q.sensitive and q.id in answers for q in engine.questionnaire.questions)
    if not sensitive and has_sensitive:
        rows.append([(texts.get("btn_data_answers_sensitive", lang), "data:answers:sensitive")])
    rows.append([(texts.get("btn_back", lang), "data:view")])
    return Markup(f"{title}\n\n{body}"), keyboard(rows)


async def show_answers(update: Update, context: ContextTypes.DEFAULT_TYPE, *kind: str) -> None:
    """``data:answers`` (general answers) and ``data:answers:sensitive`` (health, legal)."""
    if kind not in ((), ("sensitive",)):
        raise Stale(kind[0])
    svc = services(context)
    user = update.effective_user
    assert user is not None
    lang = await svc.language(user)
    await answer(update.callback_query)
    screening = await svc.call(svc.stores.screenings.get, user.id)
    text, markup = answers_screen(svc, lang, screening, sensitive=bool(kind))
    await show(update, text, markup)


def my_data_keyboard(texts: Texts, lang: str, found: Mapping[str, Any]) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    if found["registration"]:
        template = texts.get("btn_data_fix", lang)
        fixes = [
            (template.format(field=texts.get(f"btn_reg_field_{name}", lang)), f"data:fix:{name}")
            for name in registration_form.FIELD_STEPS
        ]
        rows += [fixes[i : i + 2] for i in range(0, len(fixes), 2)]
    if (found["screening"] or {}).get("answers"):
        rows.append([(texts.get("btn_data_answers", lang), "data:answers")])
    if any(c["granted"] for c in _current_consents(found["consents"]).values()):
        rows.append([(texts.get("btn_data_withdraw", lang), "data:withdraw")])
    if any(found[key] for key in ("registration", "screening", "consents", "subscribed")):
        rows.append([(texts.get("btn_data_delete", lang), "data:delete")])
    rows.append([(texts.get("btn_home", lang), "m:home")])
    return keyboard(rows)


def _current_consents(history: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The latest decision per purpose (history is oldest first)."""
    return {c["purpose"]: c for c in history}


async def my_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/dataku and the "My data" button."""
    await answer(update.callback_query)
    svc = services(context)
    user = update.effective_user
    assert user is not None
    lang = await svc.language(user)
    found = await gather(svc, user.id)
    await show(update, render_my_data(svc, lang, found), my_data_keyboard(svc.texts, lang, found))


# -- corrections, withdrawal, deletion --------------------------------------------------------


async def fix(update: Update, context: ContextTypes.DEFAULT_TYPE, field_name: str) -> None:
    """``data:fix:<field>``: ask that field again, with the registration's validation."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(query)
    if not await registration.begin_fix(update, context, field_name):
        await reply(update, svc.texts.render("reg_fix_nothing", lang), main_menu(svc.texts, lang))


async def withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``data:withdraw``: explain what withdrawing does and ask to confirm."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    rows = [
        [(svc.texts.get("btn_data_withdraw_yes", lang), "data:withdraw:yes")],
        [(svc.texts.get("btn_data_keep", lang), "data:keep")],
    ]
    await show(update, svc.texts.render("data_withdraw_confirm", lang), keyboard(rows))


async def withdraw_confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the withdrawals, close the registration, drop the detailed answers."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    lang = await svc.language(user)
    await answer(update.callback_query)
    stores = svc.stores
    history = await svc.call(stores.consents.history, user.id)
    granted = [c for c in _current_consents(history).values() if c["granted"]]
    if not granted:
        await show(update, svc.texts.render("data_nothing_to_withdraw", lang), _home(svc, lang))
        return
    for consent in granted:
        if consent["purpose"] in WITHDRAWN_PURPOSES:
            await svc.call(
                stores.consents.record, user.id, consent["purpose"], consent["version"], False
            )
    record = await svc.call(stores.registrations.get_by_user, user.id)
    if record is not None:
        await svc.call(
            stores.registrations.set_status,
            record["reg_no"],
            "tidak_lanjut",
            actor=user.id,
            reason=WITHDRAWN_REASON,
        )
    screening = await svc.call(stores.screenings.get, user.id)
    if screening is not None and screening.get("answers") is not None:
        await svc.call(stores.screenings.save, user.id, {}, screening["result"], False)
    await flow.end(update, context, flow.REGISTRATION)
    rows = [
        [(svc.texts.get("btn_data_delete", lang), "data:delete")],
        [(svc.texts.get("btn_home", lang), "m:home")],
    ]
    await show(update, svc.texts.render("data_withdrawn_done", lang), keyboard(rows))


async def delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/hapusdata and ``data:delete``: say what goes and ask to confirm."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    rows = [
        [(svc.texts.get("btn_data_delete_yes", lang), "data:delete:yes")],
        [(svc.texts.get("btn_data_keep", lang), "data:keep")],
    ]
    await show(update, svc.texts.render("data_delete_confirm", lang), keyboard(rows))


async def delete_confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete everything: every store, the conversations in progress, the cached language."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    lang = await svc.language(user)
    await answer(update.callback_query)
    # The conversation state first: nothing of the user is written back after the erasure,
    # which rewrites every store (handoff tickets included) before the bot says it is done.
    await forget_conversations(update, context)
    svc.forget_user(user.id)
    counts = await svc.call(svc.stores.delete_user, user.id)
    log.info("a citizen deleted their data: %s", counts)
    await show(update, svc.texts.render("data_deleted", lang), _home(svc, lang))


async def forget_conversations(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the user's conversation state: the active flow, user and chat data."""
    app = context.application
    if context.user_data is not None:
        context.user_data.clear()
    if update.effective_user is not None:
        app.drop_user_data(update.effective_user.id)
    if update.effective_chat is not None:
        if context.chat_data is not None:
            context.chat_data.clear()
        app.drop_chat_data(update.effective_chat.id)
    if app.persistence is not None:
        await app.update_persistence()


async def keep(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``data:keep``: nothing changes."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await show(update, svc.texts.render("data_kept", lang), _home(svc, lang))


def _home(svc: Services, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(svc.texts.get("btn_home", lang), "m:home")]])


# -- retention --------------------------------------------------------------------------------


async def purge_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The daily retention run: anonymise or delete what is older than privacy.retention_days."""
    svc: Services = context.bot_data["services"]
    counts = await svc.call(svc.stores.purge, svc.config.retention_days)
    log.info("retention purge (%d days): %s", svc.config.retention_days, counts)


def register(app: Application) -> None:
    """/dataku, /hapusdata, the ``data:`` buttons, and the daily purge job."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("dataku", my_data, filters=private))
    app.add_handler(CommandHandler("hapusdata", delete, filters=private))
    if app.job_queue is not None:
        config = app.bot_data["config"]
        at = PURGE_AT.replace(tzinfo=config.tz)
        app.job_queue.run_daily(purge_job, at, name="retention-purge")


def _two_step(ask: Handler, confirmed: Handler) -> Handler:
    """``data:<action>`` asks, ``data:<action>:yes`` does it."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE, *answer: str) -> None:
        if not answer:
            await ask(update, context)
        elif answer == ("yes",):
            await confirmed(update, context)
        else:
            raise Stale(answer[0])

    return handler


router.action("data", "view").handles(pressed(my_data))
router.action("data", "fix", "field").handles(fix)
router.action("data", "withdraw", "confirm?").handles(_two_step(withdraw, withdraw_confirmed))
router.action("data", "delete", "confirm?").handles(_two_step(delete, delete_confirmed))
router.action("data", "keep").handles(pressed(keep))
router.action("data", "answers", "kind?").handles(show_answers)
