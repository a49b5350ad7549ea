"""Status changes staff can take back: a bulk change in one atomic write, the undo of the last
change (single or bulk) within a time limit, and a record changed since left alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from store import Stores
from tests.test_store_repos import FakeClock, citizen

STAFF, OTHER = 900, 901
WINDOW = timedelta(minutes=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stores(tmp_path: Path, clock: FakeClock) -> Iterator[Stores]:
    opened = Stores.open(tmp_path / "data", clock=clock)
    yield opened
    opened.close()


def _register(stores: Stores, count: int) -> list[str]:
    numbers = []
    for user in range(1, count + 1):
        record, _ = stores.registrations.save(
            user, user, citizen(nik=f"36730141019900{user:02d}"), actor=user
        )
        numbers.append(record["reg_no"])
    return numbers


def _statuses(stores: Stores, numbers: list[str]) -> list[str]:
    found = [stores.registrations.get(n) for n in numbers]
    return [r["status"] if r else "-" for r in found]


def test_a_bulk_change_moves_all_in_one_write_and_undoes_as_one(
    stores: Stores, clock: FakeClock, tmp_path: Path
) -> None:
    numbers = _register(stores, 4)
    stores.registrations.set_status(numbers[0], "ikut_pelatihan", actor=STAFF)
    clock.advance(minutes=1)
    moved = stores.registrations.bulk_set_status(numbers, "ikut_pelatihan", actor=STAFF)
    assert moved == 3  # the one already there is not counted
    assert _statuses(stores, numbers) == ["ikut_pelatihan"] * 4
    record = stores.registrations.get(numbers[1])
    assert record is not None and record["history"][-1]["to"] == "ikut_pelatihan"

    # The write is durable: a fresh process sees it, and can still undo it.
    stores.close()
    reopened = Stores.open(tmp_path / "data", clock=clock)
    try:
        clock.advance(minutes=2)
        result = reopened.registrations.undo_last(STAFF, within=WINDOW)
        assert (result.outcome, result.restored, result.skipped, result.kind) == (
            "undone",
            3,
            0,
            "bulk",
        )
        assert _statuses(reopened, numbers) == ["ikut_pelatihan", "baru", "baru", "baru"]
        again = reopened.registrations.undo_last(STAFF, within=WINDOW)
        assert again.outcome == "nothing"  # an undo is used once
    finally:
        reopened.close()


def test_undo_expires_and_leaves_records_changed_since(stores: Stores, clock: FakeClock) -> None:
    numbers = _register(stores, 3)
    stores.registrations.bulk_set_status(numbers, "dihubungi", actor=STAFF)
    clock.advance(minutes=1)
    stores.registrations.set_status(numbers[2], "ikut_pelatihan", actor=OTHER)  # changed since
    clock.advance(minutes=1)
    result = stores.registrations.undo_last(STAFF, within=WINDOW)
    assert (result.restored, result.skipped) == (2, 1)
    assert _statuses(stores, numbers) == ["baru", "baru", "ikut_pelatihan"]

    stores.registrations.set_status(numbers[0], "tidak_lanjut", actor=STAFF, reason="withdrew")
    clock.advance(minutes=6)
    expired = stores.registrations.undo_last(STAFF, within=WINDOW)
    assert expired.outcome == "expired"
    assert _statuses(stores, numbers)[0] == "tidak_lanjut"


def test_a_single_change_keeps_the_reason_id_and_undo_restores_it(
    stores: Stores, clock: FakeClock
) -> None:
    [number] = _register(stores, 1)
    stores.registrations.set_status(
        number, "tidak_lanjut", actor=STAFF, reason="other", reason_text="Pindah kota"
    )
    record = stores.registrations.get(number)
    assert record is not None
    assert (record["status_reason"], record["status_reason_text"]) == ("other", "Pindah kota")
    clock.advance(minutes=1)
    stores.registrations.set_status(number, "dihubungi", actor=STAFF)
    result = stores.registrations.undo_last(STAFF, within=WINDOW)
    assert result.restored == 1
    record = stores.registrations.get(number)
    assert record is not None
    assert (record["status"], record["status_reason"], record["status_reason_text"]) == (
        "tidak_lanjut",
        "other",
        "Pindah kota",
    )
    assert record["history"][-1].get("undo") is True
    assert stores.registrations.undo_last(OTHER, within=WINDOW).outcome == "nothing"
