"""Pre-registration: consent, name, NIK, phone, kecamatan/kelurahan, programmes, training, e-mail.

The flow is one generic state, a :class:`Flow` kept as plain JSON as the user's active flow
(``bot.flow``, durable across restarts): the answers so far and the steps done. The step to ask
next is computed (:meth:`Flow.pending`), so editing a field from the summary, or correcting it
from /dataku (``mode="fix"``), only forgets that field's steps and asks them again with the same
validation.

The NIK message is deleted before anything else and the NIK is only ever shown masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import flow
from bot.handlers.faq import answer_text
from bot.i18n import Markup, Texts, escape
from bot.menu import main_menu
from bot.routing import pressed, router
from bot.services import Services, services
from bot.ui import ReplyMarkup, answer, drop_buttons, keyboard, reply, show
from screening.identity import (
    InvalidEmail,
    InvalidNik,
    InvalidPhone,
    email_error_text,
    format_phone,
    load_wilayah,
    mask_nik,
    nik_conflicts,
    nik_error_text,
    parse_email,
    parse_name,
    parse_nik,
    parse_phone,
    phone_error_text,
)
from screening.minors import (
    GUARDIAN_RELATIONSHIPS,
    WORK_INTERESTS,
    guardian_consent_record,
    minor_status,
)
from screening.model import load_texts as load_screening_texts
from store import NikTakenError, clock

log = logging.getLogger(__name__)

CONSENT_PURPOSE = "registration"
#: Version of the ``reg_consent`` notice: bump it whenever that text changes (asked again).
CONSENT_VERSION = "2026-01"
PROGRAMMES = ("korea_work", "japan_work", "scholarship")

STEPS = (
    "consent",
    "name",
    "nik",
    "nik_conflict",
    "domicile",
    "phone",
    "kecamatan",
    "kelurahan",
    "programmes",
    "guardian_name",
    "guardian",
    "training",
    "email",
)
#: Each correctable field and the steps asked again to correct it.
FIELD_STEPS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "nik": ("nik", "nik_conflict", "domicile"),
    "phone": ("phone",),
    "wilayah": ("domicile", "kecamatan", "kelurahan"),
    "programmes": ("programmes",),
    "training": ("training",),
    "email": ("email",),
}
#: The registration record's fields the citizen gives (docs/ARCHITECTURE.md).
SAVED_FIELDS = (
    "full_name",
    "nik",
    "phone",
    "kecamatan",
    "kelurahan",
    "domicile_confirmed",
    "programmes",
    "training_willing",
    "email",
    "guardian_consent",  # a minor's registration: who consented for them (UU PDP Pasal 25)
)
#: Which button (``reg:<action>:...``) belongs to which step; buttons of another step are stale.
_BUTTON_STEP: dict[str, str | None] = {
    "consent": "consent",
    "conflict": "nik_conflict",
    "dom": "domicile",
    "kec": "kecamatan",
    "kecback": "kelurahan",
    "kel": "kelurahan",
    "prog": "programmes",
    "train": "training",
    "guardian": "guardian",
    "email": "email",
    "send": None,
    "edit": None,
    "field": None,
    "summary": None,
}
_TEXT_STEPS = ("name", "nik", "phone", "email", "guardian_name")
#: The version of the guardian's consent notice (``reg_guardian_consent``): bump when it changes.
GUARDIAN_CONSENT_VERSION = "2026-12"

_QUESTION_WORDS = frozenset(
    {
        *("apa", "apakah", "bagaimana", "gimana", "gmn", "bgmn", "kapan", "kpn", "berapa"),
        *("brp", "dimana", "kenapa", "knp", "mengapa", "siapa", "bisakah", "bolehkah"),
        *("syarat", "syaratnya", "cara", "caranya"),
        *("what", "how", "when", "why", "who", "where"),
    }
)
_NAME_CHAR = re.compile(r"[^\W\d_]|[ .,'’-]")
_DIGIT = re.compile(r"\d")
NIK_DIGITS = 16


# -- pure helpers -----------------------------------------------------------------------------


def looks_like_question(text: str) -> bool:
    """A question typed mid-flow ("syaratnya apa?"), not an answer to the current step."""
    words = text.strip().lower().split()
    return "?" in text or (bool(words) and words[0] in _QUESTION_WORDS)


def clean_name(text: str) -> str | None:
    """The full name with spaces tidied (invisible and filler characters do not count), or
    None unless it is 2-100 letters and punctuation (``screening.identity.parse_name``)."""
    return parse_name(text)


def screening_outcomes(result: Any) -> dict[str, str] | None:
    """Programme -> outcome from a stored screening result: ``Evaluation.outcomes()`` itself,
    or a mapping holding it under ``"outcomes"``; None when there is none."""
    if not isinstance(result, Mapping):
        return None
    inner = result.get("outcomes", result)
    if isinstance(inner, Mapping) and inner and all(isinstance(v, str) for v in inner.values()):
        return {str(key): value for key, value in inner.items()}
    return None


@dataclass
class Flow:
    """A registration in progress: the answers so far and the steps done (JSON only)."""

    mode: str = "new"  # "new" ends with the summary; "fix" saves right after the field
    data: dict[str, Any] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, context: ContextTypes.DEFAULT_TYPE) -> Flow | None:
        """The registration in progress, if it is the user's active flow."""
        raw = flow.state(context, flow.REGISTRATION)
        return cls(**raw) if raw is not None else None

    def applies(self, step: str) -> bool:
        """Whether ``step`` is asked at all, given the answers so far."""
        if step == "nik_conflict":
            return bool(self.conflicts)
        if step == "domicile":
            return not str(self.data.get("nik", "")).startswith("3673")
        if step in ("kecamatan", "kelurahan"):
            return self.data.get("domicile_confirmed") is True
        if step in ("guardian_name", "guardian"):  # a minor: a parent or guardian consents
            return bool(self.data.get("minor")) and bool(self.data.get("programmes"))
        if step == "training":  # LPK training is for the work programmes only
            return any(p in WORK_INTERESTS for p in self.data.get("programmes") or ())
        return True

    def pending(self) -> str | None:
        """The step to ask next; None when everything is answered."""
        return next((s for s in STEPS if s not in self.done and self.applies(s)), None)

    def complete(self, step: str, **values: Any) -> None:
        self.data.update(values)
        if step not in self.done:
            self.done.append(step)

    def reopen(self, *steps: str) -> None:
        self.done = [step for step in self.done if step not in steps]

    def record(self) -> dict[str, Any]:
        """The registration fields to save."""
        return {name: self.data.get(name) for name in SAVED_FIELDS}


