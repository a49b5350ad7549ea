"""Storage benchmark: a durable registration write and a lookup by Telegram user, with 1k, 10k
and 100k registrations already stored, for

* ``store``   this project's store (fsync'd journal + snapshot, TinyDB queries in memory),
* ``tinydb``  stock TinyDB with its default JSONStorage (rewrites and fsyncs the whole file),
* ``sqlite``  stdlib sqlite3 in WAL mode with ``synchronous=FULL`` (durable at commit),

plus ``tinydb-mem``: TinyDB's own write path over an in-memory storage, no disk at all, to show
what rebuilding the table on every write costs by itself.

Then the write path during a compaction (``--compaction-sizes``, default 100k and 1M): one
thread saves registrations back to back while the registrations store is compacted; the worst
single write while the compaction runs is what a citizen would wait at most.

Run: ``.venv/bin/python bench/storage.py [--sizes 1000,10000,100000]
[--compaction-sizes 100000,1000000]``. Figures in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

from store import Stores
from store.registrations import SYSTEM_FIELDS

YEAR = 2026
#: (writes, lookups) measured per size; stock TinyDB gets few at large sizes (~1 s each).
SAMPLES = {"store": (300, 1000), "sqlite": (300, 1000), "tinydb": (30, 30), "tinydb-mem": (30, 0)}
SLOW_SAMPLES_AT_100K = 3


def registration(n: int) -> dict[str, Any]:
    """A realistic registration record (about 900 bytes of JSON)."""
    at = f"{YEAR}-03-02T08:00:00+00:00"
    return {
        "reg_no": f"SRG-{YEAR}-{n:06d}",
        "user_id": 10_000_000 + n,
        "chat_id": 10_000_000 + n,
        "full_name": f"Warga Kota Serang {n}",
        "nik": f"3673{n:012d}",
        "phone": f"+628{n:010d}",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "domicile_confirmed": True,
        "programmes": ["korea_work", "scholarship"],
        "training_willing": True,
        "email": None,
        "screening": {"eps_korea": "eligible", "gks_undergrad": "needs_preparation"},
        "status": "baru",
        "status_reason": None,
        "notes": [{"at": at, "by": 42, "text": "Ditelepon, minta jadwal pelatihan bahasa."}],
        "history": [{"at": at, "by": 10_000_000 + n, "change": "created"}],
        "created_at": at,
        "updated_at": at,
    }


def new_data(n: int) -> dict[str, Any]:
    """What the bot passes to ``save`` for a new citizen."""
    return {k: v for k, v in registration(n).items() if k not in SYSTEM_FIELDS}


@dataclass
class Result:
    engine: str
    size: int
    writes: list[float]
    lookups: list[float]
    open_s: float | None = None
    compact_s: float | None = None
    file_mb: float | None = None


def timed(action: Callable[[], object], times: int) -> list[float]:
    """Durations in milliseconds of ``times`` calls."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def counter(start: int) -> Iterator[int]:
    n = start
    while True:
        n += 1
        yield n


def bench_store(size: int, work: Path, rng: random.Random) -> Result:
    """This project's store: ``RegistrationRepo.save`` / ``get_by_user``."""
    data_dir = work / "store"
    with Stores.open(data_dir) as stores:
        database = stores.registrations.database
        table = database.table("registrations")
        for start in range(0, size, 5000):
            chunk = range(start + 1, min(size, start + 5000) + 1)
            table.put_many((f"SRG-{YEAR}-{n:06d}", registration(n)) for n in chunk)
        database.table("counters").put(f"reg_no:{YEAR}", {"last": size})
        database.compact()

    started = time.perf_counter()
    stores = Stores.open(data_dir)
    open_s = time.perf_counter() - started
    regs = stores.registrations
    writes_n, lookups_n = SAMPLES["store"]
    ids = counter(size)

    def write() -> None:
        n = next(ids)
        regs.save(20_000_000 + n, 20_000_000 + n, new_data(n), actor=1)

    def lookup() -> None:
        assert regs.get_by_user(10_000_000 + rng.randint(1, size)) is not None

    result = Result("store", size, timed(write, writes_n), timed(lookup, lookups_n), open_s)
    started = time.perf_counter()
    database = regs.database
    database.compact()
    result.compact_s = time.perf_counter() - started
    result.file_mb = database.snapshot_path.stat().st_size / 1e6
    stores.close()
    return result


