"""Questions written by people who never saw the knowledge base (tests/data/faq_unseen.yaml and
faq_unseen3.yaml, never read while building the matcher) and the writers' batches the matcher
was tuned on (faq_tuning.yaml, which took in the former faq_unseen2.yaml once it was measured).

The issue's bar is 90% right and at most 3% confidently wrong on unseen questions. The bars below
are the measured figures minus noise (about two questions), so a change that makes things worse
fails; raise them as the figures improve. Measured on the final matcher of 2026-12-03
(c12061e, with the second opinion of faq/second.py): unseen 94.0% right, 1.7% confidently wrong;
unseen3 (batches 15-30, eight writers, 640 questions) 89.1% / 1.7%; tuning 89.3% / 1.1%. On
986eb45, before that session's changes: unseen 85.3% / 4.7%, unseen3 80.5% / 8.8%. Each
batch's first-sight score is in its file's header.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.evaluation import evaluate, load_questions
from faq.matcher import Matcher
from faq.model import load_knowledge_base

DATA = Path(__file__).parent / "data"
BARS = {
    # set: (least share right, most share confidently wrong, most harmful wrong answers)
    "faq_unseen.yaml": (0.925, 0.025, 1),
    "faq_unseen3.yaml": (0.88, 0.025, 1),
    "faq_tuning.yaml": (0.88, 0.02, 1),
}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge_base())


@pytest.mark.parametrize("name", sorted(BARS))
def test_unseen_questions(matcher: Matcher, name: str) -> None:
    right, wrong, harmful = BARS[name]
    questions = load_questions(DATA / name)
    assert len(questions) >= (200 if "unseen" in name else 160)
    report = evaluate(matcher, name, questions)
    assert report.accuracy >= right, report.summary()
    assert report.confident_wrong <= wrong, report.summary()
    assert report.harmful_wrong <= harmful, report.summary()


def test_off_topic_labels_mean_the_fallback() -> None:
    questions = load_questions(DATA / "faq_tuning.yaml")
    off = [q for q in questions if not q.expect]
    assert off, "the batches hold off-topic questions"
