"""The repositories: what callers see of registrations, consents, screenings, users, subscribers,
unanswered questions, audit, key/value state, deletion and retention."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from store import NikTakenError, NotFoundError, StatusError, Stores
from tests.backends import Backend

NIK = "3673014101990001"
OTHER_NIK = "3673014101990002"


class FakeClock:
    """A settable clock for the repositories."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stores(store_backend: Backend, clock: FakeClock) -> Iterator[Stores]:
    """The stores on each backend in turn (embedded files, PostgreSQL): one contract."""
    opened = store_backend.open(clock=clock)
    yield opened
    opened.close()


def citizen(**fields: object) -> dict[str, object]:
    return {
        "full_name": "Siti Aminah",
        "nik": NIK,
        "phone": "+6281234567890",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "programmes": ["korea_work"],
        "screening": {"eps_korea": "eligible"},
        **fields,
    }


# -- registrations ---------------------------------------------------------------------------


def test_registration_numbers_are_sequential_per_jakarta_year(
    stores: Stores, clock: FakeClock, store_backend: Backend
) -> None:
    regs = stores.registrations
    first, created = regs.save(1, 1, citizen(), actor=1)
    second, _ = regs.save(2, 2, citizen(nik=OTHER_NIK), actor=2)
    assert created
    assert (first["reg_no"], second["reg_no"]) == ("SRG-2026-000001", "SRG-2026-000002")
    assert first["status"] == "baru"
    assert first["history"] == [{"at": "2026-03-02T08:00:00+00:00", "by": 1, "change": "created"}]

    clock.now = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # 00:30 on 1 January in Jakarta
    third, _ = regs.save(3, 3, citizen(nik="3673014101990003"), actor=3)
    assert third["reg_no"] == "SRG-2027-000001"

    stores.close()
    reopened = store_backend.open(clock=clock)
    fourth, _ = reopened.registrations.save(4, 4, citizen(nik="3673014101990004"), actor=4)
    assert fourth["reg_no"] == "SRG-2027-000002"
    assert len(reopened.registrations) == 4
    reopened.close()


def test_update_keeps_one_registration_and_names_changed_fields_only(
    stores: Stores, clock: FakeClock
) -> None:
    regs = stores.registrations
    created, _ = regs.save(1, 1, citizen(), actor=1)
    clock.advance(hours=1)
    updated, was_created = regs.save(
        1, 1, citizen(phone="+6285700000000", kecamatan="serang"), actor=1
    )
    assert not was_created
    assert updated["reg_no"] == created["reg_no"]
    assert updated["phone"] == "+6285700000000"
    assert updated["updated_at"] == "2026-03-02T09:00:00+00:00"
    assert updated["history"][-1] == {
        "at": "2026-03-02T09:00:00+00:00",
        "by": 1,
        "change": "updated",
        "fields": ["kecamatan", "phone"],
    }
    assert "+6285700000000" not in str(updated["history"])
    assert regs.save(1, 1, citizen(phone="+6285700000000", kecamatan="serang"), actor=1) == (
        updated,
        False,
    )
    assert len(regs) == 1
    assert regs.get_by_user(1) == regs.get_by_nik(NIK) == regs.get(created["reg_no"]) == updated


def test_nik_of_another_active_registration_is_refused(stores: Stores) -> None:
    regs = stores.registrations
    first, _ = regs.save(1, 1, citizen(), actor=1)
    with pytest.raises(NikTakenError) as caught:
        regs.save(2, 2, citizen(), actor=2)
    assert "NIK" in caught.value.message("id")
    assert first["reg_no"] not in str(caught.value)
    assert regs.get_by_user(2) is None

    regs.set_status(first["reg_no"], "tidak_lanjut", actor=42, reason="pindah domisili")
    second, created = regs.save(2, 2, citizen(), actor=2)  # a closed case no longer holds it
    assert created
    assert regs.get_by_nik(NIK) == second


