"""Matching latency on the real knowledge base and on copies of it 10 and 100 times larger.

Run: ``.venv/bin/python bench/faq_match.py [--queries N]``. Queries are drawn (with a fixed seed)
from ``tests/data/faq_regression.yaml``; each is timed alone with ``time.perf_counter_ns``.
Goals: p99 <= 2 ms on the real knowledge base, <= 20 ms at x100.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.matcher import Matcher  # noqa: E402
from faq.model import KnowledgeBase, load_knowledge_base  # noqa: E402

REGRESSION = ROOT / "tests" / "data" / "faq_regression.yaml"


def replicate(kb: KnowledgeBase, times: int) -> KnowledgeBase:
    """The knowledge base with every entry copied ``times`` times under new ids."""
    copies = tuple(
        entry if n == 0 else replace(entry, id=f"{entry.id}-{n}")
        for n in range(times)
        for entry in kb.entries
    )
    return KnowledgeBase(topics=kb.topics, entries=copies)


def questions() -> list[str]:
    """Every question and no-answer line of the regression set."""
    data = yaml.safe_load(REGRESSION.read_text(encoding="utf-8"))
    return [q["q"] for q in data["questions"]] + list(data.get("no_answer", []))


def percentile(sorted_ns: list[int], fraction: float) -> float:
    """The value at ``fraction`` (0-1) of a sorted list, in milliseconds."""
    index = min(len(sorted_ns) - 1, round(fraction * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


def measure(matcher: Matcher, queries: list[str]) -> tuple[float, float]:
    """p50 and p99 latency of ``matcher.match`` in milliseconds."""
    for query in queries[:50]:  # warm up caches and the allocator
        matcher.match(query)
    timings = []
    for query in queries:
        start = time.perf_counter_ns()
        matcher.match(query)
        timings.append(time.perf_counter_ns() - start)
    timings.sort()
    return percentile(timings, 0.50), percentile(timings, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3000, help="queries per size")
    args = parser.parse_args()

    pool = questions()
    queries = random.Random(2026).choices(pool, k=args.queries)
    kb = load_knowledge_base()
    print(f"{len(queries)} queries drawn from {len(pool)} regression lines")
    # p99 is sensitive to other processes competing for the CPU: report the load it ran under
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"{'size':>5} {'entries':>8} {'choices':>8} {'build ms':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for times in (1, 10, 100):
        big = replicate(kb, times)
        start = time.perf_counter_ns()
        matcher = Matcher(big)
        build_ms = (time.perf_counter_ns() - start) / 1e6
        p50, p99 = measure(matcher, queries)
        print(
            f"{'x' + str(times):>5} {len(big.entries):>8} {matcher.choice_count:>8} "
            f"{build_ms:>9.0f} {p50:>8.3f} {p99:>8.3f}"
        )


if __name__ == "__main__":
    main()
