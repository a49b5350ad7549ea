"""Desk statistics, their report and chart, and the grouping of unanswered questions."""

import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from desk.charts import render_chart
from desk.stats import Stats, compute_stats, format_stats
from desk.unanswered import group_questions, normalise

TODAY = date(2026, 11, 28)


def reg(created_at: str, kecamatan: str | None = "serang", **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "created_at": created_at,
        "kecamatan": kecamatan,
        "programmes": ["korea_work"],
        "screening": {"eps_korea": "eligible"},
        "status": "baru",
    }
    record.update(fields)
    return record


FIXTURE = [
    reg("2026-11-27T18:00:00+00:00"),  # 28 Nov 01:00 in Jakarta: counts as today
    reg("2026-11-28T03:00:00+00:00", "kasemen", status="dihubungi"),
    reg(
        "2026-11-25T10:00:00+00:00",
        "kasemen",
        programmes=["japan_work", "scholarship"],
        screening={"ssw_japan": "needs_preparation", "gks_undergrad": "not_eligible"},
    ),
    reg("2026-11-22T10:00:00+00:00", "taktakan", programmes=[], screening=None),  # a Sunday
    reg("2026-11-20T10:00:00+00:00", None, status="tidak_lanjut"),
    reg(
        "2026-10-01T10:00:00+00:00", "cipocok_jaya", screening={"eps_korea": "needs_medical_check"}
    ),
]


@pytest.fixture
def stats() -> Stats:
    usage = {"eps_age": 40, "eps_cost": 25, "lpk": 9, "gks": 7, "ssw": 5, "calo": 3}
    return compute_stats(FIXTURE, faq_usage=usage, unanswered=10, answered=30, today=TODAY)


def test_counts_by_day_week_and_recent_windows(stats: Stats) -> None:
    assert stats.total == 6
    assert len(stats.by_day) == 30
    assert stats.by_day[0] == (TODAY - timedelta(days=29), 0)
    by_day = dict(stats.by_day)
    assert by_day[TODAY] == 2
    assert by_day[date(2026, 11, 25)] == 1
    assert sum(by_day.values()) == stats.last_30_days == 5  # 1 October is older
    assert (stats.today_count, stats.last_7_days) == (2, 4)
    assert stats.by_week == (("2026-W40", 1), ("2026-W47", 2), ("2026-W48", 3))


def test_counts_by_kecamatan_programme_outcome_and_status(stats: Stats) -> None:
    assert stats.by_kecamatan == (
        ("serang", 1),
        ("kasemen", 2),
        ("walantaka", 0),
        ("curug", 0),
        ("cipocok_jaya", 1),
        ("taktakan", 1),
        ("unknown", 1),
    )
    assert dict(stats.by_programme) == {"korea_work": 4, "japan_work": 1, "scholarship": 1}
    assert stats.by_outcome == (
        ("eligible", 3),
        ("needs_preparation", 1),
        ("needs_medical_check", 1),
        ("not_resident", 0),
        ("not_eligible", 1),
    )
    assert dict(stats.by_status) == {
        "baru": 4,
        "dihubungi": 1,
        "ikut_pelatihan": 0,
        "lulus_pelatihan": 0,
        "berangkat": 0,
        "tidak_lanjut": 1,
    }
    assert stats.faq_top == (("eps_age", 40), ("eps_cost", 25), ("lpk", 9), ("gks", 7), ("ssw", 5))
    assert stats.unanswered_rate == 0.25


def test_report_in_both_languages(stats: Stats) -> None:
    report = format_stats(stats, "id")
    assert report.startswith("<b>📊 Statistik pendaftaran per 2026-11-28</b>")
    assert "Total pendaftar: 6" in report
    assert "Hari ini: 2 · 7 hari terakhir: 4 · 30 hari terakhir: 5" in report
    assert "• Cipocok Jaya: 1" in report
    assert "• tidak diketahui: 1" in report
    assert "• Kerja ke Korea: 4" in report
    assert "• perlu pemeriksaan kesehatan: 1" in report
    assert "• 2026-W48: 3" in report
    assert "• eps_age: 40" in report
    assert "Pertanyaan tak terjawab: 10 dari 40 (25%)" in report
    english = format_stats(stats, "en")
    assert "Total registrations: 6" in english
    assert "Unanswered questions: 10 of 40 (25%)" in english
    for text in (report, english):
        assert len(text) < 3500
        assert text.replace("<b>", "").replace("</b>", "").count("<") == 0


