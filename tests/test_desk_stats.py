"""Desk statistics, their report and chart, and the grouping of unanswered questions."""

import stat
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from desk.charts import render_chart
from desk.stats import (
    Period,
    PeriodError,
    Stats,
    compute_stats,
    decode_period,
    format_stats,
    parse_period,
    period_label,
    preset_period,
    week_label,
)
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
    assert (stats.total, stats.total_all) == (6, 6)
    assert stats.period == Period("all", TODAY)
    assert (stats.today_count, stats.last_7_days, stats.last_30_days) == (2, 4, 5)
    assert stats.by_day[0] == (date(2026, 10, 1), 1)  # all time: from the first registration
    assert stats.by_day[-1] == (TODAY, 2) and len(stats.by_day) == 59
    # Weeks are Mondays, zeros included between the first and the last.
    weeks = dict(stats.by_week)
    assert min(weeks) == date(2026, 9, 28) and max(weeks) == date(2026, 11, 23)
    assert weeks[date(2026, 11, 16)] == 2  # 20 Nov and Sunday 22 Nov
    assert weeks[date(2026, 11, 23)] == 3 and weeks[date(2026, 10, 5)] == 0


def test_a_period_counts_only_its_registrations() -> None:
    week = compute_stats(FIXTURE, today=TODAY, period=preset_period("7", TODAY))
    assert (week.total, week.total_all) == (4, 6)
    assert [day for day, _ in week.by_day] == [date(2026, 11, 22 + i) for i in range(7)]
    assert dict(week.by_kecamatan)["taktakan"] == 1 and "unknown" not in dict(week.by_kecamatan)
    typed = parse_period(["01-10-2026", "20-11-2026"], TODAY)
    window = compute_stats(FIXTURE, today=TODAY, period=typed)
    assert window.total == 2 and dict(window.by_status)["tidak_lanjut"] == 1
    long = compute_stats(FIXTURE, today=TODAY, period=Period("dates", TODAY, date(2026, 1, 1)))
    assert long.by_day == () and len(long.by_week) == 48  # over 62 days: per week only


def test_funnel_counts_how_far_each_lead_got() -> None:
    records = [
        reg("2026-11-20T10:00:00+00:00", status="berangkat"),
        reg("2026-11-20T10:00:00+00:00", status="lulus_pelatihan"),
        reg("2026-11-20T10:00:00+00:00", status="dihubungi"),
        reg("2026-11-20T10:00:00+00:00"),
        reg(  # trained, then dropped out: it reached "ikut pelatihan"
            "2026-11-20T10:00:00+00:00",
            status="tidak_lanjut",
            history=[
                {"change": "created"},
                {"change": "status", "from": "baru", "to": "ikut_pelatihan"},
                {"change": "status", "from": "ikut_pelatihan", "to": "tidak_lanjut"},
            ],
        ),
    ]
    stats = compute_stats(records, today=TODAY)
    assert stats.funnel == (
        ("baru", 5),
        ("dihubungi", 4),
        ("ikut_pelatihan", 3),
        ("lulus_pelatihan", 2),
        ("berangkat", 1),
    )
    assert stats.dropped == 1
    report = format_stats(stats, "id")
    assert "• ikut pelatihan: 3 (60%)" in report and "• tidak lanjut: 1 (20%)" in report


def test_backlog_and_contact_attempts() -> None:
    call = {"at": "2026-11-27T03:00:00+00:00", "by": 900}
    records = [
        reg("2026-11-26T10:00:00+00:00"),  # 2 days: not in the backlog
        reg("2026-11-24T10:00:00+00:00", contacts=[{**call, "outcome": "no_answer"}]),  # 4
        reg("2026-11-18T10:00:00+00:00"),  # 10 days
        reg(
            "2026-11-10T10:00:00+00:00",
            status="dihubungi",
            contacts=[{**call, "outcome": "no_answer"}, {**call, "outcome": "interested"}],
        ),
    ]
    stats = compute_stats(records, today=TODAY)
    assert stats.backlog == (("3", 2), ("7", 1))
    assert (stats.oldest_waiting, stats.never_contacted) == (10, 2)
    assert (stats.attempts, stats.contacted) == (3, 2)
    assert dict(stats.contact_outcomes) == {
        "no_answer": 2,
        "wrong_number": 0,
        "call_back": 0,
        "interested": 1,
        "declined": 0,
        "visited_office": 0,
    }
    report = format_stats(stats, "id")
    assert "baru lebih dari 3 hari: 2 · lebih dari 7 hari: 1" in report
    assert "paling lama menunggu: 10 hari" in report
    assert "3 kontak ke 2 pendaftar (rata-rata 1,5 per pendaftar)" in report
    assert "tidak diangkat 2 · tertarik 1" in report
    assert "1.5 per registration" in format_stats(stats, "en")
    # No call log yet (records before it existed): no contact figures, no error.
    assert compute_stats([reg("2026-11-26T10:00:00+00:00")], today=TODAY).contact_outcomes == ()