# -- one turn of the conversation ------------------------------------------------------------


@dataclass
class Turn:
    """What a handler needs for one update of the flow."""

    update: Update
    context: ContextTypes.DEFAULT_TYPE
    svc: Services
    lang: str
    flow: Flow

    @property
    def user_id(self) -> int:
        assert self.update.effective_user is not None
        return self.update.effective_user.id

    def text(self, key: str, **values: Any) -> Markup:
        return self.svc.texts.render(key, self.lang, **values)

    def label(self, key: str) -> str:
        return self.svc.texts.get(key, self.lang)

    async def save(self) -> None:
        """Keep the flow, durably before the bot replies (a restart resumes at this step);
        the first save makes it the active flow, ending any other."""
        await flow.put(self.update, self.context, flow.REGISTRATION, asdict(self.flow))

    async def end(self) -> None:
        """Forget the flow."""
        await flow.end(self.update, self.context, flow.REGISTRATION)


async def _turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE, progress: Flow | None = None
) -> Turn | None:
    svc = services(context)
    lang = await svc.language(update.effective_user)
    current = progress or Flow.load(context)
    return None if current is None else Turn(update, context, svc, lang, current)


def _prompt(t: Turn, step: str) -> tuple[Markup, ReplyMarkup | None]:
    """The question of ``step`` and its keyboard."""
    if step == "consent":
        rows = [
            [(t.label("btn_reg_agree"), "reg:consent:yes")],
            [(t.label("btn_reg_disagree"), "reg:consent:no")],
        ]
        return t.text("reg_consent", days=t.svc.config.retention_days), keyboard(rows)
    if step == "name":
        return t.text("reg_ask_name"), None
    if step == "nik":
        return t.text("reg_ask_nik"), None
    if step == "nik_conflict":
        lines = "\n".join(
            t.text(f"reg_conflict_{c['field']}", **_shown(t, c)) for c in t.flow.conflicts
        )
        rows = [
            [(t.label("btn_reg_conflict_nik"), "reg:conflict:nik")],
            [(t.label("btn_reg_conflict_retype"), "reg:conflict:retype")],
        ]
        return t.text("reg_nik_conflict", lines=Markup(lines)), keyboard(rows)
    if step == "domicile":
        rows = [[(t.label("btn_reg_yes"), "reg:dom:yes"), (t.label("btn_reg_no"), "reg:dom:no")]]
        return t.text("reg_ask_domicile"), keyboard(rows)
    if step == "phone":
        return t.text("reg_ask_phone"), _phone_keyboard(t)
    if step == "kecamatan":
        options = [(kec.name, f"reg:kec:{kec.id}") for kec in load_wilayah().kecamatan]
        return t.text("reg_ask_kecamatan"), keyboard(_pairs(options))
    if step == "kelurahan":
        kec = load_wilayah().kecamatan_by_id(str(t.flow.data.get("kecamatan")))
        assert kec is not None
        options = [(kel.name, f"reg:kel:{kel.id}") for kel in kec.kelurahan]
        rows = [*_pairs(options), [(t.label("btn_reg_back"), "reg:kecback")]]
        return t.text("reg_ask_kelurahan", kecamatan=kec.name), keyboard(rows)
    if step == "programmes":
        chosen = t.flow.data.get("programmes") or []
        rows = [
            [(("✅ " if p in chosen else "▫️ ") + t.label(f"btn_reg_prog_{p}"), f"reg:prog:{p}")]
            for p in PROGRAMMES
        ]
        rows.append([(t.label("btn_reg_continue"), "reg:prog:done")])
        return t.text("reg_ask_programmes"), keyboard(rows)
    if step == "guardian_name":
        return t.text("reg_ask_guardian_name", age=t.flow.data["minor"]["age"]), None
    if step == "guardian":
        rows = [
            [(t.label(f"btn_reg_guardian_{r}"), f"reg:guardian:{r}")]
            for r in GUARDIAN_RELATIONSHIPS
        ]
        rows.append([(t.label("btn_reg_guardian_no"), "reg:guardian:no")])
        name = t.flow.data.get("guardian_name") or ""
        return t.text("reg_guardian_consent", guardian=name), keyboard(rows)
    if step == "training":
        rows = [
            [(t.label("btn_reg_willing"), "reg:train:yes")],
            [(t.label("btn_reg_not_willing"), "reg:train:no")],
        ]
        return t.text("reg_ask_training"), keyboard(rows)
    if step == "email":
        return t.text("reg_ask_email"), keyboard([[(t.label("btn_reg_skip"), "reg:email:skip")]])
    raise ValueError(f"unknown registration step {step!r}")