def test_closed_registration_is_not_the_active_one(stores: Stores) -> None:
    regs = stores.registrations
    first, _ = regs.save(1, 1, citizen(), actor=1)
    regs.set_status(first["reg_no"], "tidak_lanjut", actor=42, reason="tidak bisa dihubungi")
    assert regs.get_by_user(1) is None
    again, created = regs.save(1, 1, citizen(), actor=1)
    assert created and again["reg_no"] != first["reg_no"]
    assert regs.get_by_user(1) == again


def test_status_changes_are_validated_and_recorded(stores: Stores) -> None:
    regs = stores.registrations
    record, _ = regs.save(1, 1, citizen(), actor=1)
    reg_no = record["reg_no"]

    with pytest.raises(StatusError, match="Unknown status"):
        regs.set_status(reg_no, "hilang", actor=42)
    with pytest.raises(StatusError, match="needs a reason"):
        regs.set_status(reg_no, "tidak_lanjut", actor=42, reason="  ")
    with pytest.raises(NotFoundError):
        regs.set_status("SRG-2026-999999", "dihubungi", actor=42)

    changed = regs.set_status(reg_no, "dihubungi", actor=42)
    assert changed["status"] == "dihubungi"
    assert changed["history"][-1]["change"] == "status"
    assert (changed["history"][-1]["from"], changed["history"][-1]["to"]) == ("baru", "dihubungi")
    assert regs.set_status(reg_no, "dihubungi", actor=42) == changed  # no-op, no new entry

    noted = regs.add_note(reg_no, "Ditelepon, minta jadwal pelatihan.", actor=42)
    assert noted["notes"][-1]["text"] == "Ditelepon, minta jadwal pelatihan."
    assert noted["history"][-1]["change"] == "note"
    assert regs.get(reg_no) == noted


def test_save_cannot_set_system_fields(stores: Stores) -> None:
    with pytest.raises(ValueError, match="status"):
        stores.registrations.save(1, 1, citizen(status="berangkat"), actor=1)


def test_search_filters_and_order(stores: Stores, clock: FakeClock) -> None:
    regs = stores.registrations
    a, _ = regs.save(1, 1, citizen(), actor=1)
    clock.now = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # 11 March in Jakarta
    b, _ = regs.save(
        2,
        2,
        citizen(
            nik=OTHER_NIK,
            kecamatan="serang",
            programmes=["japan_work"],
            screening={"ssw_japan": "needs_preparation", "eps_korea": "eligible"},
        ),
        actor=2,
    )
    clock.advance(days=5)
    c, _ = regs.save(3, 3, citizen(nik="3673014101990003", screening=None), actor=3)
    regs.set_status(c["reg_no"], "dihubungi", actor=42)

    def numbers(**filters: object) -> list[str]:
        return [r["reg_no"] for r in regs.search(**filters)]  # type: ignore[arg-type]

    assert numbers() == [c["reg_no"], b["reg_no"], a["reg_no"]]
    assert numbers(programme="korea_work") == [c["reg_no"], a["reg_no"]]
    assert numbers(programme="ssw_japan") == [b["reg_no"]]
    assert numbers(outcome="eligible") == [b["reg_no"], a["reg_no"]]
    assert numbers(programme="ssw_japan", outcome="eligible") == []
    assert numbers(kecamatan="serang") == [b["reg_no"]]
    assert numbers(status="dihubungi") == [c["reg_no"]]
    assert numbers(since=date(2026, 3, 11)) == [c["reg_no"], b["reg_no"]]
    assert numbers(until=date(2026, 3, 11)) == [b["reg_no"], a["reg_no"]]
    assert numbers(since=date(2026, 3, 11), until=date(2026, 3, 11)) == [b["reg_no"]]
    assert regs.count(kecamatan="cipocok_jaya") == 2
    assert [r["reg_no"] for r in regs.iter_all()] == [a["reg_no"], b["reg_no"], c["reg_no"]]


