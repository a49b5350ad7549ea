"""The lead card as the staff read it (rendering only): identity with the NIK masked unless the
viewer is an admin, answers, screening outcome, follow-up status and its reason, the follow-up
lines (:mod:`bot.handlers.followup_card`), notes and history with staff shown by name. Its
buttons are :mod:`bot.handlers.leads`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.config import Config
from bot.handlers.followup_card import card_lines, change_text
from bot.handlers.staff import shorten
from bot.i18n import Markup, Texts
from desk import labels, optional_labels, reason_label
from screening.identity import format_phone, load_wilayah, mask_nik
from store import clock
from store.clock import format_local

NOTES_SHOWN = 5
HISTORY_SHOWN = 8
MAX_NOTE_SHOWN = 300


def kecamatan_name(kec_id: str | None) -> str:
    kecamatan = load_wilayah().kecamatan_by_id(kec_id or "")
    return kecamatan.name if kecamatan else "-"


def _who(
    texts: Texts, record: Mapping[str, Any], actor: int, lang: str, names: Mapping[int, str]
) -> str:
    if actor == record.get("user_id"):
        return texts.get("staff_who_citizen", lang)
    if not actor:
        return texts.get("staff_who_system", lang)
    if actor in names:
        return texts.get("staff_who_named", lang).format(name=names[actor])
    return texts.get("staff_who_staff", lang).format(id=actor)


def _change(texts: Texts, entry: Mapping[str, Any], lang: str, names: Mapping[int, str]) -> str:
    kind = entry.get("change")
    followup = change_text(texts, entry, lang, names)  # contacts, follow-up dates, assignment
    if followup is not None:
        return followup
    if kind == "created":
        return texts.get("staff_change_created", lang)
    if kind == "updated":
        return texts.get("staff_change_updated", lang).format(
            fields=", ".join(entry.get("fields") or ())
        )
    if kind == "status":
        statuses = labels("statuses", lang)
        old, new = entry.get("from") or "", entry.get("to") or ""
        return texts.get("staff_change_status", lang).format(
            old=statuses.get(old, old), new=statuses.get(new, new)
        )
    if kind == "note":
        return texts.get("staff_change_note", lang)
    return texts.get("staff_change_other", lang).format(change=kind)


def _tail(
    texts: Texts, lines: Sequence[Markup], shown: int, lang: str, empty: Markup | None = None
) -> Markup:
    """The last ``shown`` lines, with a count of the hidden ones."""
    if not lines:
        return empty or Markup(texts.get("staff_card_none", lang))
    hidden = len(lines) - shown
    kept = list(lines[-shown:])
    if hidden > 0:
        kept.insert(0, texts.render("staff_card_more", lang, count=hidden))
    return Markup("\n".join(kept))


def render_card(
    texts: Texts,
    config: Config,
    record: Mapping[str, Any],
    lang: str,
    *,
    full_nik: bool,
    names: Mapping[int, str] | None = None,
    today: date | None = None,
) -> Markup:
    """A registration for the staff: identity (NIK masked unless ``full_nik``), answers,
    outcome, follow-up status, contacts, assignment, notes and history (staff shown by their
    ``names`` when known)."""
    names = names or {}
    if "anonymised_at" in record:
        return texts.render("staff_card_anonymised", lang, reg_no=record["reg_no"])
    none = texts.get("staff_card_none", lang)
    answers = labels("answers", lang)
    interests = labels("interests", lang)
    programmes, outcomes = labels("programmes", lang), labels("outcomes", lang)

    def yes_no(flag: object) -> str:
        return none if flag is None else answers["yes" if flag else "no"]

    wilayah = load_wilayah()
    kec_id, kel_id = record.get("kecamatan") or "", record.get("kelurahan") or ""
    kelurahan = wilayah.kelurahan(kec_id, kel_id)
    nik = record.get("nik")
    phone = record.get("phone")
    status = record.get("status") or ""
    reason = reason_label(record, optional_labels("reasons", lang))
    notes = [
        texts.render(
            "staff_note_line",
            lang,
            at=format_local(note.get("at")),
            who=_who(texts, record, note.get("by") or 0, lang, names),
            text=shorten(note.get("text", ""), MAX_NOTE_SHOWN),
        )
        for note in record.get("notes") or ()
    ]
    history = [
        texts.render(
            "staff_history_line",
            lang,
            at=format_local(entry.get("at")),
            who=_who(texts, record, entry.get("by") or 0, lang, names),
            change=_change(texts, entry, lang, names),
        )
        for entry in record.get("history") or ()
    ]
    return texts.render(
        "staff_card",
        lang,
        reg_no=record["reg_no"],
        name=record.get("full_name") or none,
        nik=(nik if full_nik else mask_nik(nik)) if nik else none,
        phone=format_phone(phone) if phone else none,
        email=record.get("email") or none,
        kelurahan=kelurahan.name if kelurahan else none,
        kecamatan=kecamatan_name(kec_id),
        domicile=yes_no(record.get("domicile_confirmed")),
        interests=", ".join(interests.get(i, i) for i in record.get("programmes") or ()) or none,
        training=yes_no(record.get("training_willing")),
        screening="; ".join(
            f"{programmes.get(p, p)}: {outcomes.get(o, o)}"
            for p, o in (record.get("screening") or {}).items()
        )
        or none,
        created=format_local(record.get("created_at")),
        status=labels("statuses", lang).get(status, status),
        reason=texts.render("staff_card_reason", lang, reason=reason) if reason else "",
        followup=card_lines(texts, record, lang, names, today or clock.today()),
        notes=_tail(texts, notes, NOTES_SHOWN, lang, texts.render("staff_card_no_notes", lang)),
        history=_tail(texts, history, HISTORY_SHOWN, lang),
    )
