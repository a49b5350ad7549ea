"""The embedded store against PostgreSQL, through the same repositories, with 10k registrations
already stored: a registration write (``RegistrationRepo.save`` of a new citizen: the NIK and
user checks, the number, one durable commit), a lookup by NIK and by Telegram user, and a staff
search (every registration read and filtered).

PostgreSQL is a throwaway local cluster (``tests/pgcluster.py``) with its default durability
(fsync on, synchronous_commit on), over a Unix socket; the 10k registrations get there with
``copy-data`` from the embedded directory, which is timed too.

Run: ``.venv/bin/python bench/store_backends.py [--size 10000] [--writes 300]
[--lookups 2000]``. Figures in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.storage import YEAR, registration
from store import Stores
from store.pg import copy_stores, migrate
from tests import pgcluster


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    spent = []
    for call in calls:
        start = time.perf_counter()
        call()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def fill(data_dir: Path, size: int) -> None:
    """``size`` registrations in the embedded store, written in bulk."""
    with Stores.open(data_dir) as stores:
        database = stores.registrations.database
        table = database.table("registrations")
        for first in range(0, size, 1000):
            chunk = [registration(n) for n in range(first + 1, min(size, first + 1000) + 1)]
            table.put_many((doc["reg_no"], doc) for doc in chunk)
        database.table("counters").put(f"reg_no:{YEAR}", {"last": size})
        database.compact()


def measure(stores: Stores, size: int, writes: int, lookups: int) -> dict[str, list[float]]:
    regs = stores.registrations
    rng = random.Random(7)
    new = [registration(size + 1 + n) for n in range(writes)]
    for doc in new:
        doc["user_id"] += 1_000_000  # other citizens than the stored ones
    keep = ("full_name", "nik", "phone", "kecamatan", "kelurahan", "programmes", "screening")

    def save(doc: dict[str, Any]) -> Callable[[], Any]:
        data = {field: doc[field] for field in keep}
        return lambda: regs.save(doc["user_id"], doc["chat_id"], data, actor=doc["user_id"])

    picks = [rng.randint(1, size) for _ in range(lookups)]
    figures = {
        "write": timed([save(doc) for doc in new]),
        "by NIK": timed([lambda n=n: regs.get_by_nik(f"3673{n:012d}") for n in picks]),
        "by user": timed([lambda n=n: regs.get_by_user(10_000_000 + n) for n in picks]),
        "search": timed([lambda: regs.search(kecamatan="serang")] * 10),
    }
    assert regs.get_by_nik(f"3673{picks[0]:012d}") is not None
    assert len(regs) == size + writes
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill(data_dir, args.size)
        server = pgcluster.start(durable=True)
        try:
            with psycopg.connect(server.base_url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            url = server.url("bench")
            migrate(url)
            start = time.perf_counter()
            with Stores.open(data_dir) as source:
                copied = copy_stores(source, url)
            copy_seconds = time.perf_counter() - start
            documents = sum(count.target for count in copied)
            print(f"copy-data: {documents} documents into PostgreSQL in {copy_seconds:.2f} s")
            for backend, database_url in (("embedded", None), ("postgresql", url)):
                with Stores.open(data_dir, database_url=database_url) as stores:
                    results[backend] = measure(stores, args.size, args.writes, args.lookups)
        finally:
            server.stop()

    print(
        f"\n{args.size} registrations stored; {args.writes} writes, {args.lookups} lookups each,"
        " 10 searches (ms)"
    )
    print(f"{'':<22}{'p50':>9}{'p99':>9}{'max':>9}")
    for backend, figures in results.items():
        for what, samples in figures.items():
            print(
                f"{backend + ' ' + what:<22}{statistics.median(samples):>9.3f}"
                f"{percentile(samples, 0.99):>9.3f}{max(samples):>9.3f}"
            )


if __name__ == "__main__":
    main()
