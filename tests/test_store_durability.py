"""The durable store: reopening, recovery of crash leftovers, refusing damaged files, permissions,
locking, compaction, and the async facade."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinydb import Query

from store import (
    AsyncStores,
    Database,
    StoreClosedError,
    StoreCorruptError,
    StoreLockedError,
    Stores,
)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(directory: Path) -> Iterator[Database]:
    database = Database(directory, "things")
    yield database
    database.close()


def reopen(database: Database) -> Database:
    database.close()
    return Database(database.directory, database.name)


def test_writes_survive_reopen(db: Database) -> None:
    things = db.table("things")
    things.put("a", {"n": 1, "tags": ["x"]})
    things.put("b", {"n": 2})
    things.put("a", {"n": 3})
    assert things.delete("b") is True
    assert things.delete("missing") is False

    db = reopen(db)
    assert db.table("things").items() == [("a", {"n": 3})]
    db.close()


def test_reads_are_copies(db: Database) -> None:
    things = db.table("things")
    things.put("a", {"list": [1]})
    got = things.get("a")
    assert got is not None
    got["list"].append(2)
    assert things.get("a") == {"list": [1]}


def test_find_accepts_tinydb_queries_and_callables(db: Database) -> None:
    things = db.table("things", indexes=("colour",))
    things.put_many((str(n), {"n": n, "colour": "red" if n % 2 else "blue"}) for n in range(10))
    assert [d["n"] for d in things.find(Query().n >= 8)] == [8, 9]
    assert [d["n"] for d in things.find(lambda d: d["n"] < 2)] == [0, 1]
    assert [d["n"] for d in things.find_by("colour", "red")] == [1, 3, 5, 7, 9]
    things.put("1", {"n": 1, "colour": "blue"})
    things.delete("3")
    assert [d["n"] for d in things.find_by("colour", "red")] == [5, 7, 9]
    assert [d["n"] for d in things.find_by("n", 4)] == [4]  # unindexed field: a scan


def test_batch_is_one_journal_line_across_tables(db: Database) -> None:
    with db.batch() as batch:
        batch.put("left", "k", {"v": 1})
        batch.put("right", "k", {"v": 2})
    assert db.journal_path.read_bytes().count(b"\n") == 1
    db = reopen(db)
    assert db.table("left").get("k") == {"v": 1}
    assert db.table("right").get("k") == {"v": 2}
    db.close()


def test_failed_batch_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.batch() as batch:
        batch.put("t", "k", {"v": 1})
        raise RuntimeError("caller changed its mind")
    assert db.table("t").get("k") is None
    assert db.journal_path.read_bytes() == b""


def test_torn_tail_is_cut_and_earlier_writes_kept(db: Database) -> None:
    db.table("t").put("kept", {"v": 1})
    size = db.journal_path.stat().st_size
    db.close()
    with db.journal_path.open("ab") as journal:
        journal.write(b'0badc0de {"s":2,"ops":[{"t":"t","op":"put","k":"lost"')  # cut mid-write

    db = Database(db.directory, db.name)
    assert db.table("t").keys() == ["kept"]
    assert db.journal_path.stat().st_size == size
    db.table("t").put("next", {"v": 2})
    db = reopen(db)
    assert db.table("t").keys() == ["kept", "next"]
    db.close()


def test_complete_but_damaged_last_line_is_refused_and_its_bytes_kept(db: Database) -> None:
    db.table("t").put("kept", {"v": 1})
    first_line_end = db.journal_path.stat().st_size
    db.table("t").put("flipped", {"v": 2})
    db.close()
    raw = db.journal_path.read_bytes()
    damaged = raw[:-5] + b"X" + raw[-4:]  # one flipped byte in a complete last line
    db.journal_path.write_bytes(damaged)

    with pytest.raises(StoreCorruptError) as caught:
        Database(db.directory, db.name)
    error = caught.value
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{db.journal_path}: line 2: byte {first_line_end}: ")
    assert "not an interrupted write" in message
    assert f"truncate -s {first_line_end} {db.journal_path}" in message
    assert "byte" in error.message("id") and "rusak" in error.message("id")
    assert error.exit_code == 3
    assert db.journal_path.read_bytes() == damaged  # nothing cut
    copy = db.journal_path.with_name("things.journal.damaged")
    assert copy.read_bytes() == damaged and f"{copy}" in message
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    with pytest.raises(StoreCorruptError):  # refused again, the copy is not multiplied
        Database(db.directory, db.name)
    assert sorted(p.name for p in db.directory.iterdir()) == [
        "things.journal",
        "things.journal.damaged",
    ]


def test_damaged_line_in_the_middle_stops_and_leaves_the_file(db: Database) -> None:
    for n in range(3):
        db.table("t").put(str(n), {"v": n})
    db.close()
    lines = db.journal_path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"v":1', b'"v":7')
    damaged = b"\n".join(lines)
    db.journal_path.write_bytes(damaged)

    with pytest.raises(StoreCorruptError) as caught:
        Database(db.directory, db.name)
    message = str(caught.value)
    assert message.startswith(f"{db.journal_path}: line 2: ")
    assert message.endswith("Fix or move the file; the bot will not overwrite it.")
    assert "baris 2" in caught.value.message("id")
    assert db.journal_path.read_bytes() == damaged


def test_unreadable_snapshot_stops_and_leaves_the_file(db: Database) -> None:
    db.table("t").put("k", {"v": 1})
    db.compact()
    db.close()
    damaged = db.snapshot_path.read_bytes().replace(b'"v":1}', b'"v":1')
    db.snapshot_path.write_bytes(damaged)

    with pytest.raises(StoreCorruptError) as caught:
        Database(db.directory, db.name)
    assert str(caught.value).startswith(f"{db.snapshot_path}: line ")
    assert db.snapshot_path.read_bytes() == damaged


def test_missing_snapshot_is_detected(db: Database) -> None:
    db.table("t").put("a", {"v": 1})
    db.compact()
    db.table("t").put("b", {"v": 2})
    db.close()
    db.snapshot_path.unlink()

    with pytest.raises(StoreCorruptError, match="snapshot"):
        Database(db.directory, db.name)


def test_leftover_temp_snapshot_is_removed(db: Database) -> None:
    db.table("t").put("a", {"v": 1})
    db.close()
    temp = db.directory / "things.json.tmp"
    temp.write_text('{"format":1,"seq":9,"tab')  # a compaction killed half-way

    db = Database(db.directory, db.name)
    assert not temp.exists()
    assert db.table("t").get("a") == {"v": 1}
    db.close()


def test_compaction_keeps_everything_and_empties_the_journal(directory: Path) -> None:
    db = Database(directory, "busy", compact_min_bytes=2_000)
    for n in range(200):
        db.table("t").put(str(n % 50), {"n": n})
    assert db.snapshot_path.exists(), "compacted (in the background) on the way"
    # How much the journal holds right now depends on where the background compaction is; once
    # a compaction returns, it holds nothing the snapshot lacks.
    db.compact()
    assert db.journal_path.stat().st_size == 0
    db = reopen(db)
    assert len(db.table("t")) == 50
    assert db.table("t").get("49") == {"n": 199}
    assert db.seq == 200
    db.close()


def test_crash_between_snapshot_and_journal_truncation(db: Database) -> None:
    for n in range(5):
        db.table("t").put(str(n), {"n": n})
    journal = db.journal_path.read_bytes()
    db.compact()
    db.close()
    db.journal_path.write_bytes(journal)  # as if killed before the journal was emptied

    db = Database(db.directory, db.name)
    assert db.table("t").keys() == ["0", "1", "2", "3", "4"]
    db.table("t").put("5", {"n": 5})
    db = reopen(db)
    assert len(db.table("t")) == 6
    db.close()


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_private_permissions_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        stores = Stores.open(tmp_path / "data", compact_min_bytes=1)
        stores.registrations.save(1, 1, {"full_name": "Siti"}, actor=1)  # compacts at once
        stores.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    files = list((tmp_path / "data").iterdir())
    assert any(f.suffix == ".json" for f in files)
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
        f.name: 0o600 for f in files
    }


def test_existing_loose_permissions_are_tightened(db: Database) -> None:
    db.table("t").put("k", {})
    db.close()
    os.chmod(db.directory, 0o755)
    os.chmod(db.journal_path, 0o644)
    Database(db.directory, db.name).close()
    assert stat.S_IMODE(db.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.journal_path.stat().st_mode) == 0o600


def test_second_writer_is_refused_until_the_first_closes(db: Database) -> None:
    with pytest.raises(StoreLockedError) as caught:
        Database(db.directory, db.name)
    assert str(db.journal_path) in str(caught.value)
    db.close()
    Database(db.directory, db.name).close()


def test_closed_store_refuses_writes(db: Database) -> None:
    db.close()
    with pytest.raises(StoreClosedError):
        db.table("t").put("k", {})


def test_non_json_values_are_refused_before_anything_is_written(db: Database) -> None:
    with pytest.raises(TypeError):
        db.table("t").put("k", {"when": object()})
    with pytest.raises(ValueError):
        db.table("t").put("k", {"n": float("nan")})
    assert db.journal_path.read_bytes() == b""


def test_threads_write_one_at_a_time(db: Database) -> None:
    def writer(prefix: str) -> None:
        for n in range(50):
            db.table("t").put(f"{prefix}{n}", {"n": n})

    threads = [threading.Thread(target=writer, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db = reopen(db)
    assert len(db.table("t")) == 200
    assert db.seq == 200
    db.close()


class Probe:
    """Something bound to a store, as a repository is, that reports where it runs."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def thread(self, pause: float = 0.0) -> str:
        time.sleep(pause)
        return threading.current_thread().name


async def test_async_facade_runs_off_the_loop_one_thread_per_store(directory: Path) -> None:
    astores = await AsyncStores.open(directory)
    stores = astores.stores
    registrations = Probe(stores.registrations.database)
    unanswered = Probe(stores.unanswered.database)

    slow = asyncio.create_task(astores.call(registrations.thread, 0.5))
    await asyncio.sleep(0.01)  # the loop runs while a store works
    other = await astores.call(unanswered.thread)  # another store: not queued behind it
    assert not slow.done()
    same = await astores.call(registrations.thread)

    assert threading.current_thread().name not in {await slow, other}
    assert await slow == same != other

    record, created = await astores.call(
        stores.registrations.save, 7, 7, {"full_name": "Budi"}, actor=7
    )
    assert created
    assert await astores.call(stores.registrations.get_by_user, 7) == record
    await astores.aclose()