def bench_tinydb(size: int, work: Path, rng: random.Random) -> Result:
    """Stock TinyDB (JSONStorage): ``insert`` / ``search`` by user_id."""
    path = work / "tinydb.json"
    docs = {str(n): registration(n) for n in range(1, size + 1)}
    path.write_text(json.dumps({"_default": docs}))
    count = SLOW_SAMPLES_AT_100K if size >= 100_000 else SAMPLES["tinydb"][0]
    ids = counter(size)
    with TinyDB(path) as db:

        def write() -> None:
            db.insert(registration(next(ids)))

        def lookup() -> None:
            assert db.search(Query().user_id == 10_000_000 + rng.randint(1, size))

        result = Result("tinydb", size, timed(write, count), timed(lookup, count))
    result.file_mb = path.stat().st_size / 1e6
    return result


def bench_tinydb_memory(size: int, rng: random.Random) -> Result:
    """TinyDB's write path alone (MemoryStorage: no serialisation, no disk)."""
    db = TinyDB(storage=MemoryStorage)
    db.storage.write({"_default": {str(n): registration(n) for n in range(1, size + 1)}})
    ids = counter(size)
    writes = timed(lambda: db.insert(registration(next(ids))), SAMPLES["tinydb-mem"][0])
    return Result("tinydb-mem", size, writes, [])


def bench_sqlite(size: int, work: Path, rng: random.Random) -> Result:
    """sqlite3, WAL, synchronous=FULL: insert the record and bump the counter in one commit."""
    db = sqlite3.connect(work / "sqlite.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE registrations (reg_no TEXT PRIMARY KEY, user_id INTEGER, nik TEXT, doc TEXT)"
    )
    db.execute("CREATE INDEX by_user ON registrations(user_id)")
    db.execute("CREATE INDEX by_nik ON registrations(nik)")
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, last INTEGER)")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO registrations VALUES (?, ?, ?, ?)",
        (
            (r["reg_no"], r["user_id"], r["nik"], json.dumps(r))
            for r in map(registration, range(1, size + 1))
        ),
    )
    db.execute("INSERT INTO counters VALUES (?, ?)", (f"reg_no:{YEAR}", size))
    db.execute("COMMIT")
    ids = counter(size)

    def write() -> None:
        record = registration(next(ids))
        db.execute("BEGIN IMMEDIATE")
        (taken,) = db.execute(
            "SELECT count(*) FROM registrations WHERE nik = ?", (record["nik"],)
        ).fetchone()
        assert not taken
        db.execute("UPDATE counters SET last = last + 1 WHERE name = ?", (f"reg_no:{YEAR}",))
        db.execute(
            "INSERT INTO registrations VALUES (?, ?, ?, ?)",
            (record["reg_no"], record["user_id"], record["nik"], json.dumps(record)),
        )
        db.execute("COMMIT")

    def lookup() -> None:
        user_id = 10_000_000 + rng.randint(1, size)
        row = db.execute("SELECT doc FROM registrations WHERE user_id = ?", (user_id,)).fetchone()
        assert json.loads(row[0])

    writes_n, lookups_n = SAMPLES["sqlite"]
    result = Result("sqlite", size, timed(write, writes_n), timed(lookup, lookups_n))
    db.close()
    return result