def test_report_of_an_empty_desk() -> None:
    report = format_stats(compute_stats([], today=TODAY), "en")
    assert "Total registrations: 0" in report
    assert "(no data yet)" in report
    assert "No questions recorded yet." in report


def test_chart_is_a_png(tmp_path: Path, stats: Stats) -> None:
    path = render_chart(stats, tmp_path / "stats.png", "id")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds counts per kecamatan


def test_chart_over_an_existing_file_is_private(tmp_path: Path, stats: Stats) -> None:
    path = tmp_path / "stats.png"
    path.write_bytes(b"old")
    path.chmod(0o644)
    render_chart(stats, path, "id")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"\x89PNG")


def test_chart_of_an_empty_desk(tmp_path: Path) -> None:
    path = render_chart(compute_stats([], today=TODAY), tmp_path / "empty.png", "en")
    assert path.read_bytes().startswith(b"\x89PNG")


# --- unanswered questions ---------------------------------------------------------------------


def item(n: int, text: str, at: str = "2026-11-01T00:00:00+00:00") -> dict[str, str]:
    return {"id": f"q{n}", "text": text, "lang": "id", "at": at}


def test_normalise() -> None:
    assert normalise("  Kapannnn   daftar EPS-TOPIK??  ") == "kapann daftar eps topik"
    assert normalise("Biaya   pendaftaran_Rohéndi!") == "biaya pendaftaran rohendi"


def test_similar_questions_are_grouped() -> None:
    items = [
        item(1, "Kapan pendaftaran EPS TOPIK dibuka?"),
        item(2, "kapan pendaftaran eps topik dibuka min", "2026-11-05T00:00:00+00:00"),
        item(3, "Berapa gaji kerja di Korea?"),
        item(4, "kapan pendaftran eps topik dibuka"),
        item(5, "KAPAN PENDAFTARAN EPS TOPIK DIBUKA?"),
        item(6, "gaji di korea berapa"),
        item(7, "apakah boleh bertato"),
        item(8, "???"),
    ]
    groups = group_questions(items)
    assert [(g.count, g.ids) for g in groups[:2]] == [
        (4, ("q1", "q5", "q2", "q4")),
        (2, ("q3", "q6")),
    ]
    assert groups[0].representative == "Kapan pendaftaran EPS TOPIK dibuka?"
    assert groups[0].last_at == "2026-11-05T00:00:00+00:00"
    assert sorted(g.ids for g in groups[2:]) == [("q7",), ("q8",)]
    assert sum(g.count for g in groups) == len(items)


def test_threshold_controls_grouping() -> None:
    items = [item(1, "syarat kerja ke jepang"), item(2, "syarat kuliah di jepang")]
    assert len(group_questions(items, threshold=95)) == 2
    assert len(group_questions(items, threshold=50)) == 1


def test_ten_thousand_questions_group_by_what_they_ask() -> None:
    """At the size bench/unanswered.py times (speed is measured there, not asserted here)."""
    templates = [
        "kapan pendaftaran eps topik dibuka",
        "berapa biaya kursus bahasa korea",
        "syarat kerja ke jepang apa saja",
        "bagaimana cara daftar beasiswa gks",
        "apakah berangkat ke korea gratis",
    ]
    fillers = ["", " min", " kak", " ya", " dong"]
    items = [item(n, f"{templates[n % 5]}{fillers[n // 5 % 5]} #{n % 997}") for n in range(10_000)]
    items += [item(10_000 + n, f"pertanyaan acak nomor {n} {n * 7919}") for n in range(2_000)]
    groups = group_questions(items)
    assert sum(g.count for g in groups) == len(items)
    assert [g.count for g in groups[:5]] == [2000] * 5


def test_desk_and_identity_never_import_telegram() -> None:
    modules = "desk.export, desk.stats, desk.charts, desk.unanswered, screening.identity"
    code = f"import sys, {modules}; assert 'telegram' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
