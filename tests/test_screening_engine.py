"""The screening engine: flow (conditions, consent marker, Back, prune, progress), answer
validation per type, display of answers, reports, and no Telegram import."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.engine import CONSENT, CONSENT_ID, Engine
from screening.model import (
    Evaluation,
    ProgrammeResult,
    Question,
    Reason,
    load_questionnaire,
    load_rules,
)
from screening.report import MAX_REPORT_LENGTH, evaluation_to_dict, format_evaluation

TODAY = date(2026, 5, 1)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_questionnaire(), load_rules(), today=lambda: TODAY)


# A plausible answer for every question, used to walk the questionnaire.
TYPICAL: dict[str, Any] = {
    "programmes": ["korea_work"],
    "domicile": True,
    "kecamatan": "taktakan",
    "birth_date": "1999-07-01",
    "sex": "female",
    "education": "sma",
    "school_level": "sma_done",
    "has_bachelor": False,
    "grade_average": 85,
    "english_level": "basic",
    "korean_level": "learning",
    "eps_topik_score": 120,
    "japanese_level": "n5",
    "experience_fields": ["manufacturing"],
    "experience_years": 2,
    "certificates": ["none"],
    "been_to_korea": False,
    "years_e9_e10": 0,
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


def walk(
    engine: Engine, consent: bool | None, **overrides: Any
) -> tuple[list[str], dict[str, Any], bool | None]:
    """Answer every question the engine asks; a consent marker is answered with ``consent``."""
    answers: dict[str, Any] = {}
    asked: list[str] = []
    given: bool | None = None
    while (question := engine.next_question(answers, consent=given)) is not None:
        asked.append(question.id)
        assert len(asked) < 60, "the questionnaire does not end"
        if question.id == CONSENT_ID:
            given = consent
            continue
        answers[question.id] = overrides.get(question.id, TYPICAL[question.id])
    return asked, answers, given


# --------------------------------------------------------------------------------------------
# Flow


def test_korea_only_flow_is_short_enough_for_a_phone(engine: Engine) -> None:
    asked, _, _ = walk(engine, True)
    questions = [qid for qid in asked if qid != CONSENT_ID]
    assert 15 <= len(questions) <= 20
    assert asked[0] == "programmes"
    assert "japanese_level" not in asked and "school_level" not in asked


def test_consent_marker_comes_right_before_the_first_sensitive_question(engine: Engine) -> None:
    asked, _, _ = walk(engine, True)
    position = asked.index(CONSENT_ID)
    assert engine.question(asked[position + 1]).sensitive
    assert not any(engine.question(qid).sensitive for qid in asked[:position])


def test_consent_marker_is_a_yes_no_question_with_the_notice(engine: Engine) -> None:
    assert CONSENT.id == CONSENT_ID and CONSENT.type == "yesno"
    assert "UU No. 27/2022" in CONSENT.text["id"]
    assert "2 tahun" in CONSENT.text["id"] and "/hapus" in CONSENT.text["id"]
    assert engine.consent.version and engine.consent.accept["id"] == "Setuju"
    assert engine.question(CONSENT_ID) is CONSENT


def test_declining_consent_skips_every_sensitive_question(engine: Engine) -> None:
    asked, answers, given = walk(engine, False)
    assert given is False
    assert CONSENT_ID in asked
    assert not any(engine.question(qid).sensitive for qid in answers)
    assert asked[-1] == CONSENT_ID
    evaluation = engine.evaluate(answers, consent=False)
    (eps,) = evaluation.programmes
    assert {r.criterion for r in eps.not_assessed} >= {"tb", "prison", "color_vision"}


def test_consent_is_never_asked_when_no_sensitive_question_applies(engine: Engine) -> None:
    asked, answers, _ = walk(engine, None, programmes=["scholarship"], birth_date="2007-05-05")
    assert CONSENT_ID not in asked
    assert asked == [
        "programmes",
        "domicile",
        "kecamatan",
        "birth_date",
        "education",
        "school_level",
        "grade_average",
        "english_level",
    ]
    assert engine.evaluate(answers, consent=False).outcome("gks_undergrad") == "eligible"


def test_conditions_skip_what_does_not_apply(engine: Engine) -> None:
    asked, _, _ = walk(engine, True, programmes=["japan_work"], domicile=False)
    assert "japanese_level" in asked and "korean_level" not in asked
    assert "kecamatan" not in asked
    assert not any(engine.question(qid).sensitive for qid in asked)
    asked, _, _ = walk(engine, True, experience_fields=["none"], korean_level="eps_topik")
    assert "experience_years" not in asked and "eps_topik_score" in asked


def test_tb_details_only_after_yes_to_tb(engine: Engine) -> None:
    asked, _, _ = walk(engine, True)
    assert "tb_treated" not in asked
    asked, _, _ = walk(engine, True, tb_history=True)
    assert asked[asked.index("tb_history") + 1] == "tb_treated"


def test_korea_history_questions_only_for_people_who_were_in_korea(engine: Engine) -> None:
    asked, _, _ = walk(engine, True)
    assert not {"years_e9_e10", "deported_korea", "overstayed_korea"} & set(asked)
    asked, _, _ = walk(engine, True, been_to_korea=True)
    assert {"years_e9_e10", "deported_korea", "overstayed_korea"} <= set(asked)


def test_sex_is_asked_only_when_a_rule_of_a_chosen_programme_needs_it(
    engine: Engine, tmp_path: Path
) -> None:
    asked, _, _ = walk(engine, True, programmes=["korea_work", "japan_work", "scholarship"])
    assert "sex" not in asked
    raw = yaml.safe_load(Path("screening/data/rules.yaml").read_text(encoding="utf-8"))
    raw["programmes"]["ssw_japan"]["criteria"].append(
        {
            "id": "track",
            "label": {"id": "Jalur", "en": "Track"},
            "cases": [
                {
                    "when": {"q": "sex", "eq": "female"},
                    "outcome": "eligible",
                    "text": {"id": "a", "en": "a"},
                    "next_step": {"id": "b", "en": "b"},
                }
            ],
            "otherwise": {
                "outcome": "eligible",
                "text": {"id": "c", "en": "c"},
                "next_step": {"id": "d", "en": "d"},
            },
        }
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with_sex = Engine(load_questionnaire(), load_rules(path), today=lambda: TODAY)
    asked, _, _ = walk(with_sex, True, programmes=["japan_work"])
    assert "sex" in asked
    asked, _, _ = walk(with_sex, True, programmes=["korea_work"])
    assert "sex" not in asked


def previous_id(
    engine: Engine, answers: dict[str, Any], current: str, consent: bool | None
) -> str:
    """The id of the question Back leads to from ``current`` ("" at the start)."""
    previous = engine.previous_question(answers, current, consent=consent)
    return previous.id if previous is not None else ""


def test_back_goes_to_the_previous_applicable_question(engine: Engine) -> None:
    _, answers, _ = walk(engine, True)
    assert previous_id(engine, answers, "programmes", True) == ""
    assert previous_id(engine, answers, "kecamatan", True) == "domicile"
    assert previous_id(engine, answers, "color_blind", True) == CONSENT_ID
    assert previous_id(engine, answers, CONSENT_ID, True) == "lpk_willing"
    assert previous_id(engine, {**answers, "domicile": False}, "birth_date", True) == "domicile"
    assert previous_id(engine, answers, "hepatitis", True) == "tb_history"


def test_back_from_the_consent_marker_before_consent_is_given(engine: Engine) -> None:
    answers: dict[str, Any] = {}
    while (question := engine.next_question(answers, consent=None)) is not CONSENT:
        assert question is not None
        answers[question.id] = TYPICAL[question.id]
    assert previous_id(engine, answers, CONSENT_ID, None) == "lpk_willing"


def test_prune_drops_answers_that_no_longer_apply(engine: Engine) -> None:
    _, answers, _ = walk(engine, True, tb_history=True, been_to_korea=True)
    assert "tb_treated" in answers and "years_e9_e10" in answers
    pruned = engine.prune({**answers, "tb_history": False, "been_to_korea": False})
    assert "tb_treated" not in pruned
    assert not {"years_e9_e10", "deported_korea", "overstayed_korea"} & set(pruned)
    assert pruned["tb_history"] is False
    switched = engine.prune({**answers, "programmes": ["japan_work"], "note": "kept"})
    assert not any(engine.question(qid).sensitive for qid in switched if qid != "note")
    assert "korean_level" not in switched and switched["note"] == "kept"
    assert engine.prune({**answers, "domicile": False}).get("kecamatan") is None
    without_consent = engine.prune(answers, consent=False)
    assert not any(engine.question(qid).sensitive for qid in without_consent)
    assert engine.prune(answers) == answers


def test_progress_counts_applicable_questions(engine: Engine) -> None:
    asked, answers, _ = walk(engine, True)
    questions = [qid for qid in asked if qid != CONSENT_ID]
    total = len(questions)
    assert engine.progress(answers, "programmes", consent=True) == (1, total)
    assert engine.progress(answers, "birth_date", consent=True) == (4, total)
    assert engine.progress(answers, questions[-1], consent=True) == (total, total)
    first_sensitive = asked[asked.index(CONSENT_ID) + 1]
    assert engine.progress(answers, CONSENT_ID, consent=True) == engine.progress(
        answers, first_sensitive, consent=True
    )
    with_tb = {**answers, "tb_history": True}
    assert engine.progress(with_tb, "tb_treated", consent=True)[1] == total + 1
    declined = {k: v for k, v in answers.items() if not engine.question(k).sensitive}
    position, declined_total = engine.progress(declined, "lpk_willing", consent=False)
    assert position == declined_total < total


def test_next_question_is_none_when_complete(engine: Engine) -> None:
    _, answers, _ = walk(engine, True)
    assert engine.next_question(answers, consent=True) is None


# --------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    "typed",
    [
        "17-08-2001",
        "17/8/2001",
        "17.08.2001",
        "2001-08-17",
        "17 agustus 2001",
        "17 Agt 2001",
        "17 August 2001",
        "17 aug, 2001",
    ],
)
def test_dates_in_everyday_formats(engine: Engine, typed: str) -> None:
    result = engine.validate(engine.question("birth_date"), typed, "id")
    assert result.ok and result.value == "2001-08-17" and result.error is None


@pytest.mark.parametrize(
    ("typed", "lang", "message"),
    [
        ("kemarin", "id", "Tanggal tidak dikenali"),
        ("31-02-2001", "id", "tidak ada di kalender"),
        ("01-01-2030", "id", "belum terjadi"),
        ("2 mei 2026", "en", "in the future"),
        ("17-08-01", "id", "4 angka"),
        ("01-01-2020", "id", "di bawah 10 tahun"),
        ("01-01-1920", "en", "older than 80"),
    ],
)
def test_bad_dates_get_a_clear_message(
    engine: Engine, typed: str, lang: str, message: str
) -> None:
    result = engine.validate(engine.question("birth_date"), typed, lang)
    assert not result.ok and result.value is None
    assert result.error is not None and message in result.error


@pytest.mark.parametrize(
    ("question", "typed", "value"),
    [
        ("experience_years", "4,5", 4.5),
        ("experience_years", "4.5", 4.5),
        ("experience_years", "3 tahun", 3),
        ("eps_topik_score", " 145 ", 145),
        ("grade_average", "3,4", 3.4),
    ],
)
def test_numbers_accept_a_decimal_comma_and_a_unit(
    engine: Engine, question: str, typed: str, value: float
) -> None:
    result = engine.validate(engine.question(question), typed, "id")
    assert result.ok and result.value == value
    assert type(result.value) is type(value)


@pytest.mark.parametrize(
    ("question", "typed", "lang", "message"),
    [
        ("experience_years", "banyak", "id", "Tulis angka saja"),
        ("eps_topik_score", "250", "id", "antara 0 dan 200"),
        ("years_e9_e10", "-1", "en", "between 0 and 30"),
        ("eps_topik_score", "120,5", "en", "whole number"),
    ],
)
def test_bad_numbers_get_a_clear_message(
    engine: Engine, question: str, typed: str, lang: str, message: str
) -> None:
    result = engine.validate(engine.question(question), typed, lang)
    assert not result.ok and result.error is not None and message in result.error


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("ya", True),
        ("Iya!", True),
        ("y", True),
        ("yes", True),
        ("pernah", True),
        ("tidak", False),
        ("TDK", False),
        ("n", False),
        ("no", False),
        ("belum", False),
    ],
)
def test_yes_no_words(engine: Engine, typed: str, value: bool) -> None:
    result = engine.validate(engine.question("tb_history"), typed, "id")
    assert result.ok and result.value is value


def test_consent_marker_accepts_typed_answers(engine: Engine) -> None:
    assert engine.validate(CONSENT, "Setuju", "id").value is True
    assert engine.validate(CONSENT, "tidak setuju", "id").value is False


def test_unknown_yes_no_word(engine: Engine) -> None:
    result = engine.validate(engine.question("tb_history"), "mungkin", "en")
    assert not result.ok and result.error == "Please answer yes or no."


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("sma", "sma"),
        ("SMA / MA", "sma"),
        ("Paket B", "paket_b"),
        ("SLTP", "smp"),
        (["s1"], "s1"),
        ("Bachelor's degree (S1 / D4)", "s1"),
        ("Diplomaa (D1–D3)", "diploma"),
    ],
)
def test_single_choice_by_id_alias_text_or_close_spelling(
    engine: Engine, typed: str | list[str], value: str
) -> None:
    result = engine.validate(engine.question("education"), typed, "id")
    assert result.ok and result.value == value


def test_unknown_choice_lists_the_choices(engine: Engine) -> None:
    result = engine.validate(engine.question("kecamatan"), "Cilegon", "id")
    assert not result.ok and result.error is not None
    assert '"Cilegon" tidak ada di pilihan' in result.error
    assert "Cipocok Jaya" in result.error and "Taktakan" in result.error


def test_multi_choice(engine: Engine) -> None:
    question = engine.question("experience_fields")
    result = engine.validate(question, ["fishery", "manufacturing"], "id")
    assert result.ok and result.value == ["manufacturing", "fishery"]
    result = engine.validate(question, "manufaktur, perikanan dan konstruksi", "id")
    assert result.value == ["manufacturing", "fishery", "construction"]
    result = engine.validate(question, "Jasa, perhotelan dan restoran", "id")
    assert result.value == ["services"]
    exclusive = engine.validate(question, ["none", "fishery"], "en")
    assert not exclusive.ok and exclusive.error is not None
    assert "cannot be chosen together" in exclusive.error
    empty = engine.validate(question, [], "id")
    assert not empty.ok and empty.error == "Pilih minimal 1 jawaban."
    unknown = engine.validate(question, ["manufacturing", "astronaut"], "en")
    assert not unknown.ok and unknown.error is not None and "astronaut" in unknown.error


def test_free_text_validation(engine: Engine) -> None:
    question = Question(
        id="note",
        type="text",
        text={"id": "Catatan", "en": "Note"},
        choices=(),
        why=None,
        sensitive=False,
        section="personal",
        hint=None,
        validation={"max_length": 10},
    )
    assert engine.validate(question, "  halo  ", "id").value == "halo"
    assert engine.validate(question, "   ", "en").error == "The answer cannot be empty."
    too_long = engine.validate(question, "x" * 11, "id")
    assert too_long.error == "Jawaban terlalu panjang (maksimal 10 huruf)."


def test_validated_values_are_json_ready(engine: Engine) -> None:
    _, answers, _ = walk(engine, True, programmes=["korea_work", "japan_work", "scholarship"])
    assert json.loads(json.dumps(answers)) == answers


# --------------------------------------------------------------------------------------------
# Display and evaluation input


def test_format_answer_for_the_review_screen(engine: Engine) -> None:
    q = engine.question
    assert engine.format_answer(q("birth_date"), "2001-08-17", "id") == "17 Agustus 2001"
    assert engine.format_answer(q("birth_date"), "2001-08-17", "en") == "17 August 2001"
    assert engine.format_answer(q("experience_years"), 4.5, "id") == "4,5"
    assert engine.format_answer(q("experience_years"), 4.5, "en") == "4.5"
    assert engine.format_answer(q("experience_years"), 2, "id") == "2"
    assert engine.format_answer(q("tb_history"), True, "id") == "Ya"
    assert engine.format_answer(q("tb_history"), False, "en") == "No"
    assert engine.format_answer(q("education"), "paket_b", "id") == "Paket B (setara SMP)"
    fields = engine.format_answer(q("experience_fields"), ["fishery", "services"], "en")
    assert fields == "Fishery, Services, hotels and restaurants"
    assert engine.format_answer(q("kecamatan"), None, "id") == "—"


def test_normalise_reads_outsider_profiles(engine: Engine) -> None:
    answers, problems = engine.normalise(
        {
            "DOB": date(2001, 8, 17),
            "programmes": "eps_korea, japan",
            "colour_blind": "no",
            "syphilis": False,
            "hiv": True,
            "years_in_korea": "4,5",
            "japanese_level": "JLPT_N2",
            "height_cm": 150,
            "education": "kuliah di bulan",
        }
    )
    assert answers == {
        "birth_date": "2001-08-17",
        "programmes": ["korea_work", "japan_work"],
        "color_blind": False,
        "syphilis_hiv": True,
        "years_e9_e10": 4.5,
        "japanese_level": "n4_plus",
    }
    assert problems[0] == "height_cm: unknown question id"
    assert problems[1].startswith("education: ")


def test_explicit_programme_ids_select_exactly_those_programmes(engine: Engine) -> None:
    evaluation = engine.evaluate({"programmes": ["gks_graduate"]}, consent=True)
    assert [p.programme for p in evaluation.programmes] == ["gks_graduate"]


# --------------------------------------------------------------------------------------------
# Reports


def _worst_case(engine: Engine, consent: bool) -> Evaluation:
    answers = {
        **TYPICAL,
        "programmes": ["korea_work", "japan_work", "scholarship"],
        "birth_date": "1980-01-01",
        "education": "sd",
        "school_level": "below_sma",
        "grade_average": 40,
        "korean_level": "none",
        "japanese_level": "none",
        "color_blind": True,
        "tb_history": True,
        "tb_treated": False,
        "hepatitis": True,
        "syphilis_hiv": True,
        "fingers_complete": False,
        "imprisoned": True,
        "been_to_korea": True,
        "years_e9_e10": 9,
        "deported_korea": True,
        "overstayed_korea": True,
    }
    return engine.evaluate(answers, consent=consent)


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("lang", ["id", "en"])
def test_reports_fit_one_telegram_message(engine: Engine, lang: str, html: bool) -> None:
    for consent in (True, False):
        text = format_evaluation(_worst_case(engine, consent), lang, html=html)
        assert len(text) <= MAX_REPORT_LENGTH
        assert engine.rules.disclaimer[lang] in text


def test_report_explains_what_is_open_with_next_steps(engine: Engine) -> None:
    answers = {**TYPICAL, "tb_history": True, "tb_treated": True, "korean_level": "none"}
    text = format_evaluation(engine.evaluate(answers, consent=True), "id")
    assert "Kerja di Korea (EPS): Perlu pemeriksaan kesehatan" in text
    assert "Riwayat TBC (Perlu pemeriksaan kesehatan)" in text
    assert "Langkah: " in text and "Usia dihitung per 1 Mei 2026 (hari ini)." in text
    assert "✓ Sudah memenuhi: Usia, Pendidikan" in text
    assert text.index("Riwayat TBC") < text.index("Bahasa Korea (Perlu persiapan)")


def test_html_report_escapes_data_text_and_uses_only_bold() -> None:
    reason = Reason(
        criterion="x",
        outcome="needs_preparation",
        text={"id": "a < b & c", "en": "a < b & c"},
        next_step={"id": "<i>step</i>", "en": "<i>step</i>"},
        label={"id": "L<1>", "en": "L<1>"},
    )
    evaluation = Evaluation(
        programmes=(
            ProgrammeResult(
                programme="eps_korea",
                outcome="needs_preparation",
                reasons=(reason,),
                name={"id": "EPS <Korea>", "en": "EPS <Korea>"},
            ),
        ),
        disclaimer={"id": "indikasi awal & bukan keputusan", "en": "initial & not final"},
        reference_date=date(2026, 6, 1),
        consent=True,
    )
    text = format_evaluation(evaluation, "en", html=True)
    assert "a &lt; b &amp; c" in text and "&lt;i&gt;step&lt;/i&gt;" in text
    assert "<b>EPS &lt;Korea&gt;: Needs preparation</b>" in text
    stripped = text.replace("<b>", "").replace("</b>", "")
    assert "<" not in stripped and ">" not in stripped
    plain = format_evaluation(evaluation, "en")
    assert "a < b & c" in plain and "<b>" not in plain


def test_evaluation_to_dict(engine: Engine) -> None:
    evaluation = engine.evaluate(TYPICAL, consent=True)
    assert evaluation.outcomes() == {"eps_korea": "needs_preparation"}
    data = evaluation_to_dict(evaluation, "en")
    assert data["reference_date"] == "2026-05-01" and data["consent"] is True
    assert data["reference_basis"] == "today" and data["today"] == "2026-05-01"
    assert "(today)" in data["reference_text"]
    (eps,) = data["programmes"]
    assert eps["programme"] == "eps_korea" and eps["outcome"] == "needs_preparation"
    assert eps["outcome_label"] == "Needs preparation"
    assert {r["criterion"] for r in eps["reasons"]} >= {"age", "tb", "korean_language"}
    assert "initial indication" in data["disclaimer"]


# --------------------------------------------------------------------------------------------
# Boundaries of the package


def test_screening_never_imports_telegram() -> None:
    code = (
        "import sys\n"
        "import screening.engine, screening.report, screening.validate\n"
        "assert not [m for m in sys.modules if m == 'telegram' or m.startswith('telegram.')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
