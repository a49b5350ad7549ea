"""Questions written by people who never saw the knowledge base (tests/data/faq_unseen.yaml and
faq_unseen3.yaml, never read while building the matcher) and the writers' batches the matcher
was tuned on (faq_tuning.yaml, which took in the former faq_unseen2.yaml once it was measured).

The issue's bar is 90% right and at most 3% confidently wrong on unseen questions; this matcher
does not reach it yet. The bars below are the measured figures minus noise (about two
questions), so a change that makes things worse fails; raise them as the figures improve.
Measured when set (matcher c58e352): unseen 85.3% right, 4.7% confidently wrong; unseen2 (batches
9-14, more varied voices) 60.0% / 12.9%; the tuning batches 92.8% / 0.3%. Batches 15-18
(faq_unseen3.yaml) at first sight on matcher 986eb45: 86.9% / 4.4%; with the dialect lexicon and
faq/data/paraphrases.yaml: unseen 89.6% / 3.0%, unseen3 89.4% / 3.8%, tuning (now with batches
9-14) 85.5% / 3.4%.
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
    "faq_unseen.yaml": (0.88, 0.04, 1),
    "faq_unseen3.yaml": (0.875, 0.05, 1),
    "faq_tuning.yaml": (0.84, 0.045, 2),
}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge_base())


@pytest.mark.parametrize("name", sorted(BARS))
def test_unseen_questions(matcher: Matcher, name: str) -> None:
    right, wrong, harmful = BARS[name]
    questions = load_questions(DATA / name)
    assert len(questions) >= 160
    report = evaluate(matcher, name, questions)
    assert report.accuracy >= right, report.summary()
    assert report.confident_wrong <= wrong, report.summary()
    assert report.harmful_wrong <= harmful, report.summary()


def test_off_topic_labels_mean_the_fallback() -> None:
    questions = load_questions(DATA / "faq_tuning.yaml")
    off = [q for q in questions if not q.expect]
    assert off, "the batches hold off-topic questions"