def test_counts_by_kecamatan_status_programme_and_outcome(stats: Stats) -> None:
    assert stats.by_kecamatan == (
        ("serang", 1),
        ("kasemen", 2),
        ("walantaka", 0),
        ("curug", 0),
        ("cipocok_jaya", 1),
        ("taktakan", 1),
        ("unknown", 1),
    )
    kasemen = dict(dict(stats.kecamatan_status)["kasemen"])
    assert (kasemen["baru"], kasemen["dihubungi"], kasemen["berangkat"]) == (1, 1, 0)
    assert dict(stats.by_programme) == {"korea_work": 4, "japan_work": 1, "scholarship": 1}
    assert stats.by_outcome == (
        ("eligible", 3),
        ("needs_preparation", 1),
        ("needs_medical_check", 1),
        ("not_resident", 0),
        ("not_eligible", 1),
    )
    eps = dict(dict(stats.programme_outcome)["eps_korea"])
    assert (eps["eligible"], eps["needs_medical_check"]) == (3, 1)
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


def test_weeks_and_periods_in_words() -> None:
    assert week_label(date(2026, 11, 30), "id") == "minggu 30 Nov – 6 Des"
    assert week_label(date(2026, 11, 30), "en") == "week 30 Nov – 6 Dec"
    assert week_label(date(2026, 12, 28), "id") == "minggu 28 Des 2026 – 3 Jan 2027"
    assert week_label(date(2025, 8, 11), "id", TODAY) == "minggu 11 Agu – 17 Agu 2025"
    assert (
        period_label(preset_period("30", TODAY), "id") == "30 hari terakhir (30 Okt – 28 Nov 2026)"
    )
    assert period_label(preset_period("all", TODAY), "en") == "all time"
    typed = parse_period(["01-11-2026", "30-11-2026"], TODAY)
    assert period_label(typed, "id") == "1 Nov – 30 Nov 2026"


def test_typed_periods() -> None:
    assert parse_period([], TODAY) == Period("all", TODAY)
    assert parse_period(["semua"], TODAY) == Period("all", TODAY)
    assert parse_period(["7", "hari"], TODAY) == preset_period("7", TODAY)
    assert parse_period(["30"], TODAY) == Period("30", TODAY, date(2026, 10, 30))
    assert parse_period(["14", "hari"], TODAY) == Period("dates", TODAY, date(2026, 11, 15))
    assert parse_period(["2026-11-01"], TODAY) == Period("dates", TODAY, date(2026, 11, 1))
    assert parse_period(["01-11-2026", "s.d.", "15/11/2026"], TODAY) == Period(
        "dates", date(2026, 11, 15), date(2026, 11, 1)
    )
    for bad in (["kemarin"], ["30-11-2026", "01-11-2026"], ["0"], ["1", "2", "3"], ["31-02-2026"]):
        with pytest.raises(PeriodError):
            parse_period(bad, TODAY)
    for period in (
        preset_period("7", TODAY),
        Period("all", TODAY),
        parse_period(["01-11-2026", "30-11-2026"], TODAY),
    ):
        assert decode_period(period.code, TODAY) == period
        assert len(f"st:g:{period.code}") <= 64
    for bad_code in ("x", "d20261301-20261130", "d20261130-20261101", "14"):
        with pytest.raises(PeriodError):
            decode_period(bad_code, TODAY)


def test_report_in_both_languages(stats: Stats) -> None:
    report = format_stats(stats, "id")
    assert report.startswith("<b>📊 Statistik pendaftaran · semua</b>\nper 28 Nov 2026 · total 6")
    assert "Hari ini: 2 · 7 hari terakhir: 4 · 30 hari terakhir: 5 · semua: 6" in report
    assert "• Cipocok Jaya: 1 — baru 1" in report
    assert "• Kasemen: 2 — baru 1 · sudah dihubungi 1" in report
    assert "• Walantaka: 0" in report
    assert "• tidak diketahui: 1 — tidak lanjut 1" in report
    assert "• EPS Korea: 4 — memenuhi syarat awal 3 · perlu pemeriksaan kesehatan 1" in report
    assert "• Kerja ke Korea: 4" in report
    assert "• minggu 23 Nov – 29 Nov: 3" in report and "W48" not in report
    assert "• eps_age: 40" in report
    assert "Pertanyaan tak terjawab: 10 dari 40 (25%)" in report
    english = format_stats(stats, "en")
    assert "6 registrations in total" in english and "• week 23 Nov – 29 Nov: 3" in english
    assert "Unanswered questions: 10 of 40 (25%)" in english
    for text in (report, english):
        assert len(text) < 3500
        assert text.replace("<b>", "").replace("</b>", "").count("<") == 0


def test_report_of_an_empty_desk() -> None:
    report = format_stats(compute_stats([], today=TODAY), "en")
    assert "0 registrations in total" in report
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


def test_chart_of_a_long_period_by_week(tmp_path: Path) -> None:
    period = Period("dates", TODAY, date(2026, 1, 1))
    stats = compute_stats(FIXTURE, today=TODAY, period=period)
    assert stats.by_day == ()
    path = render_chart(stats, tmp_path / "weeks.png", "en")
    assert path.read_bytes().startswith(b"\x89PNG")
