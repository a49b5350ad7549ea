"""FAQ matching: accuracy per labelled set, then latency on the real knowledge base and ×100.

Run: ``.venv/bin/python bench/faq_match.py [--queries N] [--misses SET]``.

Per set (regression, held-out 1 and 2, the unseen set, the tuning batches): the share answered
right, answered confidently wrong (a direct answer with a wrong entry, or any answer to an
off-topic question), offered a "Maksud Anda…?" list, and sent to the fallback; see
faq/evaluation.py. Then p50/p99 of ``Matcher.match`` on the real base and on a base ×100
(every entry copied under altered ids), each query timed alone with ``time.perf_counter_ns``,
and the build (training) time. Queries are drawn with a fixed seed from every set's questions.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.evaluation import Question, evaluate, load_questions  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.model import KnowledgeBase, load_knowledge_base  # noqa: E402

DATA = ROOT / "tests" / "data"
SETS = {
    "regression": "faq_regression.yaml",
    "holdout 1": "faq_holdout.yaml",
    "holdout 2": "faq_holdout2.yaml",
    "unseen": "faq_unseen.yaml",
    "unseen 3": "faq_unseen3.yaml",
    "batches (tuning)": "faq_tuning.yaml",
}


def replicate(kb: KnowledgeBase, times: int) -> KnowledgeBase:
    """The knowledge base with every entry copied ``times`` times under new ids."""
    copies = tuple(
        entry if n == 0 else replace(entry, id=f"{entry.id}-{n}")
        for n in range(times)
        for entry in kb.entries
    )
    return KnowledgeBase(topics=kb.topics, entries=copies, off_topic=kb.off_topic)


def batches(path: Path) -> dict[str, list[Question]]:
    """The tuning file's questions per batch (its ``batch`` field), in file order."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    questions = load_questions(path)
    grouped: dict[str, list[Question]] = {}
    for item, question in zip(raw, questions, strict=True):
        grouped.setdefault(f"batch {item.get('batch', '?')}", []).append(question)
    return grouped


def percentile(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, round(fraction * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


def measure(matcher: Matcher, queries: list[str]) -> tuple[float, float]:
    for query in queries[:50]:
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
    parser.add_argument("--queries", type=int, default=2000, help="queries per size")
    parser.add_argument("--misses", help="also list the misses of this set (e.g. 'holdout 2')")
    args = parser.parse_args()

    kb = load_knowledge_base()
    start = time.perf_counter_ns()
    matcher = Matcher(kb)
    build_ms = (time.perf_counter_ns() - start) / 1e6
    sets: dict[str, list[Question]] = {}
    for name, file in SETS.items():
        if (DATA / file).is_file():
            sets[name] = load_questions(DATA / file)
    if (DATA / SETS["batches (tuning)"]).is_file():
        sets.update(batches(DATA / SETS["batches (tuning)"]))
    print(f"{len(kb.entries)} entries, {matcher.choice_count} texts, built in {build_ms:.0f} ms")
    header = f"{'set':<18}{'n':>5}{'right':>8}{'conf.wrong':>11}{'suggest':>9}{'fallback':>9}"
    print(header + f"{'harm.wrong':>11}")
    for name, questions in sets.items():
        report = evaluate(matcher, name, questions)
        print(
            f"{name:<18}{report.total:>5}{report.accuracy:>8.1%}{report.confident_wrong:>11.1%}"
            f"{report.share('suggest'):>9.1%}{report.share('fallback'):>9.1%}"
            f"{report.harmful_wrong:>11}"
        )
        if args.misses == name:
            for outcome in report.misses():
                print("   ", outcome.verdict, outcome.describe())

    pool = [q.q for questions in sets.values() for q in questions]
    queries = random.Random(2026).choices(pool, k=args.queries)
    print(f"\n{len(queries)} queries drawn from {len(pool)} questions")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    print(
        f"{'size':>5} {'entries':>8} {'second':>7} {'build ms':>9} {'ready ms':>9}"
        f" {'p50 ms':>8} {'p99 ms':>8}"
    )
    # x100 without the second opinion: 8,900 one-against-the-rest SVMs would take minutes
    for times, second in ((1, True), (1, False), (100, False)):
        big = replicate(kb, times)
        start = time.perf_counter_ns()
        sized = Matcher(big, second_opinion=second)
        build = (time.perf_counter_ns() - start) / 1e6
        sized.match("berapa gaji di korea")  # an answer: waits for the second opinion
        ready = (time.perf_counter_ns() - start) / 1e6
        p50, p99 = measure(sized, queries)
        print(
            f"{'x' + str(times):>5} {len(big.entries):>8} {'yes' if second else 'no':>7}"
            f" {build:>9.0f} {ready:>9.0f} {p50:>8.3f} {p99:>8.3f}"
        )


if __name__ == "__main__":
    main()
