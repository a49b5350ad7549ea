"""`python -m bot export` and `python -m bot stats`: files read back, filters, the progress bar,
owner-only permissions, the audit, and a clear error while the bot holds the data directory."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

from openpyxl import load_workbook

from store import Stores
from tests.test_cli import run_bot
from tests.test_staff_bot import HYPERLINK, seed


def seeded(tmp: Path) -> list[str]:
    """Six registrations in ``tmp/data`` (one with a formula for a name), one contacted."""
    with Stores.open(tmp / "data") as stores:
        numbers = seed(stores, 5) + seed(stores, 1, full_name=HYPERLINK)
        stores.registrations.set_status(numbers[0], "dihubungi", actor=900)
        stores.unanswered.log("kapan pendaftaran jepang dibuka", "id")
        stores.kv.put_many("faq_usage", [("eps_age", 3), ("eps_cost", 1)])
    return numbers


def test_csv_export_with_progress_and_audit(tmp_path: Path) -> None:
    numbers = seeded(tmp_path)
    out = tmp_path / "pendaftar.csv"
    result = run_bot("export", "--format", "csv", "--out", str(out), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 registrations" in result.stdout
    assert "6/6" in result.stderr and "rows" in result.stderr  # tqdm, on stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["No. Registrasi"] for row in rows} == set(numbers)
    assert all(len(row["NIK"].strip()) == 16 for row in rows)
    assert "'" + HYPERLINK in {row["Nama lengkap"] for row in rows}
    with Stores.open(tmp_path / "data") as stores:
        [record] = [a for a in stores.audit.list() if a["action"] == "export"]
    assert record["details"] == {"format": "csv", "rows": 6, "via": "cli"}


def test_xlsx_export_with_filters(tmp_path: Path) -> None:
    numbers = seeded(tmp_path)
    out = tmp_path / "dihubungi.xlsx"
    args = ("--format", "xlsx", "--out", str(out), "--status", "dihubungi", "-q")
    result = run_bot("export", *args, "--since", "2020-01-01", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # --quiet: no progress bar
    workbook = load_workbook(out, read_only=True)  # holds the file open until closed
    try:
        sheet = workbook.active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    assert [row[0] for row in rows[1:]] == [numbers[0]]


def test_export_refuses_unknown_filters_and_a_running_bot(tmp_path: Path) -> None:
    seeded(tmp_path)
    out = tmp_path / "x.csv"
    bad = run_bot("export", "--out", str(out), "--kecamatan", "jakarta", tmp=tmp_path)
    assert bad.returncode == 2 and "cipocok_jaya" in bad.stderr
    assert not out.exists()
    with Stores.open(tmp_path / "data"):  # the bot holds the data directory
        locked = run_bot("export", "--out", str(out), tmp=tmp_path)
    assert locked.returncode == 4 and "Traceback" not in locked.stderr  # EXIT_LOCKED
    assert not out.exists()


def test_stats_report_and_chart(tmp_path: Path) -> None:
    seeded(tmp_path)
    png = tmp_path / "chart.png"
    result = run_bot("stats", "--png", str(png), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Statistik pendaftaran · semua" in result.stdout
    assert "total 6 pendaftar" in result.stdout
    assert "• sudah dihubungi: 1 (17%)" in result.stdout  # the funnel
    assert "baru 5 · sudah dihubungi 1" in result.stdout  # status now
    assert "Pertanyaan tak terjawab: 1 dari 5 (20%)" in result.stdout
    assert "<b>" not in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")


def test_stats_over_a_period_and_a_bad_one(tmp_path: Path) -> None:
    seeded(tmp_path)
    week = run_bot("stats", "7", "hari", tmp=tmp_path)
    assert week.returncode == 0, week.stderr
    assert "7 hari terakhir" in week.stdout and "total 6 pendaftar" in week.stdout
    old = run_bot("stats", "01-01-2020", "31-01-2020", tmp=tmp_path)
    assert old.returncode == 0 and "total 0 pendaftar" in old.stdout
    assert "semua: 6" in old.stdout
    bad = run_bot("stats", "kemarin", tmp=tmp_path)
    assert bad.returncode == 2 and "kemarin" in bad.stderr and "Traceback" not in bad.stderr


def test_xlsx_is_the_default_format(tmp_path: Path) -> None:
    numbers = seeded(tmp_path)
    out = tmp_path / "pendaftar.xlsx"
    result = run_bot("export", "--out", str(out), "-q", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert {row[0] for row in rows[1:]} == set(numbers)
    with Stores.open(tmp_path / "data") as stores:
        for row in rows[1:]:
            record = stores.registrations.get(str(row[0]))
            assert record is not None and (row[3], row[4]) == (record["nik"], record["phone"])
