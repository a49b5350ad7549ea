"""Finding a lead (``/cari TEXT``, or the 🔎 button on the lead list and a typed answer): by
registration number or its last digits, NIK or its last 4–6 digits, phone in any form, or a name
fragment with small typos (``store.lead_index``). Results are lead-card summaries, best first,
paged; each opens the card. Staff only, private chats only.

The results (registration numbers, not the query) are kept in the staff member's ``user_data``
for paging; the query itself is shown masked (a NIK or phone in it never reaches the screen
whole) and never stored. Buttons: ``st:q`` (ask for the search text), ``st:qp:<page>`` (a page of
the last results), declared in :mod:`bot.handlers.staff`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    filters,
)

from bot import flow
from bot.handlers.staff import (
    CARD,
    SEARCH,
    SEARCH_PAGE,
    Context,
    add_prompt_handler,
    audit,
    handles,
    prompt_answer,
    shorten,
    staff_lang,
)
from bot.i18n import Markup
from bot.services import Services, services
from bot.ui import Button, answer, keyboard, reply, show
from desk import labels
from screening.identity import load_wilayah, mask_nik, redact

STAFF_SEARCH = flow.define("staff_search")
RESULTS_KEY = "desk_search"
RESULTS_PER_PAGE = 8
MAX_RESULTS = 200
MAX_QUERY_SHOWN = 40


def _kecamatan(kec_id: str | None) -> str:
    kecamatan = load_wilayah().kecamatan_by_id(kec_id or "")
    return kecamatan.name if kecamatan else "-"


def results_screen(
    svc: Services,
    lang: str,
    records: Sequence[Mapping[str, Any]],
    why: Sequence[str],
    query: str,
    page: int,
    *,
    full_nik: bool,
) -> tuple[Markup, InlineKeyboardMarkup]:
    """One page of search results: a summary line per lead and a button to its card."""
    texts = svc.texts
    pages = max(1, math.ceil(len(records) / RESULTS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    first = page * RESULTS_PER_PAGE
    statuses = labels("statuses", lang)
    shown = list(enumerate(zip(records, why, strict=True), start=1))[
        first : first + RESULTS_PER_PAGE
    ]
    lines = []
    rows: list[list[Button]] = []
    for number, (record, key) in shown:
        nik = record.get("nik")
        name = record.get("full_name") or "-"
        lines.append(
            texts.render(
                "staff_search_line",
                lang,
                number=number,
                reg_no=record["reg_no"],
                name=name,
                nik=(nik if full_nik else mask_nik(nik)) if nik else "-",
                kecamatan=_kecamatan(record.get("kecamatan")),
                status=statuses.get(record.get("status") or "", record.get("status") or "-"),
                why=texts.get(f"staff_search_why_{key}", lang),
            )
        )
        rows.append(
            [(f"{number}. {record['reg_no']} · {name[:24]}", CARD.data(record["reg_no"], 0, ""))]
        )
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.get("btn_staff_prev", lang), SEARCH_PAGE.data(page - 1)))
    if page < pages - 1:
        nav.append((texts.get("btn_staff_next", lang), SEARCH_PAGE.data(page + 1)))
    rows.append(nav)
    rows.append([(texts.get("btn_staff_search_again", lang), SEARCH.data())])
    title = texts.render(
        "staff_search_title", lang, query=query, count=len(records), page=page + 1, pages=pages
    )
    hint = texts.render("staff_search_hint", lang)
    return Markup(f"{title}\n\n" + "\n".join(lines) + f"\n\n{hint}"), keyboard(rows)


def shown_query(text: str) -> str:
    """The query as it may appear on screen: NIKs and phones masked, shortened."""
    return shorten(redact(" ".join(text.split())), MAX_QUERY_SHOWN)


async def run_search(update: Update, context: Context, lang: str, text: str) -> None:
    """Search, remember the result numbers for paging, and show the first page."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    found = await svc.call(svc.stores.registrations.find_leads, text, limit=MAX_RESULTS)
    query = shown_query(text)
    await audit(svc, user.id, "lead_search", None, results=len(found))
    if not found:
        again = keyboard([[(svc.texts.get("btn_staff_search_again", lang), SEARCH.data())]])
        await reply(update, svc.texts.render("staff_search_none", lang, query=query), again)
        return
    if context.user_data is not None:
        context.user_data[RESULTS_KEY] = {
            "reg_nos": [record["reg_no"] for record, _ in found],
            "why": [hit.key for _, hit in found],
            "query": query,
        }
    records = [record for record, _ in found]
    why = [hit.key for _, hit in found]
    full = svc.config.staff.is_admin(user.id)
    screen = results_screen(svc, lang, records, why, query, 0, full_nik=full)
    await reply(update, *screen)


async def search_command(update: Update, context: Context) -> None:
    """/cari TEXT: the leads TEXT may mean; /cari alone asks for the text."""
    lang = await staff_lang(update, context)
    if lang is None:
        return
    text = " ".join(context.args or []).strip()
    if not text:
        await _ask(update, context, lang)
        return
    await run_search(update, context, lang, text)


async def _ask(update: Update, context: Context, lang: str) -> None:
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    placeholder = svc.texts.get("staff_search_placeholder", lang)[:64]
    sent = await chat.send_message(
        svc.texts.render("staff_search_prompt", lang),
        reply_markup=ForceReply(input_field_placeholder=placeholder),
    )
    await flow.begin(update, context, STAFF_SEARCH, {"message_id": sent.message_id})


async def search_reply(update: Update, context: Context) -> None:
    """The text a staff member types after the search prompt (a reply to it, or the next
    message): search once, and end the prompt."""
    message = update.message
    if prompt_answer(update, context, STAFF_SEARCH) is None or message is None:
        return
    assert message.from_user is not None
    svc = services(context)
    lang = await svc.language(message.from_user)
    await flow.end(update, context, STAFF_SEARCH)
    await run_search(update, context, lang, message.text or "")
    raise ApplicationHandlerStop


@handles(SEARCH)
async def _search_button(update: Update, context: Context, lang: str) -> None:
    await answer(update.callback_query)
    await _ask(update, context, lang)


@handles(SEARCH_PAGE)
async def _page(update: Update, context: Context, lang: str, page: str) -> None:
    svc = services(context)
    kept = (context.user_data or {}).get(RESULTS_KEY)
    if not page.isdigit() or not isinstance(kept, dict):
        await answer(
            update.callback_query, svc.texts.get("staff_search_expired", lang), alert=True
        )
        return
    found = await svc.call(_records_of, svc, kept["reg_nos"])
    pairs = [(record, key) for record, key in zip(found, kept["why"], strict=True) if record]
    user = update.effective_user
    full = svc.config.staff.is_admin(user.id if user else None)
    records = [record for record, _ in pairs]
    why = [key for _, key in pairs]
    await answer(update.callback_query)
    await show(
        update, *results_screen(svc, lang, records, why, kept["query"], int(page), full_nik=full)
    )


def _records_of(svc: Services, reg_nos: Sequence[str]) -> list[dict[str, Any] | None]:
    registrations = svc.stores.registrations
    return [registrations.get(reg_no) for reg_no in reg_nos]


def register_early(app: Application) -> None:
    """Before every feature (group -2): the answer to the search prompt."""
    add_prompt_handler(app, STAFF_SEARCH, search_reply)


def register(app: Application) -> None:
    """/cari in private chats (the buttons are the router's)."""
    app.add_handler(CommandHandler("cari", search_command, filters=filters.ChatType.PRIVATE))
