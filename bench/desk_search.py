"""Benchmark the staff search (``/cari``): the lead index at 10k and 100k synthetic leads.

Prints, per size: the index build time (once, on the first search of a process) and the memory it
holds (traced allocations), the cost of keeping it in step with one write, then p50/p99 of a
query per kind of key —
registration number, its last digits, a whole NIK, the NIK's last 4 digits, a phone typed as
``08…``, a name word, a name with a typo — each query timed alone.

Run: ``.venv/bin/python bench/desk_search.py``
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store.lead_index import LeadIndex

SIZES = (10_000, 100_000)
QUERIES = 300
FIRST = [
    "Siti",
    "Ahmad",
    "Dede",
    "Rina",
    "Budi",
    "Asep",
    "Ujang",
    "Euis",
    "Nur",
    "Muhammad",
    "Dewi",
    "Sri",
    "Agus",
    "Yayan",
    "Iwan",
    "Neng",
]
LAST = [
    "Aminah",
    "Fauzi",
    "Suryana",
    "Marlina",
    "Santoso",
    "Hidayat",
    "Rahmawati",
    "Setiawan",
    "Kurniawan",
    "Nurhaliza",
    "Saputra",
    "Maulana",
    "Wahyudi",
    "Lestari",
    "Permana",
    "Sulaeman",
    "Ramdani",
    "Hermawan",
    "Fitriani",
    "Gunawan",
]


def synthetic(size: int, rng: random.Random) -> list[dict[str, str]]:
    records = []
    for i in range(1, size + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}{rng.randint(0, 40)}"
        records.append(
            {
                "reg_no": f"SRG-2026-{i:06d}",
                "full_name": name,
                "nik": f"3673{rng.randint(10**11, 10**12 - 1)}",
                "phone": f"+628{rng.randint(10**9, 10**10 - 1)}",
            }
        )
    return records


def _typo(word: str, rng: random.Random) -> str:
    at = rng.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1 :]


def main() -> None:
    rng = random.Random(7)
    print(
        f"{'leads':>8} {'build s':>8} {'index MB':>9} {'write µs':>9}   "
        "query kind: p50 / p99 ms (results)"
    )
    for size in SIZES:
        records = synthetic(size, rng)
        started = time.perf_counter()
        index = LeadIndex()
        index.build(records)
        built = time.perf_counter() - started
        gc.freeze()  # as IndexedCollection.searchable does after the build
        tracemalloc.start()  # a second build, traced, for the memory it holds
        traced = LeadIndex()
        traced.build(records)
        memory = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del traced
        sample = rng.sample(records, QUERIES)
        started = time.perf_counter()
        for record in sample:
            index.put({**record, "full_name": f"{record['full_name']} X"})
            index.put(record)
        write_us = (time.perf_counter() - started) / (2 * QUERIES) * 1e6
        kinds = {
            "reg_no": lambda r: str(r["reg_no"]),
            "reg digits": lambda r: str(int(str(r["reg_no"])[-6:])),
            "nik": lambda r: str(r["nik"]),
            "nik last 4": lambda r: str(r["nik"])[-4:],
            "phone 08…": lambda r: "0" + str(r["phone"])[3:],
            "name word": lambda r: str(r["full_name"]).split()[1],
            "name typo": lambda r: (
                _typo(str(r["full_name"]).split()[1], rng) + " " + str(r["full_name"]).split()[0]
            ),
        }
        print(f"{size:>8} {built:>8.2f} {memory:>9.1f} {write_us:>9.1f}")
        for kind, query_of in kinds.items():
            times, counts = [], []
            for record in sample:
                query = query_of(record)
                started = time.perf_counter_ns()
                hits = index.search(query, limit=200)
                times.append((time.perf_counter_ns() - started) / 1e6)
                counts.append(len(hits))
            p50 = statistics.median(times)
            p99 = statistics.quantiles(times, n=100)[98]
            print(
                f"{'':>38}{kind:<11}: {p50:6.3f} / {p99:6.3f} ms "
                f"(median {statistics.median(counts):.0f} results)"
            )


if __name__ == "__main__":
    main()
