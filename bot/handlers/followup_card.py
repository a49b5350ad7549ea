"""The follow-up desk's part of a lead card, as the lead list and card render it: who holds the
lead, the contact attempts, the next follow-up date, a row of buttons (record a contact, the
follow-up date, assignment, WhatsApp), the lead list's contact summary and the history lines of
these changes. Rendering only; the buttons are handled in :mod:`bot.handlers.followup`.

Calling: Telegram accepts only ``http(s)://`` and ``tg://`` URLs on inline buttons (a ``tel:``
button is refused with "Unsupported URL protocol"), so the card shows the phone in
international form, which Telegram makes tappable to call, and adds a WhatsApp button
(``https://wa.me/62…``) when the phone is a mobile.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.handlers.staff import ASSIGN, AUDIT, CONTACT, SCHEDULE
from bot.i18n import Markup, Texts
from bot.ui import Button
from desk.followup import outcome_labels, whatsapp_number
from store.clock import format_date, format_local

CONTACTS_SHOWN = 3
MAX_CONTACT_NOTE_SHOWN = 200


def staff_name(texts: Texts, names: Mapping[int, str], user_id: int | None, lang: str) -> str:
    """A staff member by name when one is known, else "petugas 555001" (plain text)."""
    if not user_id:
        return texts.get("fu_nobody", lang)
    name = names.get(user_id)
    if name:
        return texts.get("staff_who_named", lang).format(name=name)
    return texts.get("staff_who_staff", lang).format(id=user_id)


def relative_day(texts: Texts, day: date, today: date, lang: str) -> str:
    """ "hari ini", "besok", "terlambat 3 hari", "dalam 5 hari" (plain text)."""
    delta = (day - today).days
    if delta == 0:
        return texts.get("fu_day_today", lang)
    if delta == 1:
        return texts.get("fu_day_tomorrow", lang)
    if delta < 0:
        return texts.get("fu_day_overdue", lang).format(days=-delta)
    return texts.get("fu_day_ahead", lang).format(days=delta)


def follow_up_text(texts: Texts, value: str | None, today: date, lang: str) -> str:
    """The next follow-up date with how far it is, or "belum dijadwalkan" (plain text)."""
    if not value:
        return texts.get("fu_no_follow_up", lang)
    day = date.fromisoformat(value)
    return f"{format_date(day)} ({relative_day(texts, day, today, lang)})"


def card_lines(
    texts: Texts, record: Mapping[str, Any], lang: str, names: Mapping[int, str], today: date
) -> Markup:
    """The card's follow-up block: assignee, attempts and last contact, next follow-up, the
    latest attempts with their notes."""
    outcomes = outcome_labels(lang)
    contacts = list(record.get("contacts") or ())
    if contacts:
        last = contacts[-1]
        summary = texts.render(
            "fu_card_contacts",
            lang,
            count=len(contacts),
            at=format_local(last.get("at")),
            outcome=outcomes.get(last.get("outcome") or "", last.get("outcome") or "-"),
        )
    else:
        summary = texts.render("fu_card_no_contacts", lang)
    lines = [
        texts.render(
            "fu_card_assigned",
            lang,
            name=staff_name(texts, names, record.get("assigned_to"), lang),
        ),
        summary,
    ]
    for contact in contacts[-CONTACTS_SHOWN:]:
        note = contact.get("note")
        lines.append(
            texts.render(
                "fu_card_contact_line",
                lang,
                at=format_local(contact.get("at")),
                who=staff_name(texts, names, contact.get("by"), lang),
                outcome=outcomes.get(contact.get("outcome") or "", contact.get("outcome") or "-"),
                note=_note(texts, note, lang),
            )
        )
    lines.append(
        texts.render(
            "fu_card_next",
            lang,
            when=follow_up_text(texts, record.get("next_follow_up"), today, lang),
        )
    )
    return Markup("\n".join(lines))


def _note(texts: Texts, note: str | None, lang: str) -> Markup:
    if not note:
        return Markup("")
    shown = note if len(note) <= MAX_CONTACT_NOTE_SHOWN else note[:MAX_CONTACT_NOTE_SHOWN] + "…"
    return texts.render("fu_card_contact_note", lang, note=shown)


def list_suffix(texts: Texts, record: Mapping[str, Any], lang: str) -> Markup:
    """The lead list line's contact summary: " · 📞 2× 01-12" or " · 📞 belum"."""
    contacts = record.get("contacts") or ()
    if not contacts:
        return texts.render("fu_list_never", lang)
    last = format_local(contacts[-1].get("at"), "%d-%m")
    return texts.render("fu_list_contacts", lang, count=len(contacts), last=last)


def card_row(
    texts: Texts, record: Mapping[str, Any], lang: str, at: tuple[int, str]
) -> list[Button]:
    """One row: record a contact, the follow-up date, assignment, and WhatsApp for a mobile."""
    reg_no = record["reg_no"]
    row: list[Button] = [
        (texts.get("btn_fu_contact", lang), CONTACT.data(reg_no, *at)),
        (texts.get("btn_fu_schedule", lang), SCHEDULE.data(reg_no, *at)),
        (texts.get("btn_fu_assign", lang), ASSIGN.data(reg_no, *at)),
        (texts.get("btn_fu_audit", lang), AUDIT.data(reg_no, *at)),
    ]
    number = whatsapp_number(record.get("phone"))
    if number:
        row.append((texts.get("btn_fu_whatsapp", lang), f"https://wa.me/{number}"))
    return row


def change_text(
    texts: Texts, entry: Mapping[str, Any], lang: str, names: Mapping[int, str]
) -> str | None:
    """A history line of the follow-up desk's changes, None for other kinds (plain text)."""
    kind = entry.get("change")
    if kind == "contact":
        outcome = entry.get("outcome") or ""
        label = outcome_labels(lang).get(outcome, outcome)
        return texts.get("fu_change_contact", lang).format(outcome=label)
    if kind == "contact_note":
        return texts.get("fu_change_contact_note", lang)
    if kind == "follow_up":
        value = entry.get("on")
        when = format_date(date.fromisoformat(value)) if value else None
        if when is None:
            return texts.get("fu_change_follow_up_cleared", lang)
        return texts.get("fu_change_follow_up", lang).format(date=when)
    if kind == "assigned":
        target = entry.get("to")
        if not target:
            return texts.get("fu_change_unassigned", lang)
        return texts.get("fu_change_assigned", lang).format(
            name=staff_name(texts, names, target, lang)
        )
    return None
