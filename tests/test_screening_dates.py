"""The date ages are counted on: an announced registration window still ahead, else today in
the bot's time zone; GKS entry years from the round open on the day of the check; the result
says which date it used; a past window is a `check` warning."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import pytest
import yaml

import screening.engine
from bot.cli import build_parser
from bot.config import load_config
from screening.engine import Engine
from screening.model import (
    RULES_FILE,
    ScreeningDataError,
    load_questionnaire,
    load_rules,
)
from screening.report import age_date_text, evaluation_to_dict, format_evaluation
from screening.validate import date_warnings, validate_screening_data

REPO = Path(__file__).resolve().parent.parent
RAW_RULES = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
TODAY = date(2026, 12, 2)

EPS: dict[str, Any] = {
    "programmes": ["korea_work"],
    "domicile": True,
    "birth_date": "1986-06-15",  # 39 on 1 June 2026, 40 on 2 December 2026
    "education": "sma",
}


def _rules_with_window(tmp_path: Path, day: date | None) -> Path:
    raw = copy.deepcopy(RAW_RULES)
    raw["programmes"]["eps_korea"]["registration_window"] = (
        None
        if day is None
        else {"date": day, "source": {"id": "PENG. contoh", "en": "PENG. example"}}
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _engine(rules_path: Path | None = None, **kwargs: Any) -> Engine:
    kwargs.setdefault("today", TODAY)
    return Engine(load_questionnaire(), load_rules(rules_path), **kwargs)


# --------------------------------------------------------------------------------------------
# Today, in the bot's time zone


def test_today_is_taken_in_the_bot_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    instant = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # 01:30 on 2 December in Jakarta

    def fake_now(tz: tzinfo) -> datetime:
        return instant.astimezone(tz)

    monkeypatch.setattr(screening.engine, "now", fake_now)
    assert Engine.default().today() == date(2026, 12, 2)
    assert Engine.default(tz="UTC").today() == date(2026, 12, 1)
    evaluation = Engine.default().evaluate(EPS, consent=True)
    assert evaluation.reference_date == date(2026, 12, 2)
    assert evaluation.reference_basis == "today"


def test_the_shipped_rules_count_a_man_who_is_40_today_as_40() -> None:
    evaluation = Engine.default(today=TODAY).evaluate(EPS, consent=True)
    assert evaluation.outcome("eps_korea") == "not_eligible"
    (eps,) = evaluation.programmes
    age = next(r for r in eps.reasons if r.criterion == "age")
    assert "40 tahun pada 2 Desember 2026" in age.text["id"]


def test_today_may_be_a_date_a_function_or_given_per_evaluation() -> None:
    assert _engine(today=date(2026, 6, 1)).evaluate(EPS, consent=True).outcome("eps_korea") == (
        "eligible"
    )
    assert _engine(today=lambda: date(2026, 6, 1)).today() == date(2026, 6, 1)
    engine = _engine()
    later = engine.evaluate(EPS, consent=True, today=date(2026, 6, 1))
    assert later.outcome("eps_korea") == "eligible" and later.today == date(2026, 6, 1)
    assert engine.evaluate(EPS, consent=True).outcome("eps_korea") == "not_eligible"


# --------------------------------------------------------------------------------------------
# Registration windows


def test_a_window_still_ahead_is_the_reference_date(tmp_path: Path) -> None:
    engine = _engine(_rules_with_window(tmp_path, date(2027, 3, 1)))
    evaluation = engine.evaluate({**EPS, "birth_date": "1987-02-28"}, consent=True)
    (eps,) = evaluation.programmes
    assert eps.age_date is not None
    assert (eps.age_date.day, eps.age_date.basis) == (date(2027, 3, 1), "registration")
    assert eps.outcome == "not_eligible"  # 39 today, 40 on the registration date
    text = format_evaluation(evaluation, "id")
    assert "Usia dihitung per tanggal pendaftaran 1 Maret 2027." in text


def test_a_window_that_has_passed_gives_way_to_today(tmp_path: Path) -> None:
    engine = _engine(_rules_with_window(tmp_path, date(2026, 6, 1)))
    evaluation = engine.evaluate(EPS, consent=True)
    assert evaluation.outcome("eps_korea") == "not_eligible"
    assert "Usia dihitung per 2 Desember 2026 (hari ini)." in format_evaluation(evaluation, "id")
    assert "Ages are counted on 2 December 2026 (today)." in format_evaluation(evaluation, "en")


def test_a_window_of_one_programme_does_not_move_the_others(tmp_path: Path) -> None:
    engine = _engine(_rules_with_window(tmp_path, date(2027, 3, 1)))
    answers = {**EPS, "programmes": ["korea_work", "japan_work"], "birth_date": "2009-01-10"}
    evaluation = engine.evaluate(answers, consent=True)
    assert evaluation.outcome("eps_korea") == "eligible"  # 18 on 1 March 2027
    assert evaluation.outcome("ssw_japan") == "not_eligible"  # 17 today
    text = format_evaluation(evaluation, "id")
    assert (
        "per tanggal pendaftaran 1 Maret 2027" in text and "per 2 Desember 2026 (hari ini)" in text
    )


def test_the_config_window_overrides_the_rules_while_ahead() -> None:
    ahead = Engine.default(date(2027, 3, 1), today=TODAY)
    assert ahead.reference().basis == "registration"
    assert ahead.evaluate({**EPS, "birth_date": "1987-02-28"}, consent=True).outcome(
        "eps_korea"
    ) == ("not_eligible")
    past = Engine.default(date(2026, 6, 1), today=TODAY)
    assert (past.reference_date, past.reference().basis) == (TODAY, "today")


def test_a_fixed_reference_date_wins_over_windows_and_today(tmp_path: Path) -> None:
    engine = _engine(
        _rules_with_window(tmp_path, date(2027, 3, 1)), reference_date=date(2026, 6, 1)
    )
    evaluation = engine.evaluate(EPS, consent=True)
    assert evaluation.outcome("eps_korea") == "eligible"
    assert evaluation.reference_basis == "fixed"
    assert "Usia dihitung per 1 Juni 2026." in format_evaluation(evaluation, "id")


def test_a_past_window_is_a_check_warning_and_a_future_one_is_not(tmp_path: Path) -> None:
    past = _rules_with_window(tmp_path, date(2026, 6, 1))
    problems = validate_screening_data(rpath=past, today=TODAY)
    assert [p.entry for p in problems] == ["eps_korea.registration_window"]
    (problem,) = problems
    assert problem.warning and "in the past" in problem.message
    assert str(problem).startswith("rules.yaml: eps_korea.registration_window: warning: ")
    future = _rules_with_window(tmp_path, date(2027, 3, 1))
    assert validate_screening_data(rpath=future, today=TODAY) == []
    assert date_warnings(load_rules(future), date(2027, 3, 2))


def test_the_shipped_rules_have_no_date_that_can_go_stale() -> None:
    assert date_warnings(load_rules(), date(2100, 1, 1)) == []


def test_a_window_needs_a_date_and_a_source(tmp_path: Path) -> None:
    raw = copy.deepcopy(RAW_RULES)
    raw["programmes"]["eps_korea"]["registration_window"] = {"date": "soon"}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScreeningDataError, match="needs a date"):
        load_rules(path)
    raw["programmes"]["eps_korea"]["registration_window"] = {"date": date(2027, 3, 1)}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScreeningDataError, match=r"registration_window\.source"):
        load_rules(path)


def test_the_old_fixed_reference_date_key_is_refused(tmp_path: Path) -> None:
    raw = {**copy.deepcopy(RAW_RULES), "reference_date": date(2026, 6, 1)}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScreeningDataError, match="no longer used"):
        load_rules(path)


# --------------------------------------------------------------------------------------------
# GKS rounds


@pytest.mark.parametrize(
    ("today", "undergrad", "graduate"),
    [
        (date(2027, 1, 15), 2028, 2027),  # January: graduate round open for this autumn
        (date(2027, 2, 28), 2028, 2027),  # the graduate deadline
        (date(2027, 3, 1), 2028, 2028),
        (date(2027, 9, 15), 2028, 2028),  # September: undergraduate round open for next March
        (date(2027, 10, 10), 2028, 2028),  # the undergraduate deadline
        (date(2027, 10, 11), 2029, 2028),
        (date(2026, 12, 2), 2028, 2027),
    ],
)
def test_gks_entry_years_follow_the_open_round(today: date, undergrad: int, graduate: int) -> None:
    years = _engine(today=today).entry_years()
    assert years == {"gks_undergrad_cutoff": undergrad, "gks_graduate_cutoff": graduate}


def test_every_gks_round_is_sourced() -> None:
    for cutoff in load_rules().rounds.values():
        assert cutoff.source["id"] and cutoff.source["en"]
        assert "." in cutoff.source["en"]  # names a page


def test_a_pinned_entry_year_applies_to_both_tracks() -> None:
    engine = _engine(today=date(2027, 1, 15), gks_entry_year=2030)
    assert set(engine.entry_years().values()) == {2030}


def test_the_report_names_the_gks_entry_year() -> None:
    answers = {
        "programmes": ["scholarship"],
        "domicile": True,
        "birth_date": "2003-03-02",
        "education": "smp",
        "school_level": "sma_final",
        "grade_average": 90,
    }
    evaluation = _engine().evaluate(answers, consent=True)
    (gks,) = evaluation.programmes
    assert gks.age_date is not None and gks.age_date.entry_year == 2028
    assert "Usia dihitung per 1 Maret 2028 (masuk tahun 2028)." in format_evaluation(
        evaluation, "id"
    )
    data = evaluation_to_dict(evaluation, "en")
    assert data["programmes"][0]["age_date"] == {
        "date": "2028-03-01",
        "basis": "entry",
        "entry_year": 2028,
        "text": "Ages are counted on 1 March 2028 (entry in 2028).",
    }
    assert (
        age_date_text(evaluation.reference, "id")
        == "Usia dihitung per 2 Desember 2026 (hari ini)."
    )


# --------------------------------------------------------------------------------------------
# python -m bot screen


def _screen(tmp_path: Path, body: dict[str, Any], *argv: str) -> dict[str, Any]:
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(body), encoding="utf-8")
    args = build_parser().parse_args(["screen", str(profile), "--json", *argv])
    config = load_config(REPO / "config.yaml", environ={})
    code = args.func(args, config)
    assert code == 0
    return {"code": code}


def test_screen_takes_today_from_an_option_or_the_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _screen(tmp_path, EPS, "--today", "2026-06-01")
    report = json.loads(capsys.readouterr().out)
    assert report["reference_date"] == "2026-06-01" and report["reference_basis"] == "today"
    assert report["programmes"][0]["outcome"] == "eligible"
    _screen(tmp_path, {**EPS, "today": "2026-12-02"})
    report = json.loads(capsys.readouterr().out)
    assert report["today"] == "2026-12-02" and report["programmes"][0]["outcome"] == "not_eligible"
    assert report["problems"] == []


def test_screen_shows_the_national_channel_to_a_non_resident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "outsider.yaml"
    profile.write_text(yaml.safe_dump({**EPS, "domicile": False, "today": "2026-06-01"}), "utf-8")
    args = build_parser().parse_args(["screen", str(profile)])
    assert args.func(args, load_config(REPO / "config.yaml", environ={})) == 0
    out = capsys.readouterr().out
    assert "Khusus warga Kota Serang" in out
    assert "khusus untuk warga yang tinggal di Kota Serang" in out
    assert "KP2MI" in out and "siskop2mi.bp2mi.go.id" in out
