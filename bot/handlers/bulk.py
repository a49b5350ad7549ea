"""Bulk and safe status changes on the staff desk.

- From a filtered lead list (a training batch, say): "ubah status semua (N)" → the new status →
  a confirmation that states how many → one atomic write (``RegistrationRepo.bulk_set_status``),
  one audit entry with the count and the filter. The confirmation carries the count it showed:
  if the filter matches a different number by the time it is pressed, nothing changes and the
  staff member is asked to look again. "Tidak lanjut" is not offered in bulk (each lead needs its
  own reason).
- "Berangkat" on a card asks "are you sure?" first (``st:sy`` applies it).
- The staff member's last status change, single or bulk, can be undone for
  ``desk.undo_minutes`` (``RegistrationRepo.undo_last``): each lead goes back to its previous
  status and reason unless it was changed again since (those are left and counted). Audited.

Callback data: see :mod:`bot.handlers.staff`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from bot.handlers.staff import (
    BULK,
    BULK_APPLY,
    BULK_STATUS,
    CARD,
    LIST,
    STATUS_CONFIRMED,
    UNDO,
    Context,
    audit,
    decode_filters,
    describe_filters,
    handles,
)
from bot.i18n import Markup, Texts
from bot.routing import Stale
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, show
from desk import labels
from store import STATUSES

#: Statuses a whole list can move to ("tidak lanjut" needs each lead's own reason).
BULK_STATUSES = tuple(s for s in STATUSES if s != "tidak_lanjut")


def bulk_button(texts: Texts, lang: str, count: int, code: str) -> Button:
    return texts.get("btn_staff_bulk", lang).format(count=count), BULK.data(code)


def undo_button(svc: Services, lang: str) -> Button:
    return svc.texts.get("btn_staff_undo", lang), UNDO.data()


def confirm_status_screen(
    svc: Services, lang: str, record: Mapping[str, Any], spec: str, at: tuple[int, str]
) -> tuple[Markup, InlineKeyboardMarkup]:
    """ "Are you sure?" before a status that looks final (the card's ``st:s`` sends it here)."""
    texts = svc.texts
    status = STATUSES[int(spec.partition(".")[0])]
    label = labels("statuses", lang).get(status, status)
    reg_no = record["reg_no"]
    minutes = svc.config.desk.undo_minutes
    text = texts.render(
        "staff_status_confirm",
        lang,
        reg_no=reg_no,
        name=record.get("full_name") or "-",
        status=label,
        minutes=minutes,
    )
    rows: list[list[Button]] = [
        [
            (
                texts.get("btn_staff_status_yes", lang).format(status=label),
                STATUS_CONFIRMED.data(reg_no, spec, *at),
            )
        ],
        [(texts.get("btn_staff_back", lang), CARD.data(reg_no, *at))],
    ]
    return text, keyboard(rows)


def _status_of(index: str) -> str:
    if (
        not index.isdigit()
        or int(index) >= len(STATUSES)
        or STATUSES[int(index)] not in (BULK_STATUSES)
    ):
        raise Stale(index)
    return STATUSES[int(index)]


async def _matching(svc: Services, code: str) -> list[dict[str, Any]]:
    flt = decode_filters(code)
    records: list[dict[str, Any]] = await svc.call(svc.stores.registrations.search, **asdict(flt))
    return records


@handles(BULK)
async def _choose(update: Update, context: Context, lang: str, code: str) -> None:
    """The statuses a filtered list can move to."""
    svc = services(context)
    if not code:
        raise Stale(code)  # only a filtered list has this button
    records = await _matching(svc, code)
    texts = svc.texts
    statuses = labels("statuses", lang)
    rows: list[list[Button]] = [
        [
            (
                texts.get("btn_staff_bulk_to", lang).format(status=statuses[status]),
                BULK_STATUS.data(STATUSES.index(status), code),
            )
        ]
        for status in BULK_STATUSES
    ]
    rows.append([(texts.get("btn_staff_back", lang), LIST.data(0, code))])
    text = texts.render(
        "staff_bulk_choose",
        lang,
        count=len(records),
        filters=describe_filters(texts, decode_filters(code), lang),
    )
    await answer(update.callback_query)
    await show(update, text, keyboard(rows))


@handles(BULK_STATUS)
async def _confirm(update: Update, context: Context, lang: str, index: str, code: str) -> None:
    """How many will change, and to what: confirm or go back."""
    svc = services(context)
    status = _status_of(index)
    records = await _matching(svc, code)
    texts = svc.texts
    label = labels("statuses", lang)[status]
    text = texts.render(
        "staff_bulk_confirm",
        lang,
        count=len(records),
        filters=describe_filters(texts, decode_filters(code), lang),
        status=label,
        minutes=svc.config.desk.undo_minutes,
    )
    rows: list[list[Button]] = [
        [
            (
                texts.get("btn_staff_bulk_yes", lang).format(count=len(records)),
                BULK_APPLY.data(index, len(records), code),
            )
        ],
        [(texts.get("btn_staff_back", lang), BULK.data(code))],
    ]
    await answer(update.callback_query)
    await show(update, text, keyboard(rows))


@handles(BULK_APPLY)
async def _apply(
    update: Update, context: Context, lang: str, index: str, count: str, code: str
) -> None:
    """Confirmed: move them all in one write (unless the list changed since it was shown)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    status = _status_of(index)
    if not count.isdigit():
        raise Stale(count)
    records = await _matching(svc, code)
    if len(records) != int(count):
        text = svc.texts.get("staff_bulk_count_changed", lang).format(then=count, now=len(records))
        await answer(query, text, alert=True)
        return
    moved = await svc.call(
        svc.stores.registrations.bulk_set_status,
        [record["reg_no"] for record in records],
        status,
        actor=query.from_user.id,
    )
    await audit(
        svc, query.from_user.id, "lead_status_bulk", None, to=status, count=moved, filters=code
    )
    label = labels("statuses", lang)[status]
    text = svc.texts.render(
        "staff_bulk_done",
        lang,
        moved=moved,
        kept=len(records) - moved,
        status=label,
        minutes=svc.config.desk.undo_minutes,
    )
    rows: list[list[Button]] = [
        [undo_button(svc, lang)],
        [(svc.texts.get("btn_staff_back_to_list", lang), LIST.data(0, code))],
    ]
    await answer(query)
    await show(update, text, keyboard(rows))


@handles(UNDO)
async def _undo(update: Update, context: Context, lang: str) -> None:
    """Take back the staff member's last status change (single or bulk), if it is recent."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    minutes = svc.config.desk.undo_minutes
    result = await svc.call(
        svc.stores.registrations.undo_last,
        query.from_user.id,
        within=timedelta(minutes=minutes),
    )
    texts = svc.texts
    if result.outcome == "nothing":
        await answer(query, texts.get("staff_undo_nothing", lang), alert=True)
        return
    if result.outcome == "expired":
        expired = texts.get("staff_undo_expired", lang).format(minutes=minutes)
        await answer(query, expired, alert=True)
        return
    await audit(
        svc,
        query.from_user.id,
        "lead_status_undo",
        None,
        kind=result.kind,
        restored=result.restored,
        skipped=result.skipped,
    )
    text = texts.render("staff_undo_done", lang, restored=result.restored)
    if result.skipped:
        text = Markup(
            text + "\n" + texts.render("staff_undo_skipped", lang, skipped=result.skipped)
        )
    await answer(query)
    rows: list[list[Button]] = [[(texts.get("btn_staff_back_to_list", lang), LIST.data(0, ""))]]
    await show(update, text, keyboard(rows))
