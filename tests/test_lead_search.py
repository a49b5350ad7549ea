"""Finding a lead as staff type it: a registration number or its last digits, a NIK or its last
4-6 digits, a phone in any form, a name with typos; the index follows every write and forgets
what an erasure or retention removes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store import Stores
from store.lead_index import NAME, NIK, PHONE, REG_NO, LeadIndex, fold, national_number


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    opened = Stores.open(tmp_path / "data")
    yield opened
    opened.close()


PEOPLE = [
    ("Siti Aminah", "3673014101990001", "+6281234567890"),
    ("Ahmad Fauzi", "3673025503957712", "+6285711112222"),
    ("Siti Nurhalizá", "3673036607000003", "+6287833334444"),
    ("Dede Suryana", "3604011212980004", "+6281298765432"),
]


def _register(stores: Stores) -> list[str]:
    numbers = []
    for user_id, (name, nik, phone) in enumerate(PEOPLE, start=1):
        record, _ = stores.registrations.save(
            user_id, user_id, {"full_name": name, "nik": nik, "phone": phone}, actor=user_id
        )
        numbers.append(record["reg_no"])
    return numbers


def _found(stores: Stores, query: str) -> list[tuple[str, str]]:
    return [(r["full_name"], hit.key) for r, hit in stores.registrations.find_leads(query)]


def test_each_kind_of_key_finds_its_lead(stores: Stores) -> None:
    numbers = _register(stores)
    year = numbers[0][4:8]
    assert _found(stores, numbers[1]) == [("Ahmad Fauzi", REG_NO)]
    assert _found(stores, numbers[1].lower()) == [("Ahmad Fauzi", REG_NO)]
    assert _found(stores, "2")[0] == ("Ahmad Fauzi", REG_NO)  # SRG-…-000002
    assert _found(stores, "000003")[0] == ("Siti Nurhalizá", REG_NO)
    assert _found(stores, f"SRG-{year}-999999") == []
    assert _found(stores, "3673025503957712") == [("Ahmad Fauzi", NIK)]
    assert _found(stores, "3673 0255 0395 7712") == [("Ahmad Fauzi", NIK)]
    assert _found(stores, "7712") == [("Ahmad Fauzi", NIK)]  # the NIK's last 4 digits
    assert _found(stores, "957712") == [("Ahmad Fauzi", NIK)]
    assert ("Ahmad Fauzi", REG_NO) in _found(stores, "0002")  # the number's last digits
    for phone in ("085711112222", "6285711112222", "+62 857-1111-2222", "0857 1111 2222"):
        assert _found(stores, phone) == [("Ahmad Fauzi", PHONE)], phone


def test_names_are_found_by_fragment_case_accent_and_typo(stores: Stores) -> None:
    _register(stores)
    sitis = {"Siti Aminah", "Siti Nurhalizá"}
    assert {name for name, _ in _found(stores, "siti")} == sitis
    assert {name for name, _ in _found(stores, "SITI")} == sitis
    assert _found(stores, "nurhaliza") == [("Siti Nurhalizá", NAME)]  # accent folded
    assert _found(stores, "nurhal") == [("Siti Nurhalizá", NAME)]  # a prefix
    assert _found(stores, "nurhaliz4")[:1] == [("Siti Nurhalizá", NAME)]  # a typo
    assert _found(stores, "suryna") == [("Dede Suryana", NAME)]  # a letter left out
    assert _found(stores, "siti aminah")[0] == ("Siti Aminah", NAME)  # both words count
    assert _found(stores, "siti fauzi") == []  # every word must meet the name
    assert _found(stores, "zzzz") == []
    assert _found(stores, "   ") == []


def test_the_index_follows_writes_erasure_and_retention(stores: Stores) -> None:
    numbers = _register(stores)
    assert _found(stores, "fauzi")  # builds the index
    stores.registrations.save(2, 2, {"full_name": "Ahmad Fauzan"}, actor=2)
    assert _found(stores, "fauzi") == []  # the old name is gone from the index
    assert _found(stores, "fauzam") == [("Ahmad Fauzan", NAME)]  # a typo of the new one
    assert _found(stores, "fauzan") == [("Ahmad Fauzan", NAME)]
    _, created = stores.registrations.save(
        9, 9, {"full_name": "Rina Marlina", "nik": "3673044404010009"}, actor=9
    )
    assert created
    assert _found(stores, "marlina") == [("Rina Marlina", NAME)]
    assert _found(stores, "3673044404010009") == [("Rina Marlina", NIK)]

    stores.delete_user(2)  # the citizen's erasure
    assert _found(stores, "fauzan") == []
    assert _found(stores, "3673025503957712") == []
    assert _found(stores, "085711112222") == []
    assert numbers[1] not in {r["reg_no"] for r, _ in stores.registrations.find_leads("2")}

    stores.registrations.anonymise_older_than(datetime(2100, 1, 1, tzinfo=UTC))
    assert _found(stores, "siti") == []
    assert _found(stores, "3673014101990001") == []
    assert _found(stores, "+6281234567890") == []


def test_a_fresh_process_builds_the_index_from_the_store(tmp_path: Path) -> None:
    opened = Stores.open(tmp_path / "data")
    _register(opened)
    opened.close()
    reopened = Stores.open(tmp_path / "data")
    try:
        assert _found(reopened, "dede") == [("Dede Suryana", NAME)]
    finally:
        reopened.close()


def test_helpers() -> None:
    assert fold("Nurhalizá ÇAHYA") == "nurhaliza cahya"
    assert national_number("+62 812-3456-7890") == "81234567890"
    assert national_number("0812 3456 7890") == "81234567890"
    assert national_number("+1 555 0100") is None
    assert national_number("12") is None
    index = LeadIndex()
    index.build([{"reg_no": "SRG-2026-000001", "full_name": "Budi"}])
    index.remove("SRG-2026-000001")
    index.remove("SRG-2026-000001")  # twice is harmless
    assert len(index) == 0
    assert index.search("budi") == []
