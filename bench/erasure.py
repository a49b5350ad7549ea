"""Erasure benchmark: what ``Stores.delete_user`` costs now that it is physical (every store
holding the citizen's data rewritten: snapshot replaced, journals dropped), with 1k, 10k and 100k
citizens stored (each with a registration, a screening with answers, a consent, a user record, a
subscription and conversation state), split into the deletions and the rewriting.

Run: ``.venv/bin/python bench/erasure.py [--sizes 1000,10000,100000] [--samples 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.storage import YEAR, registration
from store import Stores
from store.durable import Database

ANSWERS = {f"q{n:02d}": "tidak" if n % 3 else "ya, pernah 2019" for n in range(20)}


def write_store(data_dir: Path, name: str, tables: dict[str, Iterator[tuple[str, Any]]]) -> None:
    """A store written straight as a snapshot (the format of ``store/durable.py``)."""
    path = data_dir / f"{name}.json"
    with path.open("w", encoding="utf-8") as out:
        out.write('{"format":1,"seq":1,"tables":{')
        for number, (table, docs) in enumerate(tables.items()):
            out.write(f'{"," if number else ""}\n"{table}":{{')
            for index, (key, doc) in enumerate(docs):
                text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                out.write(f"{',' if index else ''}\n{json.dumps(key)}:{text}")
            out.write("}")
        out.write("\n}}\n")
    os.chmod(path, 0o600)


def populate(data_dir: Path, size: int) -> None:
    data_dir.mkdir(mode=0o700, parents=True)
    at = f"{YEAR}-03-02T08:00:00+00:00"
    uids = range(10_000_001, 10_000_001 + size)
    write_store(
        data_dir,
        "registrations",
        {
            "registrations": (
                (f"SRG-{YEAR}-{n:06d}", registration(n)) for n in range(1, size + 1)
            ),
            "counters": iter([(f"reg_no:{YEAR}", {"last": size})]),
        },
    )
    screening = {"result": {"eps_korea": "eligible"}, "consent": True, "at": at}
    consent = {"purpose": "screening_health", "version": "v1", "granted": True, "at": at}
    write_store(
        data_dir,
        "screenings",
        {
            "screenings": (
                (str(u), {"user_id": u, "answers": ANSWERS, **screening}) for u in uids
            ),
            "consents": ((f"c{u}", {"id": f"c{u}", "user_id": u, **consent}) for u in uids),
        },
    )
    user = {"lang": "id", "first_seen": at, "last_seen": at}
    write_store(data_dir, "users", {"users": ((str(u), {"user_id": u, **user}) for u in uids)})
    sub = {"source": "start", "active": True, "subscribed_at": at}
    write_store(
        data_dir,
        "subscribers",
        {"subscribers": ((str(u), {"user_id": u, "chat_id": u, **sub}) for u in uids)},
    )
    write_store(data_dir, "kv", {"user_data": ((str(u), {"value": {"lang": "id"}}) for u in uids)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for size in [int(size) for size in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-erasure-") as work:
            data_dir = Path(work) / "data"
            populate(data_dir, size)
            stores = Stores.open(data_dir)
            megabytes = sum(p.stat().st_size for p in data_dir.iterdir()) / 1e6
            rewriting: list[float] = []
            real_compact = Database.compact

            def timed_compact(
                self: Database, real: Any = real_compact, spent: list[float] = rewriting
            ) -> None:
                began = time.perf_counter()
                real(self)
                spent[-1] += time.perf_counter() - began

            Database.compact = timed_compact  # type: ignore[method-assign]
            totals = []
            step = max(1, size // args.samples)
            for n in range(1, size + 1, step)[: args.samples]:
                rewriting.append(0.0)
                began = time.perf_counter()
                counts = stores.delete_user(10_000_000 + n)
                totals.append(time.perf_counter() - began)
                assert counts["registrations"] == 1 and counts["screenings"] == 1
            Database.compact = real_compact  # type: ignore[method-assign]
            stores.close()
            rows.append((size, megabytes, totals, rewriting))
        print(f"  measured {size}", file=sys.stderr, flush=True)
    header = (
        f"{'citizens':>9}{'data MB':>9}{'n':>4}{'erase p50 s':>13}{'erase max s':>13}"
        f"{'rewrite p50 s':>15}{'delete p50 s':>14}"
    )
    print(header)
    print("-" * len(header))
    for size, megabytes, totals, rewriting in rows:
        deletes = [total - rewrite for total, rewrite in zip(totals, rewriting, strict=True)]
        print(
            f"{size:>9}{megabytes:>9.1f}{len(totals):>4}{statistics.median(totals):>13.3f}"
            f"{max(totals):>13.3f}{statistics.median(rewriting):>15.3f}"
            f"{statistics.median(deletes):>14.3f}"
        )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
