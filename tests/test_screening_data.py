"""Guards on the screening data files: the packaged data is clean, and the validator catches
each kind of broken fixture (written to tmp_path) with a precise message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.identity import load_wilayah
from screening.model import (
    QUESTIONNAIRE_FILE,
    RULES_FILE,
    ScreeningDataError,
    load_consent,
    load_questionnaire,
    load_rules,
)
from screening.validate import Problem, validate_screening_data

ROOT = Path(__file__).resolve().parent.parent
RAW_QUESTIONNAIRE = yaml.safe_load(QUESTIONNAIRE_FILE.read_text(encoding="utf-8"))
RAW_RULES = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


def test_packaged_data_has_no_problems() -> None:
    assert validate_screening_data() == []


def test_problem_reads_file_entry_message() -> None:
    assert (
        str(Problem("rules.yaml", "eps_korea.age", "broken"))
        == "rules.yaml: eps_korea.age: broken"
    )


def test_consent_retention_matches_the_configured_retention() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    consent = load_consent()
    assert consent.retention_days == config["privacy"]["retention_days"]
    assert str(consent.retention_days) in consent.text["id"]
    assert str(consent.retention_days) in consent.text["en"]


def test_kecamatan_choices_are_the_wilayah_ids() -> None:
    choices = [c.id for c in load_questionnaire()["kecamatan"].choices]
    assert choices == [kec.id for kec in load_wilayah().kecamatan]


# Ids an outsider is likely to use in a profile file (suggested in the issue).
SUGGESTED_IDS = (
    "programmes", "domicile", "kecamatan", "birth_date", "sex", "education", "color_blind",
    "tb_history", "tb_treated", "hepatitis", "chronic_illness", "fingers_complete",
    "korean_level", "eps_topik_score", "japanese_level", "english_level", "experience_fields",
    "experience_years", "certificates", "imprisoned", "deported_korea", "overstayed_korea",
    "years_e9_e10", "lpk_willing", "school_level", "grade_average", "has_bachelor",
)  # fmt: skip


def test_ids_suggested_for_outside_profiles_exist() -> None:
    questionnaire = load_questionnaire()
    for qid in SUGGESTED_IDS:
        assert questionnaire.get(qid) is not None, qid


def test_every_question_id_and_choice_id_is_documented_in_the_header() -> None:
    header = QUESTIONNAIRE_FILE.read_text(encoding="utf-8").split("\nversion:")[0]
    for question in load_questionnaire().questions:
        assert f"#   {question.id} " in header, question.id
        for choice in question.choices:
            assert choice.id in header, f"{question.id}.{choice.id}"


def test_no_unconfirmed_eps_criterion_is_screened() -> None:
    rules = load_rules()
    eps = rules.programme("eps_korea")
    assert eps is not None
    read = " ".join(sorted(eps.questions))
    for word in ("height", "weight", "tattoo", "glasses", "marital", "sex"):
        assert word not in read


def test_loaders_name_the_file_and_entry(tmp_path: Path) -> None:
    raw = copy.deepcopy(RAW_RULES)
    raw["programmes"]["eps_korea"]["criteria"][0]["cases"][0]["outcome"] = "maybe"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ScreeningDataError) as caught:
        load_rules(path)
    assert caught.value.file == "rules.yaml"
    assert caught.value.entry == "eps_korea.age case 1"
    assert "outcome must be one of" in str(caught.value)


# --------------------------------------------------------------------------------------------
# Broken fixtures


Mutation = Callable[[dict[str, Any]], None]


def _question(raw: dict[str, Any], qid: str) -> dict[str, Any]:
    return next(q for q in raw["questions"] if q["id"] == qid)


def _criterion(raw: dict[str, Any], programme: str, cid: str) -> dict[str, Any]:
    criteria = raw["programmes"][programme]["criteria"]
    return next(c for c in criteria if c["id"] == cid)


def _duplicate_id(raw: dict[str, Any]) -> None:
    _question(raw, "hepatitis")["id"] = "tb_history"


def _missing_english(raw: dict[str, Any]) -> None:
    del _question(raw, "education")["text"]["en"]


def _comma_split_text(raw: dict[str, Any]) -> None:
    _question(raw, "education")["choices"][0]["text"]["extra words"] = None


def _unknown_question_in_condition(raw: dict[str, Any]) -> None:
    _question(raw, "tb_treated")["when"] = {"q": "tb_histroy", "eq": True}


def _unknown_choice_in_condition(raw: dict[str, Any]) -> None:
    _question(raw, "korean_level")["when"] = {"q": "programmes", "contains": "korea"}


def _later_question_in_condition(raw: dict[str, Any]) -> None:
    _question(raw, "domicile")["when"] = {"q": "education", "eq": "sma"}


def _operator_does_not_fit(raw: dict[str, Any]) -> None:
    _question(raw, "kecamatan")["when"] = {"q": "domicile", "gt": 1}


def _button_too_long(raw: dict[str, Any]) -> None:
    _question(raw, "education")["choices"][0]["text"]["id"] = "SD " * 30


def _callback_too_long(raw: dict[str, Any]) -> None:
    _question(raw, "education")["choices"][0]["id"] = (
        "primary_school_or_no_schooling_at_all_or_only_partly_finished"
    )


def _question_too_long(raw: dict[str, Any]) -> None:
    _question(raw, "domicile")["text"]["en"] = "Where? " * 200


def _sensitive_without_why(raw: dict[str, Any]) -> None:
    del _question(raw, "hepatitis")["why"]


def _sensitive_nobody_reads(raw: dict[str, Any]) -> None:
    raw["questions"].append(
        {
            "id": "blood_type",
            "section": "health",
            "type": "yesno",
            "sensitive": True,
            "text": {"id": "Golongan darah O?", "en": "Blood type O?"},
            "why": {"id": "x", "en": "x"},
        }
    )


QUESTIONNAIRE_CASES: list[tuple[str, Mutation, str, str]] = [
    ("duplicate id", _duplicate_id, "tb_history", "already used by tb_history"),
    ("missing English", _missing_english, "education.text", "missing the 'en' text"),
    ("comma-split text", _comma_split_text, "education.sd", "unexpected keys"),
    ("unknown question", _unknown_question_in_condition, "tb_treated.when", "'tb_histroy'"),
    ("unknown choice", _unknown_choice_in_condition, "korean_level.when", "no choice 'korea'"),
    ("later question", _later_question_in_condition, "domicile.when", "not asked earlier"),
    ("operator", _operator_does_not_fit, "kecamatan.when", "does not fit yesno"),
    ("button", _button_too_long, "education.sd", "characters (max 64)"),
    ("callback", _callback_too_long, "education.primary_school", "over 64 bytes"),
    ("question length", _question_too_long, "domicile.text", "(max 1000)"),
    ("sensitive why", _sensitive_without_why, "hepatitis", "must say why"),
    ("minimisation", _sensitive_nobody_reads, "blood_type", "no rule reads"),
]


@pytest.mark.parametrize(
    ("mutate", "entry", "message"),
    [case[1:] for case in QUESTIONNAIRE_CASES],
    ids=[case[0] for case in QUESTIONNAIRE_CASES],
)
def test_broken_questionnaire_is_reported(
    tmp_path: Path, mutate: Mutation, entry: str, message: str
) -> None:
    raw = copy.deepcopy(RAW_QUESTIONNAIRE)
    mutate(raw)
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    problems = validate_screening_data(qpath=path)
    assert any(
        p.file == "questionnaire.yaml" and p.entry.startswith(entry) and message in p.message
        for p in problems
    ), [str(p) for p in problems]


def _unknown_rule_choice(raw: dict[str, Any]) -> None:
    _criterion(raw, "eps_korea", "education")["cases"][0]["when"] = {
        "q": "education",
        "eq": "sltp",
    }


def _unknown_rule_question(raw: dict[str, Any]) -> None:
    _criterion(raw, "eps_korea", "prison")["cases"][0]["when"] = {"q": "jailed", "eq": True}


def _shadowed_case(raw: dict[str, Any]) -> None:
    cases = _criterion(raw, "eps_korea", "tb")["cases"]
    cases.insert(0, copy.deepcopy(cases[1]))


def _never_eligible(raw: dict[str, Any]) -> None:
    _criterion(raw, "eps_korea", "education")["otherwise"]["outcome"] = "needs_preparation"


def _unreachable_otherwise(raw: dict[str, Any]) -> None:
    criterion = _criterion(raw, "ssw_japan", "japanese_language")
    criterion["otherwise"] = copy.deepcopy(_criterion(raw, "ssw_japan", "age")["otherwise"])


def _unknown_placeholder(raw: dict[str, Any]) -> None:
    _criterion(raw, "eps_korea", "age")["otherwise"]["text"]["en"] = "You are {agee}."


def _unknown_param(raw: dict[str, Any]) -> None:
    _criterion(raw, "eps_korea", "age")["cases"][0]["when"] = {"age": "birth_date", "lt": "$nope"}


def _unknown_interest(raw: dict[str, Any]) -> None:
    raw["programmes"]["ssw_japan"]["interest"] = "japan"


def _missing_disclaimer_language(raw: dict[str, Any]) -> None:
    del raw["disclaimer"]["en"]


RULES_CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown choice", _unknown_rule_choice, "eps_korea.education", "no choice 'sltp'"),
    ("unknown question", _unknown_rule_question, "eps_korea.prison", "'jailed'"),
    ("shadowed case", _shadowed_case, "eps_korea.tb case 2", "can ever reach this case"),
    ("never eligible", _never_eligible, "eps_korea.education", "never pass"),
    ("dead otherwise", _unreachable_otherwise, "ssw_japan.japanese_language otherwise", "reach"),
    ("placeholder", _unknown_placeholder, "eps_korea.age", "{agee}"),
    ("parameter", _unknown_param, "eps_korea.age case 1", "unknown parameter '$nope'"),
    ("interest", _unknown_interest, "ssw_japan", "interest 'japan' is not a choice"),
    ("disclaimer", _missing_disclaimer_language, "disclaimer", "needs texts in id and en"),
]


@pytest.mark.parametrize(
    ("mutate", "entry", "message"),
    [case[1:] for case in RULES_CASES],
    ids=[case[0] for case in RULES_CASES],
)
def test_broken_rules_are_reported(
    tmp_path: Path, mutate: Mutation, entry: str, message: str
) -> None:
    raw = copy.deepcopy(RAW_RULES)
    mutate(raw)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    problems = validate_screening_data(rpath=path)
    assert any(
        p.file == "rules.yaml" and p.entry.startswith(entry) and message in p.message
        for p in problems
    ), [str(p) for p in problems]


def test_unreadable_yaml_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "questionnaire.yaml"
    path.write_text("questions: [unclosed\n", encoding="utf-8")
    problems = validate_screening_data(qpath=path)
    assert [p.entry for p in problems] == ["file"]
    assert "is not valid YAML" in problems[0].message


def test_broken_consent_and_texts_are_reported(tmp_path: Path) -> None:
    consent = tmp_path / "consent.yaml"
    consent.write_text("version: ''\nretention_days: 730\n", encoding="utf-8")
    texts = tmp_path / "texts.yaml"
    texts.write_text("outcomes: {}\n", encoding="utf-8")
    problems = [str(p) for p in validate_screening_data(cpath=consent, tpath=texts)]
    assert "consent.yaml: version: must be a non-empty string" in problems
    assert any(p.startswith("texts.yaml: outcomes.eligible: missing text") for p in problems)
