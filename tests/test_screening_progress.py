"""The progress line counts only the questions this citizen will see, and never jumps; the
questionnaire asks each citizen only what applies to them."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from screening.engine import CONSENT_ID, Engine, Progress

TODAY = date(2026, 12, 2)
ENGINE = Engine.default(today=TODAY)

# One answer per question; the branches below flip the ones that open follow-up questions.
BASE: dict[str, Any] = {
    "domicile": True,
    "kecamatan": "serang",
    "birth_date": "2000-02-20",
    "sex": "male",
    "education": "sma",
    "school_level": "s1_student",
    "has_bachelor": False,
    "grade_average": 3.2,
    "english_level": "basic",
    "korean_level": "learning",
    "eps_topik_score": 130,
    "japanese_level": "n5",
    "experience_fields": ["manufacturing"],
    "experience_years": 2,
    "certificates": ["none"],
    "been_to_korea": False,
    "years_e9_e10": 1,
    "lpk_willing": True,
    "color_blind": False,
    "tb_history": False,
    "tb_treated": True,
    "hepatitis": False,
    "syphilis_hiv": False,
    "chronic_illness": False,
    "fingers_complete": True,
    "imprisoned": False,
    "deported_korea": False,
    "overstayed_korea": False,
}
BRANCHES: list[dict[str, Any]] = [
    {},
    {"domicile": False},
    {"korean_level": "eps_topik", "been_to_korea": True, "tb_history": True},
    {"experience_fields": ["none"], "school_level": "sma_final"},
]
INTERESTS = [
    ["korea_work"],
    ["japan_work"],
    ["scholarship"],
    ["korea_work", "scholarship"],
    ["korea_work", "japan_work", "scholarship"],
]
CASES = list(itertools.product(range(len(INTERESTS)), range(len(BRANCHES)), (True, False)))


def walk(
    interests: list[str], branch: dict[str, Any], consent: bool
) -> tuple[list[tuple[str, Progress]], dict[str, Any]]:
    """Answer whatever the engine asks next; the progress shown at every step."""
    answers: dict[str, Any] = {}
    given: bool | None = None
    shown: list[tuple[str, Progress]] = []
    values = {**BASE, **branch, "programmes": interests}
    while (question := ENGINE.next_question(answers, consent=given)) is not None:
        shown.append((question.id, ENGINE.progress_info(answers, question.id, consent=given)))
        assert len(shown) < 60
        if question.id == CONSENT_ID:
            given = consent
        else:
            answers[question.id] = values[question.id]
    return shown, answers


@pytest.mark.parametrize(("interests", "branch", "consent"), CASES)
def test_the_counter_never_jumps(interests: int, branch: int, consent: bool) -> None:
    shown, _ = walk(INTERESTS[interests], BRANCHES[branch], consent)
    asked = [qid for qid, _ in shown if qid != CONSENT_ID]
    for (before_id, before), (qid, progress) in itertools.pairwise(shown):
        assert progress.total == progress.position + progress.remaining
        # One more per answered question; the consent marker shares the number of the
        # sensitive question that follows it.
        step = progress.position - before.position
        assert step == (0 if before_id == CONSENT_ID else 1), (before_id, qid)
        assert progress.total <= before.total, (qid, before, progress)
        if before.exact:
            assert progress.exact and progress.total == before.total
    # The last question asked (consent declined: the marker is the last screen, then the review).
    last = [progress for qid, progress in shown if qid != CONSENT_ID][-1]
    assert last.position == len(asked)
    if consent or CONSENT_ID not in dict(shown):
        assert last.remaining == 0 and last.exact
    else:  # asked before the consent decision: the health questions might still follow
        assert not last.exact
    # Whenever the count was given as exact, it was the number of questions actually asked.
    for _, progress in shown:
        if progress.exact:
            assert progress.total == len(asked)


def test_the_counter_reported_in_issue_11_cannot_happen() -> None:
    """ "2 dari 16" followed by "14 dari 19": the position moved by 12 and the total grew."""
    for interests, branch, consent in CASES:
        shown, _ = walk(INTERESTS[interests], BRANCHES[branch], consent)
        positions = [p.position for _, p in shown]
        totals = [p.total for _, p in shown]
        assert all(b - a in (0, 1) for a, b in itertools.pairwise(positions))
        assert all(b <= a for a, b in itertools.pairwise(totals))


def test_the_line_says_of_n_only_when_n_is_settled() -> None:
    shown, _ = walk(["scholarship"], {}, True)
    texts = [progress.text("id") for _, progress in shown]
    assert texts[1].startswith("Pertanyaan 2 · sekitar ") and texts[1].endswith(" lagi")
    assert texts[-1] == f"Pertanyaan {len(shown)} dari {len(shown)}"
    assert shown[-1][1].text("en") == f"Question {len(shown)} of {len(shown)}"
    assert Progress(3, 12, 9, False).text("en") == "Question 3 · about 9 more"


def test_progress_keeps_the_old_tuple_form_for_the_bot() -> None:
    shown, answers = walk(["korea_work"], {}, True)
    qid, progress = shown[-1]
    assert ENGINE.progress(answers, qid, consent=True) == (progress.position, progress.total)


def test_a_scholarship_only_citizen_is_never_asked_about_work_or_training() -> None:
    work_questions = {
        "lpk_willing",
        "certificates",
        "experience_fields",
        "experience_years",
        "korean_level",
        "eps_topik_score",
        "japanese_level",
        "been_to_korea",
        "years_e9_e10",
    }
    for branch in BRANCHES:
        for consent in (True, False):
            shown, _ = walk(["scholarship"], branch, consent)
            asked = {qid for qid, _ in shown}
            assert not asked & work_questions, asked & work_questions
            assert CONSENT_ID not in asked  # no health or legal question for a scholarship
            assert not any(ENGINE.question(qid).sensitive for qid in asked)


def test_a_student_who_has_not_graduated_reads_will_graduate() -> None:
    school = ENGINE.question("school_level")
    assert "akan lulus" in school.choice("sma_final").text["id"]  # type: ignore[union-attr]
    assert "akan lulus" in school.choice("s1_final").text["id"]  # type: ignore[union-attr]
    assert "will graduate" in school.choice("sma_final").text["en"]  # type: ignore[union-attr]
    answers = {
        "programmes": ["scholarship"],
        "domicile": True,
        "birth_date": "2008-09-14",
        "education": "smp",
        "school_level": "sma_final",
        "grade_average": 88,
    }
    (gks,) = ENGINE.evaluate(answers, consent=True).programmes
    school_reason = next(r for r in gks.reasons if r.criterion == "high_school")
    assert "akan lulus" in school_reason.text["id"]
    assert "sudah" not in school_reason.text["id"]
    assert "will finish" in school_reason.text["en"]
    done = ENGINE.evaluate({**answers, "school_level": "sma_done"}, consent=True)
    done_reason = next(r for r in done.programmes[0].reasons if r.criterion == "high_school")
    assert "sudah lulus" in done_reason.text["id"] and "akan" not in done_reason.text["id"]
    graduate = ENGINE.evaluate(
        {
            **answers,
            "programmes": ["gks_graduate"],
            "school_level": "s1_final",
            "has_bachelor": False,
            "education": "sma",
            "birth_date": "2003-01-01",
            "grade_average": 3.5,
        },
        consent=True,
    )
    degree = next(r for r in graduate.programmes[0].reasons if r.criterion == "degree")
    assert "akan lulus S1" in degree.text["id"] and "sudah" not in degree.text["id"]
