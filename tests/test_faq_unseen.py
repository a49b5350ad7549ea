"""Questions written by people who never saw the knowledge base (tests/data/faq_unseen.yaml and
faq_unseen2.yaml, never read while building the matcher) and the writer's batches the matcher
was tuned on.

The issue's bar is 90% right and at most 3% confidently wrong on unseen questions; this matcher
does not reach it yet. The bars below are the measured figures minus noise (about two
questions), so a change that makes things worse fails; raise them as the figures improve.
Measured when set (matcher c58e352): unseen 85.3% right, 4.7% confidently wrong; unseen2 (batches
9-14, more varied voices) 60.0% / 12.9%; the tuning batches 92.8% / 0.3%.
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
    "faq_unseen.yaml": (0.84, 0.055, 2),
    "faq_unseen2.yaml": (0.58, 0.14, 2),
    "faq_tuning.yaml": (0.90, 0.01, 0),
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
