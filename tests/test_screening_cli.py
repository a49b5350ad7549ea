"""`python -m bot screen FILE`: a profile of answers evaluated with the current rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import load_config

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config(REPO / "config.yaml", environ={})

KOREA_YAML = """\
# An EPS applicant who meets every initial requirement.
programmes: [korea_work]
domicile: true
kecamatan: serang
birth_date: 1998-05-10
education: sma
korean_level: eps_topik
eps_topik_score: 150
experience_fields: [manufacturing]
experience_years: 2
certificates: [none]
been_to_korea: false
lpk_willing: true
color_blind: false
tb_history: false
hepatitis: false
syphilis_hiv: false
chronic_illness: false
fingers_complete: true
imprisoned: false
"""

GKS_JSON = {
    "programmes": ["scholarship"],
    "domicile": True,
    "birth_date": "1996-04-04",
    "education": "s1",
    "school_level": "s1_done",
    "grade_average": 2.1,
    "english_level": "certified",
}


def screen(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the ``screen`` subcommand in-process; (exit code, stdout, stderr)."""
    args = build_parser().parse_args(["screen", *argv])
    code = args.func(args, CONFIG)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_yaml_profile_prints_outcome_and_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "korea.yaml"
    profile.write_text(KOREA_YAML, encoding="utf-8")
    code, out, err = screen(str(profile), capsys=capsys)
    assert (code, err) == (0, "")
    assert "Kerja di Korea (EPS): Memenuhi syarat awal" in out
    assert "Sudah memenuhi: Usia" in out and "indikasi awal" in out
    assert "<b>" not in out  # plain text for the terminal


def test_json_profile_with_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "gks.json"
    profile.write_text(json.dumps(GKS_JSON), encoding="utf-8")
    code, out, _ = screen(str(profile), "--json", "--lang", "en", capsys=capsys)
    assert code == 0
    report = json.loads(out)
    assert report["problems"] == [] and report["consent"] is True
    assert [p["programme"] for p in report["programmes"]] == ["gks_graduate"]
    [graduate] = report["programmes"]
    assert graduate["outcome"] == "not_eligible"
    reasons = {r["criterion"]: r for r in graduate["reasons"]}
    assert any(r["outcome"] == "not_eligible" and r["text"] for r in reasons.values())
    assert graduate["outcome_label"] == "Does not meet the requirements yet"


def test_reference_date_changes_the_age_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "korea.yaml"
    profile.write_text(KOREA_YAML.replace("1998-05-10", "1987-01-01"), encoding="utf-8")

    def age_outcome(reference: str) -> str:
        _, out, _ = screen(str(profile), "--json", "--reference-date", reference, capsys=capsys)
        report = json.loads(out)
        assert report["reference_date"] == reference
        reasons = report["programmes"][0]["reasons"]
        return next(r["outcome"] for r in reasons if r["criterion"] == "age")

    # EPS asks for 18-39: 39 on 1 June 2026, 40 a year later.
    assert age_outcome("2026-06-01") == "eligible"
    assert age_outcome("2027-06-01") == "not_eligible"


def test_declined_consent_and_unknown_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "korea.yaml"
    profile.write_text(KOREA_YAML + "favourite_food: pizza\n", encoding="utf-8")
    code, out, err = screen(str(profile), "--no-consent", "--json", capsys=capsys)
    assert code == 1 and "favourite_food: unknown question id" in err
    report = json.loads(out)
    assert report["consent"] is False and report["problems"]
    outcomes = {r["criterion"]: r["outcome"] for r in report["programmes"][0]["reasons"]}
    assert outcomes["color_vision"] == "not_assessed"


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = screen(str(tmp_path / "missing.yaml"), capsys=capsys)
    assert code == 2 and "cannot read the answers" in err
    listed = tmp_path / "list.yaml"
    listed.write_text("- korea_work\n", encoding="utf-8")
    code, _, err = screen(str(listed), capsys=capsys)
    assert code == 2 and "mapping" in err


def test_python_m_bot_screen(tmp_path: Path) -> None:
    """The real entry point, English text output."""
    profile = tmp_path / "korea.yaml"
    profile.write_text(KOREA_YAML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["BOT_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "screen", str(profile), "--lang", "en"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Work in Korea (EPS): Meets the initial requirements" in result.stdout