def test_anonymise_keeps_counts_and_drops_identity(stores: Stores, clock: FakeClock) -> None:
    regs = stores.registrations
    old, _ = regs.save(1, 1, citizen(email="siti@example.com"), actor=1)
    regs.add_note(old["reg_no"], "Nomor HP lain: 0812...", actor=42)
    clock.advance(days=400)
    recent, _ = regs.save(2, 2, citizen(nik=OTHER_NIK), actor=2)

    assert regs.anonymise_older_than(clock.now - timedelta(days=365)) == 1
    assert regs.anonymise_older_than(clock.now - timedelta(days=365)) == 0
    anonymous = regs.get(old["reg_no"])
    assert anonymous is not None
    for field in ("full_name", "nik", "phone", "email", "user_id", "chat_id", "notes", "history"):
        assert field not in anonymous
    assert "Siti" not in str(anonymous) and NIK not in str(anonymous)
    assert anonymous["kecamatan"] == "cipocok_jaya"
    assert anonymous["screening"] == {"eps_korea": "eligible"}
    assert regs.count(kecamatan="cipocok_jaya") == 2
    assert regs.get_by_user(1) is None and regs.get_by_nik(NIK) is None
    assert regs.get_by_user(2) == recent


# -- the other repositories ------------------------------------------------------------------


def test_consents_are_an_append_only_history(stores: Stores, clock: FakeClock) -> None:
    consents = stores.consents
    consents.record(1, "screening_health", "v1", True)
    clock.advance(minutes=5)
    consents.record(1, "registration", "v1", True)
    clock.advance(minutes=5)
    withdrawn = consents.record(1, "screening_health", "v1", False)
    consents.record(2, "screening_health", "v1", True)

    assert consents.current(1, "screening_health") == withdrawn
    assert consents.current(1, "broadcast") is None
    assert [(d["purpose"], d["granted"]) for d in consents.history(1)] == [
        ("screening_health", True),
        ("registration", True),
        ("screening_health", False),
    ]
    assert consents.delete_user(1) == 3
    assert consents.history(1) == []
    assert len(consents.history(2)) == 1


def test_screening_answers_are_kept_only_with_consent(stores: Stores, clock: FakeClock) -> None:
    screenings = stores.screenings
    result = {"eps_korea": "needs_medical_check"}
    with_consent = screenings.save(1, {"tb": "yes"}, result, True)
    without = screenings.save(2, {"tb": "yes"}, result, False)
    assert with_consent["answers"] == {"tb": "yes"}
    assert without["answers"] is None and without["result"] == result
    assert screenings.get(2) == without

    clock.advance(days=30)
    screenings.save(3, {}, {}, True)
    assert [d["user_id"] for d in screenings.older_than(clock.now - timedelta(days=1))] == [1, 2]
    assert screenings.delete_older_than(clock.now - timedelta(days=1)) == 2
    assert screenings.get(1) is None and screenings.get(3) is not None


def test_users_language_and_throttled_touch(stores: Stores, clock: FakeClock) -> None:
    users = stores.users
    assert users.language(1) is None
    users.set_language(1, "en")
    assert users.language(1) == "en"
    with pytest.raises(ValueError):
        users.set_language(1, "jv")

    seq = users.database.seq
    users.touch(1)
    assert users.database.seq == seq  # seen a moment ago: no write
    clock.advance(minutes=11)
    touched = users.touch(1)
    assert users.database.seq == seq + 1
    assert touched["last_seen"] == "2026-03-02T08:11:00+00:00"
    assert touched["first_seen"] == "2026-03-02T08:00:00+00:00"
    assert users.get(1) == touched
    assert users.delete_user(1) == 1 and users.get(1) is None


