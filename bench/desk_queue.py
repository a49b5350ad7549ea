"""Benchmark the follow-up queue and the daily digest at 10k and 100k leads.

The leads are the export benchmark's synthetic registrations, with a call log, a next
follow-up date and an assignee on most of them, written into a real store (journal, fsync)
and reopened, as the bot finds them at start-up. Per size it prints the median and worst of
several runs of: reading the queue rows from the store (``follow_up_rows``, under the store's
lock), ordering the whole queue ("semua"), one staff member's queue ("punya saya"), and the
digests of 20 staff members.

Run: ``.venv/bin/python bench/desk_queue.py``
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from export import synthetic_registrations  # the export benchmark's leads

from desk.followup import OUTCOMES, build_digests, build_queue
from store import Stores

SIZES = (10_000, 100_000)
RUNS = 7
STAFF = list(range(500_001, 500_021))
TODAY = date(2026, 12, 3)


def seed(stores: Stores, count: int) -> None:
    rng = random.Random(7)
    table = stores.registrations._records  # bulk load, as a migration would
    batch = []
    for record in synthetic_registrations(count):
        attempts = rng.choice((0, 0, 1, 1, 2, 3, 5))
        record["contacts"] = [
            {
                "at": record["created_at"],
                "by": rng.choice(STAFF),
                "outcome": rng.choice(OUTCOMES),
                "note": None,
                "callback_on": None,
            }
            for _ in range(attempts)
        ]
        if rng.random() < 0.6:
            record["next_follow_up"] = (TODAY + timedelta(days=rng.randint(-10, 10))).isoformat()
        if rng.random() < 0.8:
            record["assigned_to"] = rng.choice(STAFF)
        batch.append((record["reg_no"], record))
        if len(batch) == 5_000:
            table.put_many(batch)
            batch = []
    table.put_many(batch)


def timed(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """Median and worst wall time of ``fn`` in ms."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def measure(stores: Stores, size: int) -> None:
    regs = stores.registrations
    rows = regs.follow_up_rows()
    queue = build_queue(rows, TODAY)
    print(f"{size:>7} leads ({len(queue)} in the queue)")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("read rows from the store", regs.follow_up_rows),
        ("order the queue: all", lambda: build_queue(rows, TODAY)),
        ("order the queue: mine", lambda: build_queue(rows, TODAY, assigned_to=STAFF[0])),
        (f"digests of {len(STAFF)} staff", lambda: build_digests(rows, STAFF, TODAY)),
        ("/antrian build (read + order all)", lambda: build_queue(regs.follow_up_rows(), TODAY)),
    ]
    for label, fn in cases:
        median, worst = timed(fn)
        print(f"  {label:<36} {median:8.1f} / {worst:8.1f}")


def main() -> None:
    print(f"follow-up queue, {RUNS} runs each: median / worst in ms")
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            with Stores.open(Path(tmp)) as stores:
                seed(stores, size)
            with Stores.open(Path(tmp)) as stores:  # reopened: read back from the files
                measure(stores, size)


if __name__ == "__main__":
    main()
