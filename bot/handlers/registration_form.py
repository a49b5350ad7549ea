"""The registration form: its steps, their questions and buttons, the summary, and saving.

A registration in progress is a :class:`Flow` kept as plain JSON as the user's active flow
(``bot.flow``, durable across restarts): the answers so far and the steps done. The step to ask
next is computed (:meth:`Flow.pending`), so editing a field from the summary, or correcting it
from /dataku (``mode="fix"``), only forgets that field's steps and asks them again with the same
validation. The ``reg:`` buttons are declared here, where their keyboards are built; what a
press or a typed answer does is in :mod:`bot.handlers.registration`.

The NIK is only ever shown masked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import flow
from bot.i18n import Markup, Texts
from bot.menu import main_menu
from bot.routing import router
from bot.services import Services, services
from bot.ui import ReplyMarkup, drop_buttons, keyboard, reply, show
from screening.identity import format_phone, load_wilayah, mask_nik, parse_name
from screening.minors import GUARDIAN_RELATIONSHIPS, WORK_INTERESTS
from store import NikTakenError

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

START = router.action("reg", "start")
CONSENT = router.action("reg", "consent", "answer")
CONFLICT = router.action("reg", "conflict", "choice")
DOMICILE = router.action("reg", "dom", "answer")
KECAMATAN = router.action("reg", "kec", "kecamatan")
KECAMATAN_BACK = router.action("reg", "kecback")
KELURAHAN = router.action("reg", "kel", "kelurahan")
PROGRAMME = router.action("reg", "prog", "programme")  # a programme ticked, or "done"
TRAINING = router.action("reg", "train", "answer")
GUARDIAN = router.action("reg", "guardian", "relationship")  # or "no"
EMAIL = router.action("reg", "email", "choice")  # "skip"
SEND = router.action("reg", "send")
EDIT = router.action("reg", "edit")
FIELD = router.action("reg", "field", "name")
SUMMARY = router.action("reg", "summary")
CANCEL = router.action("reg", "cancel")
YES, NO, DONE, SKIP = "yes", "no", "done", "skip"


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


async def turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE, progress: Flow | None = None
) -> Turn | None:
    svc = services(context)
    lang = await svc.language(update.effective_user)
    current = progress or Flow.load(context)
    return None if current is None else Turn(update, context, svc, lang, current)


def prompt(t: Turn, step: str) -> tuple[Markup, ReplyMarkup | None]:
    """The question of ``step`` and its keyboard."""
    if step == "consent":
        rows = [
            [(t.label("btn_reg_agree"), CONSENT.data(YES))],
            [(t.label("btn_reg_disagree"), CONSENT.data(NO))],
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
            [(t.label("btn_reg_conflict_nik"), CONFLICT.data("nik"))],
            [(t.label("btn_reg_conflict_retype"), CONFLICT.data("retype"))],
        ]
        return t.text("reg_nik_conflict", lines=Markup(lines)), keyboard(rows)
    if step == "domicile":
        rows = [
            [
                (t.label("btn_reg_yes"), DOMICILE.data(YES)),
                (t.label("btn_reg_no"), DOMICILE.data(NO)),
            ]
        ]
        return t.text("reg_ask_domicile"), keyboard(rows)
    if step == "phone":
        return t.text("reg_ask_phone"), phone_keyboard(t)
    if step == "kecamatan":
        options = [(kec.name, KECAMATAN.data(kec.id)) for kec in load_wilayah().kecamatan]
        return t.text("reg_ask_kecamatan"), keyboard(_pairs(options))
    if step == "kelurahan":
        kec = load_wilayah().kecamatan_by_id(str(t.flow.data.get("kecamatan")))
        assert kec is not None
        options = [(kel.name, KELURAHAN.data(kel.id)) for kel in kec.kelurahan]
        rows = [*_pairs(options), [(t.label("btn_reg_back"), KECAMATAN_BACK.data())]]
        return t.text("reg_ask_kelurahan", kecamatan=kec.name), keyboard(rows)
    if step == "programmes":
        chosen = t.flow.data.get("programmes") or []
        rows = [
            [(("✅ " if p in chosen else "▫️ ") + t.label(f"btn_reg_prog_{p}"), PROGRAMME.data(p))]
            for p in PROGRAMMES
        ]
        rows.append([(t.label("btn_reg_continue"), PROGRAMME.data(DONE))])
        return t.text("reg_ask_programmes"), keyboard(rows)
    if step == "guardian_name":
        return t.text("reg_ask_guardian_name", age=t.flow.data["minor"]["age"]), None
    if step == "guardian":
        rows = [
            [(t.label(f"btn_reg_guardian_{r}"), GUARDIAN.data(r))] for r in GUARDIAN_RELATIONSHIPS
        ]
        rows.append([(t.label("btn_reg_guardian_no"), GUARDIAN.data(NO))])
        name = t.flow.data.get("guardian_name") or ""
        return t.text("reg_guardian_consent", guardian=name), keyboard(rows)
    if step == "training":
        rows = [
            [(t.label("btn_reg_willing"), TRAINING.data(YES))],
            [(t.label("btn_reg_not_willing"), TRAINING.data(NO))],
        ]
        return t.text("reg_ask_training"), keyboard(rows)
    if step == "email":
        return t.text("reg_ask_email"), keyboard([[(t.label("btn_reg_skip"), EMAIL.data(SKIP))]])
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


def phone_keyboard(t: Turn) -> ReplyKeyboardMarkup:
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
    text, markup = prompt(t, step)
    if lead:
        text = Markup(f"{lead}\n\n{text}")
    if t.update.callback_query is not None:
        if isinstance(markup, InlineKeyboardMarkup):
            await show(t.update, text, markup)
            return
        await drop_pressed_buttons(t.update)
    await reply(t.update, text, markup)


async def drop_pressed_buttons(update: Update) -> None:
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
        [(t.label("btn_reg_send"), SEND.data())],
        [(t.label("btn_reg_edit"), EDIT.data()), (t.label("btn_reg_cancel"), CANCEL.data())],
    ]
    await show(t.update, text, keyboard(rows))


async def edit_menu(t: Turn) -> None:
    rows = _pairs([(t.label(f"btn_reg_field_{name}"), FIELD.data(name)) for name in FIELD_STEPS])
    rows.append([(t.label("btn_reg_back"), SUMMARY.data())])
    await show(t.update, t.text("reg_edit_which"), keyboard(rows))


async def nik_taken(t: Turn, error: NikTakenError, *, from_summary: bool) -> None:
    rows = [[(t.label("btn_contact"), "m:contact")]]
    if from_summary:
        rows.append([(t.label("btn_reg_field_nik"), FIELD.data("nik"))])
    await reply(t.update, t.text("reg_nik_taken", error=error.message(t.lang)), keyboard(rows))


async def send_registration(t: Turn) -> None:
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
        await nik_taken(t, error, from_summary=True)
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
        await nik_taken(t, error, from_summary=False)
        return
    text = t.text("reg_fixed", reg_no=record["reg_no"])
    markup = keyboard([[(t.label("btn_reg_my_data"), "data:view")]])
    await reply(t.update, Markup(f"{lead}\n\n{text}") if lead else text, markup)