def _shown(t: Turn, conflict: Mapping[str, str]) -> dict[str, str]:
    """A NIK/questionnaire disagreement as the citizen reads it (dates dd-mm-yyyy)."""
    if conflict["field"] == "sex":
        return {key: t.label(f"reg_sex_{conflict[key]}") for key in ("nik", "answer")}
    return {
        key: date.fromisoformat(conflict[key]).strftime("%d-%m-%Y") for key in ("nik", "answer")
    }


def _pairs(options: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [options[i : i + 2] for i in range(0, len(options), 2)]


def _phone_keyboard(t: Turn) -> ReplyKeyboardMarkup:
    share = KeyboardButton(t.label("btn_reg_share_phone"), request_contact=True)
    return ReplyKeyboardMarkup(
        [[share]], resize_keyboard=True, one_time_keyboard=True, input_field_placeholder="08…"
    )


async def ask(t: Turn, lead: str | None = None) -> None:
    """Ask the pending step (or show the summary / save a correction when none is left).

    After a button, a prompt with buttons replaces the pressed message; a prompt for typing is
    sent anew and the pressed message loses its buttons, so no stale button stays around.
    """
    await t.save()
    step = t.flow.pending()
    if step is None:
        await (_save_fix(t, lead) if t.flow.mode == "fix" else _show_summary(t, lead))
        return
    text, markup = _prompt(t, step)
    if lead:
        text = Markup(f"{lead}\n\n{text}")
    if t.update.callback_query is not None:
        if isinstance(markup, InlineKeyboardMarkup):
            await show(t.update, text, markup)
            return
        await _drop_buttons(t.update)
    await reply(t.update, text, markup)


async def _drop_buttons(update: Update) -> None:
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await drop_buttons(query.get_bot(), query.message.chat.id, query.message.message_id)
        except BadRequest as exc:
            log.debug("could not remove the buttons: %s", exc)


# -- summary, saving --------------------------------------------------------------------------


def summary_fields(texts: Texts, lang: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the summary (and of /dataku): NIK masked, names instead of ids."""
    wilayah = load_wilayah()
    kec = wilayah.kecamatan_by_id(str(data.get("kecamatan")))
    kel = kec.kelurahan_by_id(str(data.get("kelurahan"))) if kec else None
    none = texts.render("reg_none", lang)
    if kec is not None and kel is not None:
        place = texts.render("reg_wilayah", lang, kecamatan=kec.name, kelurahan=kel.name)
    elif data.get("domicile_confirmed") is False:
        place = texts.render("reg_wilayah_outside", lang)
    else:
        place = none
    labels = [texts.get(f"btn_reg_prog_{p}", lang) for p in data.get("programmes") or []]
    return {
        "name": data.get("full_name") or "",
        "nik": mask_nik(str(data.get("nik") or "")),
        "phone": format_phone(data["phone"]) if data.get("phone") else none,
        "wilayah": place,
        "programmes": ", ".join(labels) or none,
        "training": texts.get(
            "btn_reg_yes" if data.get("training_willing") else "btn_reg_no", lang
        ),
        "email": data.get("email") or none,
    }


async def _show_summary(t: Turn, lead: str | None = None) -> None:
    text = t.text("reg_summary", **summary_fields(t.svc.texts, t.lang, t.flow.data))
    if lead:
        text = Markup(f"{lead}\n\n{text}")
    rows = [
        [(t.label("btn_reg_send"), "reg:send")],
        [(t.label("btn_reg_edit"), "reg:edit"), (t.label("btn_reg_cancel"), "reg:cancel")],
    ]
    await show(t.update, text, keyboard(rows))


async def _edit_menu(t: Turn) -> None:
    rows = _pairs(
        [(t.label(f"btn_reg_field_{name}"), f"reg:field:{name}") for name in FIELD_STEPS]
    )
    rows.append([(t.label("btn_reg_back"), "reg:summary")])
    await show(t.update, t.text("reg_edit_which"), keyboard(rows))


async def _nik_taken(t: Turn, error: NikTakenError, *, from_summary: bool) -> None:
    rows = [[(t.label("btn_contact"), "m:contact")]]
    if from_summary:
        rows.append([(t.label("btn_reg_field_nik"), "reg:field:nik")])
    await reply(t.update, t.text("reg_nik_taken", error=error.message(t.lang)), keyboard(rows))


async def _send(t: Turn) -> None:
    """Save the registration (created, or the active one updated with its history)."""
    stores = t.svc.stores
    screening = await t.svc.call(stores.screenings.get, t.user_id)
    data = {**t.flow.record(), "screening": screening_outcomes((screening or {}).get("result"))}
    chat = t.update.effective_chat
    assert chat is not None
    try:
        record, created = await t.svc.call(
            stores.registrations.save, t.user_id, chat.id, data, actor=t.user_id
        )
    except NikTakenError as error:
        await _nik_taken(t, error, from_summary=True)
        return
    await t.end()
    rows = [
        [(t.label("btn_reg_subscribe"), "sub:on")],
        [(t.label("btn_home"), "m:home")],
    ]
    key = "reg_done" if created else "reg_updated"
    await show(t.update, t.text(key, reg_no=record["reg_no"]), keyboard(rows))


async def _save_fix(t: Turn, lead: str | None) -> None:
    """A correction from /dataku: save the field at once (history names it)."""
    stores = t.svc.stores
    chat = t.update.effective_chat
    assert chat is not None
    await t.end()
    current = await t.svc.call(stores.registrations.get_by_user, t.user_id)
    if current is None:
        await reply(t.update, t.text("reg_fix_nothing"), main_menu(t.svc.texts, t.lang))
        return
    try:
        record, _ = await t.svc.call(
            stores.registrations.save, t.user_id, chat.id, t.flow.record(), actor=t.user_id
        )
    except NikTakenError as error:
        await _nik_taken(t, error, from_summary=False)
        return
    text = t.text("reg_fixed", reg_no=record["reg_no"])
    markup = keyboard([[(t.label("btn_reg_my_data"), "data:view")]])
    await reply(t.update, Markup(f"{lead}\n\n{text}") if lead else text, markup)


# -- entry points -----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/daftar and the "Daftar" button: a fresh registration (consent first, once per version)."""
    await answer(update.callback_query)
    user = update.effective_user
    assert user is not None
    svc = services(context)
    stores = svc.stores
    progress = Flow()
    consent = await svc.call(stores.consents.current, user.id, CONSENT_PURPOSE)
    if consent and consent["granted"] and consent["version"] == CONSENT_VERSION:
        progress.done.append("consent")
    existing = await svc.call(stores.registrations.get_by_user, user.id)
    screening = await svc.call(stores.screenings.get, user.id)
    answers = (screening or {}).get("answers") or {}
    chosen = (existing or {}).get("programmes") or answers.get("programmes") or []
    progress.data["programmes"] = [p for p in chosen if p in PROGRAMMES]
    t = await _turn(update, context, progress)
    assert t is not None
    lead = t.text("reg_already", reg_no=existing["reg_no"]) if existing else None
    await ask(t, lead)


async def begin_fix(update: Update, context: ContextTypes.DEFAULT_TYPE, field_name: str) -> bool:
    """Ask one field of the active registration again (from /dataku); False if there is none."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    current = await svc.call(svc.stores.registrations.get_by_user, user.id)
    if current is None or field_name not in FIELD_STEPS:
        return False
    progress = Flow(mode="fix", data={k: current.get(k) for k in SAVED_FIELDS}, done=list(STEPS))
    progress.reopen(*FIELD_STEPS[field_name])
    t = await _turn(update, context, progress)
    assert t is not None
    await ask(t)
    return True


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/batal or the Cancel button during the flow: forget the unsent answers."""
    await answer(update.callback_query)
    t = await _turn(update, context)
    if t is None:
        await nothing_to_cancel(update, context)
        return
    at_phone = t.flow.pending() == "phone"
    await t.end()
    markup: ReplyMarkup = ReplyKeyboardRemove() if at_phone else main_menu(t.svc.texts, t.lang)
    if update.callback_query is not None:
        await _drop_buttons(update)
    await reply(update, t.text("reg_cancelled"), markup)


async def nothing_to_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/batal outside any flow."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await reply(update, svc.texts.render("reg_cancel_nothing", lang))


# -- buttons ----------------------------------------------------------------------------------


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every ``reg:`` button of the flow; a button of another step is answered as stale."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, action, arg = [*query.data.split(":", 2), ""][:3]
    t = await _turn(update, context)
    if action == "cancel":
        await cancel(update, context)
        return
    if t is None or action not in _BUTTON_STEP or t.flow.pending() != _BUTTON_STEP[action]:
        svc = services(context)
        lang = await svc.language(update.effective_user)
        await answer(query, svc.texts.get("stale_button", lang), alert=True)
        return
    if action == "prog" and arg == "done" and not t.flow.data.get("programmes"):
        await answer(query, t.label("reg_programmes_none"), alert=True)
        return
    await answer(query)
    await _BUTTONS[action](t, arg)


async def _on_consent(t: Turn, arg: str) -> None:
    if arg != "yes":  # a first refusal stores nothing at all, not even the refusal
        await t.end()
        rows = [
            [(t.label("btn_all_topics"), "m:topics"), (t.label("btn_home"), "m:home")],
        ]
        await show(t.update, t.text("reg_declined"), keyboard(rows))
        return
    await t.svc.call(
        t.svc.stores.consents.record, t.user_id, CONSENT_PURPOSE, CONSENT_VERSION, True
    )
    t.flow.complete("consent")
    await ask(t)


async def _on_conflict(t: Turn, arg: str) -> None:
    if arg == "nik":
        t.flow.complete("nik_conflict")
        await ask(t, t.text("reg_conflict_nik_right"))
        return
    t.flow.conflicts = []
    t.flow.reopen("nik", "nik_conflict")
    await ask(t)


async def _on_domicile(t: Turn, arg: str) -> None:
    lives_here = arg == "yes"
    if lives_here:
        t.flow.complete("domicile", domicile_confirmed=True)
        await ask(t)
        return
    t.flow.complete("domicile", domicile_confirmed=False, kecamatan=None, kelurahan=None)
    t.flow.reopen("kecamatan", "kelurahan")
    await ask(t, t.text("reg_domicile_no"))


async def _on_kecamatan(t: Turn, arg: str) -> None:
    if load_wilayah().kecamatan_by_id(arg) is None:
        await ask(t)
        return
    t.flow.complete("kecamatan", kecamatan=arg, kelurahan=None)
    t.flow.reopen("kelurahan")
    await ask(t)


async def _on_kecamatan_back(t: Turn, arg: str) -> None:
    t.flow.reopen("kecamatan")
    await ask(t)


async def _on_kelurahan(t: Turn, arg: str) -> None:
    if load_wilayah().kelurahan(str(t.flow.data.get("kecamatan")), arg) is not None:
        t.flow.complete("kelurahan", kelurahan=arg)
    await ask(t)


async def _on_programme(t: Turn, arg: str) -> None:
    chosen: list[str] = list(t.flow.data.get("programmes") or [])
    if arg == "done":
        if t.flow.data.get("minor") and await _minor_stops(t, chosen):
            return
        t.flow.complete("programmes")
    elif arg in PROGRAMMES:
        chosen = [p for p in chosen if p != arg] if arg in chosen else [*chosen, arg]
        t.flow.data["programmes"] = [p for p in PROGRAMMES if p in chosen]
    await ask(t)


async def _minor_stops(t: Turn, chosen: list[str]) -> bool:
    """A minor's choice of programmes: work programmes wait for their 18th birthday (said with
    the date); with nothing left the registration ends and nothing is stored. True if it ended."""
    status = minor_status(t.flow.data["minor"]["birth_date"], chosen, clock.today())
    if not status.work_blocked:
        return False
    notes = Markup("\n\n".join(escape(m) for m in status.messages(t.lang)))
    if status.allowed_interests:
        t.flow.data["programmes"] = list(status.allowed_interests)
        t.flow.complete("programmes")
        await ask(t, notes)
        return True
    await t.end()
    rows = [[(t.label("btn_reg_subscribe"), "sub:on")], [(t.label("btn_home"), "m:home")]]
    await show(t.update, notes, keyboard(rows))
    return True


async def _on_guardian(t: Turn, arg: str) -> None:
    """The parent or guardian consents (naming their relationship) or declines."""
    if arg not in GUARDIAN_RELATIONSHIPS:
        adult_on = minor_status(t.flow.data["minor"]["birth_date"], [], clock.today()).adult_on
        await t.end()  # nothing of the minor is kept
        words = load_screening_texts()
        day = f"{adult_on.day} {words.month_names(t.lang)[adult_on.month - 1]} {adult_on.year}"
        text = escape(words.get("minors.guardian_declined", t.lang, adult_on=day))
        await show(t.update, text, keyboard([[(t.label("btn_home"), "m:home")]]))
        return
    record = guardian_consent_record(
        name=str(t.flow.data.get("guardian_name") or ""),
        relationship=arg,
        consent_version=GUARDIAN_CONSENT_VERSION,
        at=clock.utc_now(),
    )
    await t.svc.call(
        t.svc.stores.consents.record, t.user_id, "guardian", GUARDIAN_CONSENT_VERSION, True
    )
    t.flow.complete("guardian", guardian_consent=record)
    await ask(t)


async def _on_training(t: Turn, arg: str) -> None:
    t.flow.complete("training", training_willing=arg == "yes")
    await ask(t)


async def _on_email_skip(t: Turn, arg: str) -> None:
    t.flow.complete("email", email=None)
    await ask(t)


async def _on_send(t: Turn, arg: str) -> None:
    await _send(t)


async def _on_edit(t: Turn, arg: str) -> None:
    await _edit_menu(t)


async def _on_field(t: Turn, arg: str) -> None:
    if arg in FIELD_STEPS:
        if arg == "nik":
            t.flow.conflicts = []
        t.flow.reopen(*FIELD_STEPS[arg])
    await ask(t)


async def _on_summary(t: Turn, arg: str) -> None:
    await ask(t)


_BUTTONS = {
    "consent": _on_consent,
    "conflict": _on_conflict,
    "dom": _on_domicile,
    "kec": _on_kecamatan,
    "kecback": _on_kecamatan_back,
    "kel": _on_kelurahan,
    "prog": _on_programme,
    "train": _on_training,
    "guardian": _on_guardian,
    "email": _on_email_skip,
    "send": _on_send,
    "edit": _on_edit,
    "field": _on_field,
    "summary": _on_summary,
}


# -- typed answers ----------------------------------------------------------------------------


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or a shared contact while the flow waits for an answer."""
    message = update.effective_message
    t = await _turn(update, context)
    if message is None or t is None:
        return
    step = t.flow.pending()
    if message.contact is not None and step == "phone":
        await _take_contact(t, message)
        return
    text = message.text or ""
    if step in _TEXT_STEPS and not _is_question(step, text):
        await _TAKERS[step](t, message, text)
        return
    if text and looks_like_question(text):
        await answer_text(update, context, text)
        await ask(t)
        return
    await ask(t, t.text("reg_use_buttons"))


def _is_question(step: str, text: str) -> bool:
    """A question rather than an answer: for numbers, only when there are few digits."""
    if step in ("nik", "phone") and len(_DIGIT.findall(text)) >= 6:
        return False
    return looks_like_question(text)


async def _invalid(t: Turn, error: str, step: str) -> None:
    """The validation message, with the step's keyboard so the citizen can try again."""
    _, markup = _prompt(t, step)
    await reply(t.update, t.text("reg_invalid", error=error), markup)


def _name_taker(step: str, field: str) -> Callable[[Turn, Message, str], Awaitable[None]]:
    """The taker of a typed full name (the citizen's, or their parent's or guardian's)."""

    async def take(t: Turn, message: Message, text: str) -> None:
        name = clean_name(text)
        if name is None:
            await reply(t.update, t.text("reg_name_invalid"))
            return
        t.flow.complete(step, **{field: name})
        await ask(t)

    return take


async def _delete(message: Message) -> None:
    """Take a message holding a NIK out of the chat (a phone left in the open is at risk)."""
    try:
        await message.delete()
    except BadRequest as exc:
        log.info("the NIK message could not be deleted: %s", exc)


async def _take_nik(t: Turn, message: Message, text: str) -> None:
    await _delete(message)  # before anything else: the NIK leaves the chat
    try:
        info = parse_nik(text)
    except InvalidNik as error:
        await _invalid(t, nik_error_text(error.code, t.lang), "nik")
        return
    stores = t.svc.stores
    holder = await t.svc.call(stores.registrations.get_by_nik, info.nik)
    if holder is not None and holder["user_id"] != t.user_id:
        await _nik_taken(t, NikTakenError(), from_summary=False)
        return
    screening = await t.svc.call(stores.screenings.get, t.user_id)
    answers = (screening or {}).get("answers") or {}
    declared = _declared_birth_date(answers.get("birth_date"))
    sex = answers.get("sex") if answers.get("sex") in ("male", "female") else None
    t.flow.conflicts = [
        {
            "field": name,
            "nik": info.birth_date.isoformat() if name == "birth_date" else info.sex,
            "answer": declared.isoformat() if name == "birth_date" and declared else str(sex),
        }
        for name in nik_conflicts(info, birth_date=declared, sex=sex)
    ]
    t.flow.reopen("nik_conflict")
    if info.is_kota_serang:
        t.flow.complete("domicile", domicile_confirmed=True)
    else:
        t.flow.reopen("domicile")
    t.flow.complete("nik", nik=info.nik)
    lead = t.text("reg_nik_ok", nik=mask_nik(info.nik))
    status = minor_status(info.birth_date, [], clock.today())
    if status.minor:  # under 18: work waits, a scholarship needs a parent's or guardian's consent
        t.flow.data["minor"] = {"age": status.age, "birth_date": info.birth_date.isoformat()}
        t.flow.reopen("programmes", "guardian_name", "guardian")
        notes = status.messages(t.lang)  # no programme chosen yet: the guardian's consent
        lead = Markup("\n\n".join([lead, *(escape(n) for n in notes)]))
    else:
        t.flow.data.pop("minor", None)
        t.flow.data.pop("guardian_consent", None)
    await ask(t, lead)


def _declared_birth_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def _take_phone(t: Turn, message: Message, text: str) -> None:
    if len(_DIGIT.findall(text)) == NIK_DIGITS:  # no phone has 16 digits: a NIK, typed here
        await _delete(message)
        _, markup = _prompt(t, "phone")
        await reply(t.update, t.text("reg_phone_is_nik"), markup)
        return
    try:
        phone = parse_phone(text)
    except InvalidPhone as error:
        await _invalid(t, phone_error_text(error.code, t.lang), "phone")
        return
    await _phone_accepted(t, phone)


async def _take_contact(t: Turn, message: Message) -> None:
    contact = message.contact
    assert contact is not None
    if message.from_user is None or contact.user_id != message.from_user.id:
        await reply(t.update, t.text("reg_contact_not_own"), _phone_keyboard(t))
        return
    try:
        phone = parse_phone(contact.phone_number)
    except InvalidPhone as error:
        await _invalid(t, phone_error_text(error.code, t.lang), "phone")
        return
    await _phone_accepted(t, phone)


async def _phone_accepted(t: Turn, phone: str) -> None:
    t.flow.complete("phone", phone=phone)
    await reply(t.update, t.text("reg_phone_ok", phone=format_phone(phone)), ReplyKeyboardRemove())
    await ask(t)


async def _take_email(t: Turn, message: Message, text: str) -> None:
    if text.strip() in ("-", "—"):
        t.flow.complete("email", email=None)
        await ask(t)
        return
    try:
        email = parse_email(text)
    except InvalidEmail as error:
        await _invalid(t, email_error_text(error.code, t.lang), "email")
        return
    t.flow.complete("email", email=email)
    await ask(t)


_TAKERS = {
    "name": _name_taker("name", "full_name"),
    "nik": _take_nik,
    "phone": _take_phone,
    "email": _take_email,
    "guardian_name": _name_taker("guardian_name", "guardian_name"),
}


# -- registration -----------------------------------------------------------------------------


def register(app: Application) -> None:
    """Commands, buttons and, while a registration is in progress, the citizen's answers.

    Registered before the FAQ's free-text handler: during the flow, text is an answer (a question
    typed meanwhile is still answered, then the step is asked again).
    """
    private = filters.ChatType.PRIVATE
    in_flow = flow.Active(app, flow.REGISTRATION) & private & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("daftar", start, filters=private))
    app.add_handler(CommandHandler("batal", cancel, filters=in_flow))
    answers = (filters.TEXT & ~filters.COMMAND) | filters.CONTACT
    app.add_handler(MessageHandler(in_flow & answers, on_message))


def register_cancel_fallback(app: Application) -> None:
    """/batal when no flow claimed it: "nothing to cancel" (registered before the catch-alls)."""
    app.add_handler(CommandHandler("batal", nothing_to_cancel, filters=filters.ChatType.PRIVATE))


router.action("reg", "start").handles(pressed(start))
for _name, *_fields in (
    ("consent", "answer"),
    ("conflict", "choice"),
    ("dom", "answer"),
    ("kec", "kecamatan"),
    ("kecback",),
    ("kel", "kelurahan"),
    ("prog", "programme"),
    ("train", "answer"),
    ("guardian", "relationship"),
    ("email", "choice"),
    ("send",),
    ("edit",),
    ("field", "name"),
    ("summary",),
    ("cancel",),
):
    router.action("reg", _name, *_fields).handles(pressed(on_button))
