"""Finding a lead through the emulator: /cari by each kind of key, the 🔎 prompt on the lead list,
/pendaftar with words, paging, masking, and the search refused to citizens."""

from __future__ import annotations

from store import Stores
from tests.harness import BotHarness
from tests.test_staff_bot import (
    ADMIN,
    CITIZEN,
    STAFF,
    STAFF_ONLY,
    TEXTS,
    last_answer,
    reply_to,
    seed,
    stores_of,
)


def _siti(stores: Stores) -> str:
    record, _ = stores.registrations.save(
        777,
        777,
        {"full_name": "Siti Nurhalizá", "nik": "3673036607004321", "phone": "+6287833334444"},
        actor=777,
    )
    return str(record["reg_no"])


def cards(reply_text_buttons: list[tuple[str, str]]) -> list[str]:
    return [data for _, data in reply_text_buttons if data.startswith("st:c:")]


async def test_each_kind_of_key_finds_the_lead(desk: BotHarness) -> None:
    stores = stores_of(desk)
    seed(stores, 5)
    number = _siti(stores)
    digits = str(int(number[-6:]))
    for query in (
        number,
        number.lower(),
        digits,  # the number's last digits
        "4321",  # the NIK's last 4 digits
        "087833334444",
        "+62 878-3333-4444",
        "6287833334444",
        "siti",
        "NURHALIZA",  # case and accent
        "nurhaliz4",  # a typo
    ):
        [found] = await desk.send(STAFF, f"/cari {query}")
        assert "Hasil pencarian" in found.text, query
        assert number in found.text and "Siti Nurhalizá" in found.text, query
        assert f"st:c:{number}:0:" in cards(found.buttons)[0], query
        assert "3673036607004321" not in found.text  # staff see the NIK masked
    [card] = await desk.press(STAFF, found, number)
    assert "Siti Nurhalizá" in card.text and "3673********4321" in card.text


async def test_full_nik_search_masks_the_query_and_admins_see_the_nik(desk: BotHarness) -> None:
    number = _siti(stores_of(desk))
    replies = await desk.send(STAFF, "/cari 3673036607004321")
    # The message leaves the chat (as any NIK does), with a notice meant for staff.
    assert desk.emu.calls_for("deleteMessage")
    assert any("Perintahnya tetap dijalankan" in r.text for r in replies)
    found = replies[-1]
    assert number in found.text
    assert "3673036607004321" not in found.text  # neither in the results nor in the title
    admin = (await desk.send(ADMIN, "/cari 3673036607004321"))[-1]
    assert "3673036607004321" in admin.text


async def test_nothing_found_says_what_can_be_searched(desk: BotHarness) -> None:
    seed(stores_of(desk), 2)
    [none] = await desk.send(STAFF, "/cari Bambang")
    assert "Tidak ada pendaftar yang cocok dengan «Bambang»" in none.text
    assert "NIK lengkap atau 4–6 digit" in none.text
    [prompt] = await desk.press(STAFF, none, "Cari lagi")
    assert prompt.params["reply_markup"]["force_reply"] is True


async def test_the_prompt_from_the_lead_list_and_pendaftar_with_words(desk: BotHarness) -> None:
    stores = stores_of(desk)
    seed(stores, 3)
    number = _siti(stores)
    [listing] = await desk.send(STAFF, "/pendaftar")
    [prompt] = await desk.press(STAFF, listing, "Cari pendaftar")
    assert "Ketik yang dicari" in prompt.text
    [found] = await reply_to(desk, STAFF, prompt, "nurhalizá")
    assert number in found.text
    # A prompt is answered once: the next message is an ordinary one again.
    [again] = await desk.send(STAFF, "siti")
    assert "Hasil pencarian" not in again.text
    # Words after /pendaftar are a search, not filter keys taken for values.
    [by_words] = await desk.send(STAFF, "/pendaftar Siti")
    assert number in by_words.text and "Hasil pencarian" in by_words.text
    [typed_alone] = await desk.send(STAFF, "/cari")
    assert typed_alone.params["reply_markup"]["force_reply"] is True


async def test_results_are_paged_best_first(desk: BotHarness) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 12)  # "Warga Ke-0" … "Warga Ke-11"
    [first] = await desk.send(STAFF, "/cari warga")
    assert "12 pendaftar" in first.text and "halaman 1/2" in first.text
    assert len(cards(first.buttons)) == 8
    assert numbers[-1] in first.text  # equal scores: the newest first
    [second] = await desk.press(STAFF, first, "Berikutnya")
    assert second.method == "editMessageText" and "halaman 2/2" in second.text
    assert len(cards(second.buttons)) == 4 and numbers[0] in second.text
    [exact] = await desk.send(STAFF, "/cari warga ke 3")
    assert cards(exact.buttons)[0].startswith(f"st:c:{numbers[3]}:")


async def test_search_is_refused_to_citizens(desk: BotHarness) -> None:
    _siti(stores_of(desk))
    [refusal] = await desk.send(CITIZEN, "/cari siti")
    assert refusal.text == STAFF_ONLY
    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    for data in ("st:q", "st:qp:0"):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == [], data
        assert last_answer(desk) == {"text": STAFF_ONLY, "show_alert": True}, data


async def test_a_page_of_results_no_longer_kept_is_said_so(desk: BotHarness) -> None:
    seed(stores_of(desk), 9)
    [first] = await desk.send(STAFF, "/cari warga")
    assert desk.app is not None
    desk.app.user_data[STAFF].pop("desk_search")  # e.g. another staff session replaced it
    assert await desk.press(STAFF, first, "Berikutnya") == []
    assert last_answer(desk)["text"] == TEXTS.get("staff_search_expired", "id")
