"""Who holds a lead, and what happened to it: assignment from the card (take it, release it;
admins give it to anyone on the staff or to nobody) and the lead's audit trail, staff shown by
name. Callback data: see :mod:`bot.handlers.staff` (``fu:a``, ``fu:at``, ``fu:u``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from bot.handlers.followup import lead_of, show_card
from bot.handlers.followup_card import staff_name
from bot.handlers.staff import (
    ASSIGN,
    ASSIGN_TO,
    AUDIT,
    CARD,
    Context,
    audit,
    handles,
    position,
)
from bot.i18n import Markup, Texts
from bot.routing import CallbackDataError, Stale
from bot.services import services
from bot.ui import Button, answer, keyboard, show
from desk import labels as desk_labels
from desk.followup import outcome_labels
from store.clock import format_date, format_local

NOBODY, ME = "0", "m"


# -- assignment -----------------------------------------------------------------------------------


def _fitting(action_data: Any, reg_no: str, target: str, at: tuple[int, str]) -> str:
    """The button's data with the list position, or without it when a long filter code and a
    long user id would not fit Telegram's 64 bytes (the card then goes back to the list)."""
    try:
        data: str = action_data(reg_no, target, *at)
    except CallbackDataError:
        data = action_data(reg_no, target, 0, "")
    return data


def assign_screen(
    texts: Texts,
    record: Mapping[str, Any],
    lang: str,
    at: tuple[int, str],
    viewer: int,
    admin: bool,
    staff: list[int],
    names: Mapping[int, str],
) -> tuple[Markup, InlineKeyboardMarkup]:
    """Take the lead, release it, or (admins) give it to anyone on the staff."""
    reg_no = record["reg_no"]
    holder = record.get("assigned_to")
    rows: list[list[Button]] = []
    if holder != viewer and (holder is None or admin):
        rows.append([(texts.get("btn_fu_take", lang), ASSIGN_TO.data(reg_no, ME, *at))])
    if holder is not None and (holder == viewer or admin):
        rows.append([(texts.get("btn_fu_release", lang), ASSIGN_TO.data(reg_no, NOBODY, *at))])
    if admin:
        others = [u for u in staff if u not in (viewer, holder)]
        others.sort(key=lambda u: (staff_name(texts, names, u, lang).lower(), u))
        rows += [
            [
                (
                    texts.get("btn_fu_give", lang).format(
                        name=staff_name(texts, names, u, lang)[:48]
                    ),
                    _fitting(ASSIGN_TO.data, reg_no, str(u), at),
                )
            ]
            for u in others
        ]
    rows.append([(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))])
    key = "fu_assign_title" if admin or holder in (None, viewer) else "fu_assign_taken"
    text = texts.render(key, lang, reg_no=reg_no, name=staff_name(texts, names, holder, lang))
    return text, keyboard(rows)


@handles(ASSIGN)
async def _assign(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    user = update.effective_user
    assert user is not None
    record = await lead_of(update, svc, reg_no, lang)
    if record is None:
        return
    staff = sorted(svc.config.staff.everyone)
    admin = svc.config.staff.is_admin(user.id)
    names = await svc.staff_names()
    text, markup = assign_screen(svc.texts, record, lang, at, user.id, admin, staff, names)
    await answer(update.callback_query)
    await show(update, text, markup)


@handles(ASSIGN_TO)
async def _assign_to(
    update: Update, context: Context, lang: str, reg_no: str, target: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    record = await lead_of(update, svc, reg_no, lang)
    if record is None:
        return
    staff = svc.config.staff
    admin = staff.is_admin(user.id)
    holder = record.get("assigned_to")
    if target == ME:
        new: int | None = user.id
        allowed = holder in (None, user.id) or admin
    elif target == NOBODY:
        new = None
        allowed = holder in (None, user.id) or admin
    elif target.isdigit() and staff.is_staff(int(target)):
        new = int(target)
        allowed = admin
    else:
        raise Stale(target)
    if not allowed:
        await answer(query, svc.texts.get("fu_assign_admins_only", lang), alert=True)
        return
    updated = await svc.call(svc.stores.registrations.assign, reg_no, new, actor=user.id)
    if holder != new:
        await audit(svc, user.id, "lead_assign", reg_no, to=new, **{"from": holder})
    names = await svc.staff_names()
    name = staff_name(svc.texts, names, new, lang)
    await answer(query, svc.texts.get("fu_assigned_short", lang).format(name=name))
    await show_card(update, svc, updated, lang, at)


# -- the audit trail -----------------------------------------------------------------------------

AUDIT_SHOWN = 15


def audit_line_text(
    texts: Texts, entry: Mapping[str, Any], lang: str, names: Mapping[int, str]
) -> str:
    """What one audit line of a lead says, staff by name (plain text)."""
    action = entry.get("action") or ""
    details: Mapping[str, Any] = entry.get("details") or {}
    key = f"fu_audit_{action}"
    if action == "lead_status":
        statuses = desk_labels("statuses", lang)
        old, new = details.get("from") or "", details.get("to") or ""
        return texts.get(key, lang).format(old=statuses.get(old, old), new=statuses.get(new, new))
    if action == "lead_contact":
        outcome = details.get("outcome") or ""
        return texts.get(key, lang).format(
            attempt=details.get("attempt") or "?",
            outcome=outcome_labels(lang).get(outcome, outcome),
        )
    if action == "lead_follow_up":
        value = details.get("on")
        if not value:
            return texts.get(key, lang).format(date=texts.get("fu_no_follow_up", lang))
        return texts.get(key, lang).format(date=format_date(date.fromisoformat(value)))
    if action == "lead_assign":
        return texts.get(key, lang).format(
            old=staff_name(texts, names, details.get("from"), lang),
            new=staff_name(texts, names, details.get("to"), lang),
        )
    if action in ("lead_note", "lead_contact_note"):
        return texts.get(key, lang)
    return texts.get("fu_audit_other", lang).format(action=action)


def audit_screen(
    texts: Texts,
    reg_no: str,
    entries: list[dict[str, Any]],
    lang: str,
    at: tuple[int, str],
    names: Mapping[int, str],
) -> tuple[Markup, InlineKeyboardMarkup]:
    """The latest audit lines about a lead, newest first."""
    lines = [
        texts.render(
            "fu_audit_line",
            lang,
            at=format_local(entry.get("at")),
            who=(
                staff_name(texts, names, entry.get("actor"), lang)
                if entry.get("actor")
                else texts.get("fu_who_system", lang)
            ),
            what=audit_line_text(texts, entry, lang, names),
        )
        for entry in entries[:AUDIT_SHOWN]
    ]
    if len(entries) > AUDIT_SHOWN:
        lines.append(texts.render("fu_audit_more", lang, count=len(entries) - AUDIT_SHOWN))
    title = texts.render("fu_audit_title", lang, reg_no=reg_no, count=len(entries))
    body = "\n".join(lines) if lines else texts.render("fu_audit_none", lang)
    back = [[(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))]]
    return Markup(f"{title}\n\n{body}"), keyboard(back)


@handles(AUDIT)
async def _audit(
    update: Update, context: Context, lang: str, reg_no: str, page: str, code: str
) -> None:
    at = position(page, code)
    svc = services(context)
    if await lead_of(update, svc, reg_no, lang) is None:
        return
    entries = await svc.call(svc.stores.audit.list, reg_no, 1000)
    names = await svc.staff_names()
    text, markup = audit_screen(svc.texts, reg_no, entries, lang, at, names)
    await answer(update.callback_query)
    await show(update, text, markup)
