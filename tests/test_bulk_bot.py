"""Bulk and safe status changes through the emulator: a filtered list changed all at once after
a confirmation with the count, undo in time / expired / with a lead changed since, the
confirmation before "berangkat", the reason kept as an id, and every such button refused to a
citizen."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.harness import BotHarness
from tests.test_staff_bot import (
    CITIZEN,
    STAFF,
    STAFF_ONLY,
    last_answer,
    seed,
    stores_of,
)


def _statuses(bot: BotHarness, numbers: list[str]) -> list[str]:
    registrations = stores_of(bot).registrations
    return [(registrations.get(n) or {}).get("status", "-") for n in numbers]


async def test_a_filtered_list_changes_all_after_a_confirmation_and_can_be_undone(
    desk: BotHarness,
) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 6)  # kecamatan alternates: serang for odd indexes
    batch = [n for i, n in enumerate(numbers) if i % 2]
    others = [n for i, n in enumerate(numbers) if not i % 2]
    [listing] = await desk.send(STAFF, "/pendaftar kecamatan=serang")
    assert "3 orang" in listing.text
    [choose] = await desk.press(STAFF, listing, "Ubah status semua (3)")
    assert "Ubah status 3 pendaftar" in choose.text
    assert not any("tidak lanjut" in label for label, _ in choose.buttons)
    [confirm] = await desk.press(STAFF, choose, "ikut pelatihan")
    assert "Ubah <b>3 pendaftar</b>" in confirm.text and "ikut pelatihan" in confirm.text
    assert _statuses(desk, numbers) == ["baru"] * 6  # nothing changed before the "yes"
    [done] = await desk.press(STAFF, confirm, "Ya, ubah 3 pendaftar")
    assert "3 pendaftar diubah" in done.text
    assert _statuses(desk, batch) == ["ikut_pelatihan"] * 3
    assert _statuses(desk, others) == ["baru"] * 3
    [bulk_audit] = [a for a in stores.audit.list(None, 50) if a["action"] == "lead_status_bulk"]
    assert bulk_audit["actor"] == STAFF and bulk_audit["details"]["count"] == 3

    [undone] = await desk.press(STAFF, done, "Batalkan perubahan status")
    assert "3 pendaftar kembali" in undone.text
    assert _statuses(desk, numbers) == ["baru"] * 6
    actions = [a["action"] for a in stores.audit.list(None, 50)]
    assert "lead_status_undo" in actions


async def test_a_list_that_changed_since_the_confirmation_is_not_changed(
    desk: BotHarness,
) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 4)
    [listing] = await desk.send(STAFF, "/pendaftar kecamatan=serang")
    [choose] = await desk.press(STAFF, listing, "Ubah status semua (2)")
    [confirm] = await desk.press(STAFF, choose, "sudah dihubungi")
    seed(stores, 2)  # two more registrations under the filter meanwhile
    assert await desk.press(STAFF, confirm, "Ya, ubah 2 pendaftar") == []
    assert "sudah berubah (2 → 3)" in last_answer(desk)["text"]
    assert _statuses(desk, numbers) == ["baru"] * 4


async def test_undo_leaves_a_lead_changed_since_and_expires(desk: BotHarness) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 4)
    batch = [n for i, n in enumerate(numbers) if i % 2]
    [listing] = await desk.send(STAFF, "/pendaftar kecamatan=serang")
    [choose] = await desk.press(STAFF, listing, "Ubah status semua (2)")
    [confirm] = await desk.press(STAFF, choose, "sudah dihubungi")
    [done] = await desk.press(STAFF, confirm, "Ya, ubah 2 pendaftar")
    stores.registrations.set_status(batch[0], "ikut_pelatihan", actor=901)  # another staff
    [undone] = await desk.press(STAFF, done, "Batalkan perubahan status")
    assert "1 pendaftar kembali" in undone.text and "1 tidak dikembalikan" in undone.text
    assert _statuses(desk, batch) == ["ikut_pelatihan", "baru"]

    # A single change on the card offers its undo; after the limit it is refused kindly.
    [card] = await desk.send(STAFF, f"/pendaftar {numbers[0]}")
    [changed] = await desk.press(STAFF, card, "sudah dihubungi")
    assert any("Batalkan" in label for label, _ in changed.buttons)
    undo = stores.registrations.last_change(STAFF)
    assert undo is not None
    # Age the undo record past desk.undo_minutes (5), as six minutes of waiting would.
    aged = (datetime.fromisoformat(undo["at"]) - timedelta(minutes=6)).isoformat()
    stores.registrations.database.table("status_undo").put(str(STAFF), {**undo, "at": aged})
    assert await desk.press(STAFF, changed, "Batalkan perubahan status") == []
    assert "lebih dari 5 menit" in last_answer(desk)["text"]
    assert _statuses(desk, [numbers[0]]) == ["dihubungi"]


async def test_berangkat_asks_first_and_reasons_are_kept_as_ids(desk: BotHarness) -> None:
    stores = stores_of(desk)
    [number] = seed(stores, 1)
    [card] = await desk.send(STAFF, f"/pendaftar {number}")
    [confirm] = await desk.press(STAFF, card, "berangkat")
    assert "Tandai" in confirm.text and "berangkat" in confirm.text
    assert _statuses(desk, [number]) == ["baru"]
    [back] = await desk.press(STAFF, confirm, "Kembali")
    assert "Warga Ke-0" in back.text and _statuses(desk, [number]) == ["baru"]
    [confirm] = await desk.press(STAFF, back, "berangkat")
    [gone] = await desk.press(STAFF, confirm, "Ya, tandai")
    assert _statuses(desk, [number]) == ["berangkat"]
    assert "Status:</b> berangkat" in gone.text

    [reasons] = await desk.press(STAFF, gone, "Tidak lanjut")
    [dropped] = await desk.press(STAFF, reasons, "Mengundurkan diri")
    record = stores.registrations.get(number)
    assert record is not None and record["status_reason"] == "withdrew"
    assert "alasan: Mengundurkan diri" in dropped.text  # the label, from the id


async def test_bulk_and_undo_buttons_are_refused_to_citizens(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    for data in ("st:b:k1", "st:bs:2:k1", "st:by:2:1:k1", "st:bu", f"st:sy:{number}:4:0:"):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == [], data
        assert last_answer(desk) == {"text": STAFF_ONLY, "show_alert": True}, data
    assert _statuses(desk, [number]) == ["baru"]