def test_subscribers(stores: Stores) -> None:
    subs = stores.subscribers
    subs.subscribe(1, 1, source="start")
    subs.subscribe(2, 2, source="menu")
    subs.subscribe(3, -100500, source="group")
    subs.subscribe(4, -100500, source="group")
    assert subs.is_subscribed(1)
    assert subs.active_chat_ids() == [1, 2, -100500]
    assert subs.count_active() == 4

    assert subs.unsubscribe(1) is True
    assert subs.unsubscribe(1) is False
    assert subs.mark_inactive(-100500, "bot_blocked") == 2
    assert subs.active_chat_ids() == [2]
    assert subs.count_active() == 1
    subs.subscribe(1, 1, source="start")
    assert subs.is_subscribed(1)
    assert subs.delete_user(2) == 1
    assert not subs.is_subscribed(2)


def test_unanswered_questions(stores: Stores, clock: FakeClock) -> None:
    unanswered = stores.unanswered
    first = unanswered.log("gaji di korea brp?", "id")
    clock.advance(seconds=1)
    second = unanswered.log("is there an age limit?", "en")
    clock.advance(seconds=1)
    third = unanswered.log("biaya lpk [NIK]?", "id")

    assert [q["id"] for q in unanswered.recent(2)] == [third["id"], second["id"]]
    assert unanswered.mark_handled([first["id"], third["id"], "nope"], actor=42) == 2
    assert unanswered.mark_handled([first["id"]], actor=42) == 0
    assert [q["id"] for q in unanswered.all_open()] == [second["id"]]
    assert unanswered.recent(1)[0]["handled_by"] == 42
    assert unanswered.count_total() == 3


def test_audit_is_newest_first_and_filterable(stores: Stores, clock: FakeClock) -> None:
    audit = stores.audit
    for n in range(5):
        clock.advance(seconds=1)
        audit.record(42, "status", f"SRG-2026-00000{n % 2}", {"to": "dihubungi"})
    assert [a["target"] for a in audit.list(limit=3)] == [
        "SRG-2026-000000",
        "SRG-2026-000001",
        "SRG-2026-000000",
    ]
    assert len(audit.list("SRG-2026-000001")) == 2
    assert audit.list()[0]["at"] == "2026-03-02T08:00:05+00:00"


def test_key_value_namespaces(stores: Stores, store_backend: Backend, clock: FakeClock) -> None:
    kv = stores.kv
    kv.put("conversations:registration", "[123, 123]", {"state": 3})
    kv.put("user_data", "123", {"draft": {"full_name": "Siti"}})
    kv.put("user_data", "1234", {"draft": {}})
    kv.put_many("chat_data", [("-100123", {"x": 1}), ("77", {"x": 2})])
    assert kv.get("user_data", "123") == {"draft": {"full_name": "Siti"}}
    assert kv.get("user_data", "nope", default={}) == {}
    assert kv.items("chat_data") == [("-100123", {"x": 1}), ("77", {"x": 2})]
    assert kv.delete("chat_data", "77") is True
    assert sorted(kv.namespaces()) == ["chat_data", "conversations:registration", "user_data"]

    stores.close()
    reopened = store_backend.open(clock=clock)
    assert reopened.kv.get("conversations:registration", "[123, 123]") == {"state": 3}
    reopened.close()


def test_key_value_update_is_one_read_change_write(
    stores: Stores, store_backend: Backend, clock: FakeClock
) -> None:
    kv = stores.kv

    def add_one(value: Any) -> dict[str, int]:
        return {"n": (value or {"n": 0})["n"] + 1}

    with ThreadPoolExecutor(max_workers=4) as pool:  # no increment lost between threads
        list(pool.map(lambda _: kv.update("faq", "counter", add_one), range(20)))
    assert kv.get("faq", "counter") == {"n": 20}
    assert kv.update("faq", "counter", lambda value: None) is None  # None removes the key
    assert kv.get("faq", "counter") is None and kv.items("faq") == []
    kv.update("faq", "learned", lambda value: {"items": [1]})
    stores.close()
    reopened = store_backend.open(clock=clock)
    assert reopened.kv.get("faq", "learned") == {"items": [1]}
    reopened.close()


# -- across stores ---------------------------------------------------------------------------


