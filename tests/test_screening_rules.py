"""Table-driven rule tests: every profile in tests/data/screening_profiles.yaml is evaluated
and each programme's outcome (and any pinned criterion) must match the table."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.engine import Engine
from screening.model import NOT_ASSESSED, OUTCOMES, load_questionnaire, load_rules
from screening.report import evaluation_to_dict

TABLE = yaml.safe_load(
    (Path(__file__).parent / "data" / "screening_profiles.yaml").read_text(encoding="utf-8")
)
PROFILES: list[dict[str, Any]] = TABLE["profiles"]


@cache
def _engine(
    today: date, reference: date | None, window: date | None, entry_year: int | None
) -> Engine:
    return Engine(
        load_questionnaire(),
        load_rules(),
        reference,
        today=today,
        window=window,
        gks_entry_year=entry_year,
    )


def engine_for(profile: dict[str, Any]) -> Engine:
    """The engine a profile is checked with: on its `today` (else the table's), with its
    optional fixed `reference_date`, announced `window` and pinned `gks_entry_year`."""
    return _engine(
        profile.get("today", TABLE["today"]),
        profile.get("reference_date"),
        profile.get("window"),
        profile.get("gks_entry_year"),
    )


ENGINE = engine_for({})


def test_the_table_is_big_enough_and_names_are_unique() -> None:
    assert len(PROFILES) >= 40
    names = [profile["name"] for profile in PROFILES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("profile", PROFILES, ids=[p["name"] for p in PROFILES])
def test_profile(profile: dict[str, Any]) -> None:
    engine = engine_for(profile)
    evaluation = engine.evaluate(profile["answers"], consent=profile.get("consent", True))
    for programme, expected in profile["expect"].items():
        assert evaluation.outcome(programme) == expected, programme
    results = {result.programme: result for result in evaluation.programmes}
    for key, expected in (profile.get("criteria") or {}).items():
        programme, criterion = key.split(".")
        reason = next(r for r in results[programme].reasons if r.criterion == criterion)
        assert reason.outcome == expected, key
    for programme, expected in (profile.get("age_on") or {}).items():
        age_date = results[programme].age_date
        assert age_date is not None, programme
        assert (age_date.day, age_date.basis) == (expected["date"], expected["basis"]), programme


@pytest.mark.parametrize("profile", PROFILES, ids=[p["name"] for p in PROFILES])
def test_every_reason_is_complete_in_both_languages(profile: dict[str, Any]) -> None:
    evaluation = engine_for(profile).evaluate(
        profile["answers"], consent=profile.get("consent", True)
    )
    assert evaluation.programmes
    for result in evaluation.programmes:
        assert result.reasons
        for reason in result.reasons:
            for lang in ("id", "en"):
                assert reason.text[lang] and reason.next_step[lang]
                assert "{" not in reason.text[lang] + reason.next_step[lang]
    for lang in ("id", "en"):
        json.dumps(evaluation_to_dict(evaluation, lang))


def test_programme_outcome_is_the_most_severe_assessed_criterion() -> None:
    for profile in PROFILES:
        if profile.get("consent") is False:
            continue  # declined criteria raise the headline: see the next test
        evaluation = engine_for(profile).evaluate(profile["answers"], consent=True)
        for result in evaluation.programmes:
            assessed = [r.outcome for r in result.reasons if r.outcome != NOT_ASSESSED]
            assert result.outcome == max(assessed, key=OUTCOMES.index)


def test_declined_health_questions_never_read_as_eligible() -> None:
    for profile in PROFILES:
        eps = engine_for(profile).evaluate(profile["answers"], consent=False)
        result = next((r for r in eps.programmes if r.programme == "eps_korea"), None)
        if result is not None:
            assert result.outcome in ("needs_medical_check", "not_resident", "not_eligible"), (
                profile["name"]
            )


def test_without_consent_no_outcome_comes_from_health_or_legal_answers() -> None:
    for profile in PROFILES:
        evaluation = engine_for(profile).evaluate(profile["answers"], consent=False)
        eps = next((r for r in evaluation.programmes if r.programme == "eps_korea"), None)
        if eps is None:
            continue
        by_id = {reason.criterion: reason for reason in eps.reasons}
        for criterion in ("color_vision", "tb", "hepatitis", "syphilis_hiv", "fitness", "prison"):
            assert by_id[criterion].outcome == NOT_ASSESSED
            assert (
                "MCU" in by_id[criterion].next_step["id"]
                or "SKCK" in (by_id[criterion].next_step["id"])
            )


def test_tb_history_never_rejects() -> None:
    for treated in (True, False, None):
        answers = {
            "programmes": ["korea_work"],
            "birth_date": "1995-01-01",
            "education": "sma",
            "tb_history": True,
            "tb_treated": treated,
        }
        assert ENGINE.evaluate(answers, consent=True).outcome("eps_korea") == "needs_medical_check"


def test_reference_date_override_moves_the_age_boundary() -> None:
    answers = {"programmes": ["korea_work"], "birth_date": "2008-09-01", "education": "smp"}
    assert ENGINE.evaluate(answers, consent=True).outcome("eps_korea") == "not_eligible"
    later = Engine(load_questionnaire(), load_rules(), TABLE["today"].replace(month=9))
    assert later.evaluate(answers, consent=True).outcome("eps_korea") == "eligible"


def test_default_engine_counts_ages_on_today_when_no_window_is_announced() -> None:
    engine = Engine.default(today=date(2026, 12, 2))
    assert engine.reference_date == date(2026, 12, 2)
    assert engine.reference().basis == "today"


def test_missing_answers_are_not_assessed_rather_than_guessed() -> None:
    evaluation = ENGINE.evaluate({"programmes": ["korea_work"]}, consent=True)
    (eps,) = evaluation.programmes
    assert eps.outcome == NOT_ASSESSED
    assert all(reason.outcome == NOT_ASSESSED for reason in eps.reasons)


def test_every_result_carries_the_initial_indication_disclaimer() -> None:
    evaluation = ENGINE.evaluate(PROFILES[0]["answers"], consent=True)
    assert "indikasi awal" in evaluation.disclaimer["id"]
    for name in ("KP2MI", "HRD Korea"):
        assert name in evaluation.disclaimer["id"] and name in evaluation.disclaimer["en"]
