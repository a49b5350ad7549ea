"""Grouping of unanswered questions for /pertanyaan: time at 1k, 10k and 50k open questions."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.unanswered import group_questions

TEMPLATES = [
    "kapan pendaftaran eps topik dibuka",
    "berapa biaya kursus bahasa korea",
    "syarat kerja ke jepang apa saja",
    "bagaimana cara daftar beasiswa gks",
    "apakah berangkat ke korea gratis",
]
FILLERS = ["", " min", " kak", " ya", " dong"]


def questions(n: int) -> list[dict[str, object]]:
    common = [f"{TEMPLATES[i % 5]}{FILLERS[i // 5 % 5]} #{i % 997}" for i in range(n * 5 // 6)]
    rare = [f"pertanyaan acak nomor {i} {i * 7919}" for i in range(n - len(common))]
    at = "2026-12-01T00:00:00+00:00"
    return [
        {"id": str(i), "text": text, "lang": "id", "at": at}
        for i, text in enumerate([*common, *rare])
    ]


def main() -> None:
    for n in (1_000, 10_000, 50_000):
        items = questions(n)
        started = time.perf_counter()
        groups = group_questions(items)
        elapsed = time.perf_counter() - started
        print(f"{n:>6} questions: {len(groups):>6} groups in {elapsed * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