def disk_sync_baseline(work: Path, times: int = 100) -> list[float]:
    """What the disk alone charges: append 1 KB to a file and fdatasync it."""
    with (work / "probe").open("ab") as probe:

        def append() -> None:
            probe.write(b"x" * 1023 + b"\n")
            probe.flush()
            os.fdatasync(probe.fileno())

        return timed(append, times)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(results: list[Result]) -> None:
    header = (
        f"{'engine':<11}{'size':>8}{'n':>5}{'write p50':>11}{'write p95':>11}"
        f"{'lookup p50':>12}{'lookup p95':>12}{'open s':>8}{'compact s':>11}{'file MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lookups = r.lookups or None
        print(
            f"{r.engine:<11}{r.size:>8}{len(r.writes):>5}"
            f"{fmt(statistics.median(r.writes)):>11}{fmt(percentile(r.writes, 0.95)):>11}"
            f"{fmt(lookups and statistics.median(lookups), 3):>12}"
            f"{fmt(lookups and percentile(lookups, 0.95), 3):>12}"
            f"{fmt(r.open_s):>8}{fmt(r.compact_s):>11}{fmt(r.file_mb, 1):>9}"
        )


def write_snapshot(data_dir: Path, size: int) -> None:
    """A registrations store of ``size`` records, written straight as a snapshot file (the
    format of ``store/durable.py``), so a million records take seconds, not an hour of fsyncs."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (data_dir / "registrations.json").open("w", encoding="utf-8") as out:
        out.write('{"format":1,"seq":1,"tables":{\n"registrations":{')
        for n in range(1, size + 1):
            doc = json.dumps(registration(n), ensure_ascii=False, separators=(",", ":"))
            out.write(f'{"," if n > 1 else ""}\n"SRG-{YEAR}-{n:06d}":{doc}')
        out.write(f'}},\n"counters":{{\n"reg_no:{YEAR}":{{"last":{size}}}}}\n}}}}\n')
    os.chmod(data_dir / "registrations.json", 0o600)


@dataclass
class CompactionResult:
    size: int
    compact_s: float
    writes: list[float]  # every write that overlapped the compaction, ms
    baseline: list[float]  # writes before it, ms


def bench_compaction(size: int, work: Path) -> CompactionResult:
    """Writes back to back in a thread while the main thread compacts the registrations."""
    data_dir = work / "store"
    write_snapshot(data_dir, size)
    stores = Stores.open(data_dir)
    regs = stores.registrations
    ids = counter(size)
    samples: list[tuple[float, float]] = []  # (start, end) perf_counter of each write
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            n = next(ids)
            started = time.perf_counter()
            regs.save(20_000_000 + n, 20_000_000 + n, new_data(n), actor=1)
            samples.append((started, time.perf_counter()))

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.0)
    began = time.perf_counter()
    regs.database.compact()
    ended = time.perf_counter()
    time.sleep(0.2)
    stop.set()
    thread.join()
    stores.close()
    during = [(b - a) * 1000 for a, b in samples if b >= began and a <= ended]
    before = [(b - a) * 1000 for a, b in samples if b < began]
    return CompactionResult(size, ended - began, during, before)


def report_compaction(results: list[CompactionResult]) -> None:
    print("\nwrites (RegistrationRepo.save) while the registrations store is compacted")
    header = (
        f"{'size':>8}{'compact s':>11}{'writes':>8}{'worst ms':>10}{'p99 ms':>9}"
        f"{'p50 ms':>9}{'p50 before':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        writes = r.writes or [float("nan")]
        print(
            f"{r.size:>8}{r.compact_s:>11.2f}{len(r.writes):>8}{max(writes):>10.1f}"
            f"{percentile(writes, 0.99):>9.1f}{statistics.median(writes):>9.2f}"
            f"{statistics.median(r.baseline or [float('nan')]):>12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--compaction-sizes", default="100000,1000000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    rng = random.Random(7)
    results: list[Result] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as work:
        baseline = disk_sync_baseline(Path(work))
    for size in sizes:
        for engine in ("store", "sqlite", "tinydb", "tinydb-mem"):
            with tempfile.TemporaryDirectory(prefix="bench-storage-") as work:
                if engine == "store":
                    results.append(bench_store(size, Path(work), rng))
                elif engine == "sqlite":
                    results.append(bench_sqlite(size, Path(work), rng))
                elif engine == "tinydb":
                    results.append(bench_tinydb(size, Path(work), rng))
                else:
                    results.append(bench_tinydb_memory(size, rng))
            print(f"  measured {engine} at {size}", file=sys.stderr, flush=True)
    compactions = []
    for size in [int(size) for size in args.compaction_sizes.split(",") if size]:
        with tempfile.TemporaryDirectory(prefix="bench-storage-") as work:
            compactions.append(bench_compaction(size, Path(work)))
        print(f"  measured a compaction at {size}", file=sys.stderr, flush=True)
    report(results)
    report_compaction(compactions)
    print(
        f"\ndisk alone, append 1 KB + fdatasync: p50 {statistics.median(baseline):.2f} ms, "
        f"p95 {percentile(baseline, 0.95):.2f} ms"
    )
    print(f"total {time.perf_counter() - started:.0f} s; times in ms unless marked s")


if __name__ == "__main__":
    main()