def test_delete_user_removes_everything_and_keeps_an_anonymous_audit_line(
    stores: Stores,
) -> None:
    uid = 123
    stores.registrations.save(uid, uid, citizen(), actor=uid)
    stores.screenings.save(uid, {"tb": "no"}, {"eps_korea": "eligible"}, True)
    stores.consents.record(uid, "screening_health", "v1", True)
    stores.users.set_language(uid, "id")
    stores.subscribers.subscribe(uid, uid, source="start")
    stores.kv.put("user_data", str(uid), {"draft": {}})
    stores.kv.put("conversations:registration", f"({uid}, {uid})", 2)
    stores.kv.put("user_data", "1234", {"draft": {}})
    stores.unanswered.log("kapan dibuka?", "id", user_id=uid)
    stores.unanswered.log("kapan ditutup?", "id", user_id=7)
    stores.registrations.save(7, 7, citizen(nik=OTHER_NIK), actor=7)
    reg_no = stores.registrations.numbers_of(uid)

    counts = stores.delete_user(uid)
    assert counts == {
        "registrations": 1,
        "screenings": 1,
        "consents": 1,
        "users": 1,
        "subscribers": 1,
        "unanswered": 1,
        "kv": 2,
        "handoff": 0,
        "staff_names": 0,  # a staff member's learned display name (store/staff_names.py)
    }
    assert [q["text"] for q in stores.unanswered.all_open()] == ["kapan ditutup?"]
    assert stores.registrations.get_by_user(uid) is None
    assert stores.screenings.get(uid) is None
    assert stores.consents.history(uid) == []
    assert stores.users.get(uid) is None
    assert not stores.subscribers.is_subscribed(uid)
    assert stores.kv.get("user_data", "1234") == {"draft": {}}
    assert stores.registrations.get_by_user(7) is not None
    line = stores.audit.list(limit=1)[0]
    assert line["action"] == "user_data_deleted"
    assert line["details"]["reg_nos"] == reg_no and line["details"]["counts"] == counts
    kept = {k: v for k, v in line.items() if k not in ("id", "target", "at")}
    assert str(uid) not in str({**kept, "details": {**line["details"], "asked_at": None}})
    assert stores.pending_erasures() == []


def test_purge_applies_retention(stores: Stores, clock: FakeClock) -> None:
    stores.registrations.save(1, 1, citizen(), actor=1)
    stores.screenings.save(1, {}, {}, True)
    stores.unanswered.log("old question", "id")
    stores.users.touch(1)
    stores.subscribers.subscribe(1, 1, source="start")
    stores.subscribers.unsubscribe(1)
    stores.subscribers.subscribe(2, 2, source="start")
    clock.advance(days=200)
    stores.unanswered.log("new question", "id")

    counts = stores.purge(older_than_days=180)
    assert counts == {
        "registrations_anonymised": 1,
        "screenings": 1,
        "unanswered": 1,
        "users": 1,
        "subscribers": 1,
        "kv": 0,
        "handoff": 0,
    }
    assert stores.subscribers.is_subscribed(2)
    assert stores.unanswered.count_total() == 1
    assert stores.audit.list(limit=1)[0]["action"] == "retention_purge"
    with pytest.raises(ValueError):
        stores.purge(older_than_days=0)


def test_extra_databases_share_the_directory(
    stores: Stores, store_backend: Backend, clock: FakeClock
) -> None:
    outbox = stores.database("broadcast_outbox")
    assert stores.database("broadcast_outbox") is outbox
    outbox.table("jobs").put("j1", {"state": "queued"})
    if store_backend.kind == "embedded":
        assert outbox.snapshot_path.parent == stores.data_dir
    else:
        assert outbox.files() == []  # the rows are in PostgreSQL, nothing in the directory
    with pytest.raises(ValueError):
        stores.database("../elsewhere")
    stores.close()
    reopened = store_backend.open(clock=clock)  # every existing store is opened again
    assert "broadcast_outbox" in reopened.databases
    assert reopened.database("broadcast_outbox").table("jobs").get("j1") == {"state": "queued"}
    reopened.close()
