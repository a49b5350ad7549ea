"""Scoring the matcher on labelled question sets (the tests and ``bench/faq_match.py`` use it).

A set is a YAML file with ``questions``: ``{q, lang, expect, harm?}`` where ``expect`` is

- an entry id, or a list of ids any of which is right;
- ``off-topic``: the right outcome is the honest fallback (or small talk), never an entry;
- ``new:<slug>``: a topic the knowledge base lacked when the question was written; the slug
  is mapped to the entry written for it in :data:`NEW_TOPICS` (until it is, it counts as a miss).

Per question the outcome is one of: *right* (an answer with an expected entry, or a fallback
for an off-topic question), *confident-wrong* (an answer with another entry, or any answer to
an off-topic question), *suggest* (the "Maksud Anda…?" list) or *fallback*. Only direct right
answers count as accurate: a suggestion list costs the citizen a tap and is reported apart,
with how often it holds the right entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faq.matcher import Match, Matcher

OFF_TOPIC = "off-topic"
NEW_PREFIX = "new:"

# Entries that answer an out-of-scope question with a short pointer elsewhere ("this bot covers
# the Sister City programme; for a tourist visa see the Korean embassy"): issue 9 asks for such
# pointers instead of a wrong answer, so for a question labelled off-topic they count as right,
# like the fallback. They are the only entries that do.
POINTER_ENTRIES = frozenset({"tourist-visa", "other-countries"})

# The one place where an unseen-set writer's ``new:<slug>`` labels meet the entries written for
# them (item 3 of issue 9). A slug missing here counts as a miss.
NEW_TOPICS: Mapping[str, str] = {
    "bst-fishery": "bst-fishery",
    "drug-test": "drug-test",
    "family-permission": "family-permission",
    "reentry-permit": "reentry-permit",
    "registration-closes": "registration-closes",
    "training-duration": "training-duration",
    "pre-departure-education": "pre-departure",
    "pre-departure": "pre-departure",
    "gks-not-covered": "gks-not-covered",
    "gks-coverage": "gks-not-covered",
    "data-retention": "data-retention",
    "registration-free": "registration-free",
    "never-pay": "registration-free",
    "im-japan-age": "im-japan-age",
    "slc": "slc",
    "prayer-halal": "prayer-halal",
    "work-experience": "work-experience",
    "housewife": "work-experience",
    "disnaker-office": "disnaker-office",
    "office": "disnaker-office",
    "tourist-visa": "tourist-visa",
    "other-countries": "other-countries",
}


@dataclass(frozen=True)
class Question:
    """One labelled question."""

    q: str
    lang: str
    expect: tuple[str, ...]  # entry ids; () for off-topic
    harm: bool = False
    label: str = ""  # the raw label, for reports


@dataclass(frozen=True)
class Outcome:
    """What the matcher did with one question."""

    question: Question
    match: Match
    verdict: str  # "right" | "wrong" (confidently) | "suggest" | "fallback"
    suggest_holds_right: bool = False

    def describe(self) -> str:
        """A one-line account for a miss report."""
        m = self.match
        got = m.entry.id if m.entry else [e.id for e in m.suggestions]
        return (
            f"{self.question.q!r} expected {self.question.label}, got {m.kind} {got} "
            f"({m.score:.0f})"
        )


@dataclass
class Report:
    """The figures of one set."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    def share(self, verdict: str) -> float:
        """The share (0-1) of questions with this verdict."""
        if not self.outcomes:
            return 0.0
        return sum(o.verdict == verdict for o in self.outcomes) / self.total

    @property
    def accuracy(self) -> float:
        return self.share("right")

    @property
    def confident_wrong(self) -> float:
        return self.share("wrong")

    @property
    def harmful_wrong(self) -> int:
        """Confident wrong answers to questions marked harmful-if-wrong."""
        return sum(o.verdict == "wrong" and o.question.harm for o in self.outcomes)

    @property
    def suggest_right(self) -> float:
        """The share of questions answered with a suggestion list that holds a right entry."""
        if not self.outcomes:
            return 0.0
        return sum(o.suggest_holds_right for o in self.outcomes) / self.total

    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict != "right"]

    def summary(self) -> str:
        return (
            f"{self.name}: {self.total} questions, right {self.accuracy:.1%}, "
            f"confident-wrong {self.confident_wrong:.1%}, suggest {self.share('suggest'):.1%} "
            f"(right inside {self.suggest_right:.1%}), fallback {self.share('fallback'):.1%}, "
            f"harmful wrong {self.harmful_wrong}"
        )


def parse_label(label: Any, new_topics: Mapping[str, str] = NEW_TOPICS) -> tuple[str, ...]:
    """The entry ids a label accepts; ``()`` for off-topic, ``("new:slug",)`` if unmapped."""
    labels = [label] if isinstance(label, str) else list(label)
    ids: list[str] = []
    for item in labels:
        item = str(item).strip()
        if item == OFF_TOPIC:
            continue
        if item.startswith(NEW_PREFIX):
            item = new_topics.get(item[len(NEW_PREFIX) :], item)
        ids.append(item)
    return tuple(ids)


def load_questions(path: Path, new_topics: Mapping[str, str] = NEW_TOPICS) -> list[Question]:
    """The labelled questions of one YAML set."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw = data["questions"] if isinstance(data, dict) else data
    questions = []
    for item in raw:
        label = item["expect"]
        questions.append(
            Question(
                q=str(item["q"]),
                lang=str(item.get("lang", "id")),
                expect=parse_label(label, new_topics),
                harm=bool(item.get("harm", False)),
                label=str(label),
            )
        )
    return questions


def judge(question: Question, match: Match) -> Outcome:
    """The verdict on one match."""
    if match.kind == "answer" and match.entry is not None:
        right = match.entry.id in question.expect
        if not question.expect and match.entry.id in POINTER_ENTRIES:
            right = True
        return Outcome(question, match, "right" if right else "wrong")
    if not question.expect:  # off-topic: the fallback (or small talk) is right
        if match.kind in {"fallback", "smalltalk"}:
            return Outcome(question, match, "right")
        return Outcome(question, match, "suggest")
    if match.kind == "suggest":
        holds = any(e.id in question.expect for e in match.suggestions)
        return Outcome(question, match, "suggest", suggest_holds_right=holds)
    return Outcome(question, match, "fallback")


def evaluate(matcher: Matcher, name: str, questions: Iterable[Question]) -> Report:
    """Match every question and judge it."""
    report = Report(name)
    for question in questions:
        report.outcomes.append(judge(question, matcher.match(question.q)))
    return report


def unknown_labels(questions: Sequence[Question], known_ids: Iterable[str]) -> set[str]:
    """Expected ids that are not entries (unmapped ``new:`` slugs or typos in a set)."""
    known = set(known_ids)
    return {i for q in questions for i in q.expect if i not in known}
