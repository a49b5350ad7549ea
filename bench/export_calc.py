"""Open both exports in LibreOffice Calc (headless) and print what it saw.

Needs ``soffice`` (``apt-get install libreoffice-calc-nogui``) and, for the print check,
``pdfinfo``/``pdftotext``/``pdftoppm`` (poppler-utils). Writes 300 synthetic leads with nasty
names and notes (tabs, semicolons, commas, quotes, line breaks, a leading ``= + - @``, emoji;
phones as ``+62…`` and as a legacy ``08…``) to an XLSX and a CSV, then:

1. XLSX → CSV by LibreOffice (``csv:"Text - txt - csv (StarCalc)":44,34,76,1,,0,false,true,
   false,false,false,-1``): every row has the header's columns; NIK exactly its 16 digits,
   phone exactly as stored, name and note intact (what Calc holds as text).
2. XLSX → PDF: landscape, how many pages, the header on every page; page 1 as a PNG.
3. CSV → XLSX by LibreOffice with the import options of its first-run dialog: separators Tab,
   Comma and Semicolon (``9/44/59``), text delimiter ``"``, UTF-8, from line 1
   (``--infilter=CSV:9/44/59,34,76,1``), read back with openpyxl: no row has more columns than
   the header and every value sits under its header; what became of NIK and phone is printed
   (Calc reads a bare 16-digit field as a number: the reason the CSV is for other systems).
4. CSV → XLSX with LibreOffice's headless defaults (no filter options), for comparison.

Run: ``.venv/bin/python bench/export_calc.py [--keep DIR]``; exits 1 if a check fails (and
says NOTHING CHECKED, exit 0, where ``soffice`` is not installed).
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import load_workbook

from desk.export import COLUMNS, RowBuilder, export_csv, export_xlsx

COUNT = 300
TODAY = date(2026, 12, 2)
NAMES = {900: "Bu Rina", 901: "Pak Dedi"}
NASTY_NAMES = (
    'Siti\tAminah; "Ani", Dewi',
    '=HYPERLINK("http://x.example","klik")',
    "+Rina Lestari",
    "-Dede Rohéndi",
    "@Agus; Maulana",
    "Nur 😀 Aini",
    "Ñoman, Śaputra",
    "Siti Nur'aini",
    "\tTab Depan",
)
NASTY_NOTES = (
    'baris satu\r\nbaris dua;\ttab, koma "kutip"\rbaris tiga 😀',
    "=1+1",
    "-minta jadwal; pelatihan\tsesi 2",
    "@admin tolong cek",
    "\tdiawali tab",
    "sudah ditelepon, minta info " + "panjang " * 25,
    None,
)
FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        FAILURES.append(what)


def leads(count: int) -> list[dict[str, Any]]:
    rng = random.Random(12)
    records = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for n in range(1, count + 1):
        created = start + timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        note = NASTY_NOTES[n % len(NASTY_NOTES)]
        contacts = [
            {
                "at": (created + timedelta(days=i + 1)).isoformat(),
                "by": 900,
                "outcome": "no_answer",
            }
            for i in range(rng.randint(0, 3))
        ]
        records.append(
            {
                "reg_no": f"SRG-2026-{n:06d}",
                "full_name": NASTY_NAMES[n % len(NASTY_NAMES)],
                "nik": f"3673{rng.randint(0, 99):02d}{rng.randint(10**9, 10**10 - 1)}",
                "phone": f"+628{rng.randint(10**9, 10**10 - 1)}"
                if n % 3
                else f"08{rng.randint(10**9, 10**10 - 1)}",
                "kecamatan": "serang",
                "kelurahan": "cipare",
                "programmes": ["korea_work"],
                "training_willing": True,
                "email": None,
                "screening": {"eps_korea": "eligible"},
                "status": ("baru", "dihubungi", "ikut_pelatihan", "tidak_lanjut")[n % 4],
                "status_reason": "unreachable" if n % 4 == 3 else None,
                "notes": [{"at": created.isoformat(), "by": 900, "text": note}] if note else [],
                "history": [],
                "contacts": contacts,
                "assigned_to": (900, 901, None)[n % 3],
                "next_follow_up": (created.date() + timedelta(days=7)).isoformat(),
                "created_at": created.isoformat(),
            }
        )
    return records


def soffice(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["soffice", "--headless", "--norestore", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return time.perf_counter() - started


def expected_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    builder = RowBuilder("id", NAMES, TODAY)
    return [builder.cells(record) for record in records]


def xlsx_to_csv(xlsx: Path, work: Path, records: list[dict[str, Any]]) -> None:
    print("1. XLSX opened in Calc, saved as CSV (what Calc holds in each cell)")
    options = "44,34,76,1,,0,false,true,false,false,false,-1"
    copy = work / "xlsx-in-calc.xlsx"  # not leads.csv: the output is named after the input
    shutil.copy(xlsx, copy)
    seconds = soffice(
        "--convert-to", f"csv:Text - txt - csv (StarCalc):{options}", copy.name, cwd=work
    )
    [out] = list(work.glob(f"{copy.stem}*.csv"))
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    print(f"  ({seconds:.1f} s; {len(body)} rows; file {out.name})")
    expected = expected_rows(records)
    check(len(body) == len(records), f"{len(records)} rows")
    check(all(len(row) == len(header) == len(COLUMNS) for row in body), "every row 19 columns")
    at = {column: COLUMNS.index(column) for column in COLUMNS}
    nik_ok = sum(row[at["nik"]] == r["nik"] for row, r in zip(body, records, strict=True))
    check(nik_ok == len(records), f"NIK exactly its 16 digits as text: {nik_ok}/{len(records)}")
    phone_ok = sum(row[at["phone"]] == r["phone"] for row, r in zip(body, records, strict=True))
    check(
        phone_ok == len(records), f"phone exactly as stored (+62…, 08…): {phone_ok}/{len(records)}"
    )
    name_ok = sum(
        row[at["full_name"]] == cells["full_name"]
        for row, cells in zip(body, expected, strict=True)
    )
    check(name_ok == len(records), f"names intact (tabs, quotes, emoji): {name_ok}/{len(records)}")
    note_ok = sum(
        row[at["last_note"]] == (cells["last_note"] or "")
        for row, cells in zip(body, expected, strict=True)
    )
    check(note_ok == len(records), f"notes intact (line breaks, tabs): {note_ok}/{len(records)}")
    status_ok = sum(
        row[at["status"]] == cells["status"] for row, cells in zip(body, expected, strict=True)
    )
    check(status_ok == len(records), f"status under its header: {status_ok}/{len(records)}")
    print(f"  created_at as Calc shows it: {body[0][at['created_at']]!r}")


def xlsx_to_pdf(xlsx: Path, work: Path) -> None:
    print("2. XLSX printed to PDF")
    seconds = soffice("--convert-to", "pdf", xlsx.name, cwd=work)
    pdf = work / f"{xlsx.stem}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    size = next(line for line in info.splitlines() if line.startswith("Page size:"))
    width, height = (float(v) for v in size.split(":")[1].split("pts")[0].split(" x "))
    print(f"  ({seconds:.1f} s) {pages} pages, {size.split(':', 1)[1].strip()}")
    check(width > height, "landscape")
    with_header = 0
    for page in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
            capture_output=True,
            text=True,
        ).stdout
        with_header += "No. Registrasi" in text and "Catatan terakhir" in text
    check(
        with_header == pages,
        f"header (first and last column) on every page: {with_header}/{pages}",
    )
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), "page"], cwd=work
    )
    print(f"  page 1: {work / 'page-1.png'}")


def csv_in_calc(csv_path: Path, work: Path, records: list[dict[str, Any]]) -> None:
    print('3. CSV opened in Calc with Tab, Comma and Semicolon ticked ("CSV:9/44/59,34,76,1")')
    copy = work / "csv-first-run.csv"
    shutil.copy(csv_path, copy)
    seconds = soffice(
        "--infilter=CSV:9/44/59,34,76,1", "--convert-to", "xlsx", copy.name, cwd=work
    )
    sheet = load_workbook(work / "csv-first-run.xlsx").active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    print(f"  ({seconds:.1f} s; {len(body)} rows, {sheet.max_column} columns)")
    expected = expected_rows(records)
    check(len(body) == len(records), f"{len(records)} rows (no line break split a row)")
    check(
        sheet.max_column == len(header) == len(COLUMNS), "no row has more columns than the header"
    )
    at = {column: COLUMNS.index(column) for column in COLUMNS}
    placed = 0
    for row, record, cells in zip(body, records, expected, strict=True):
        placed += (
            row[at["reg_no"]] == record["reg_no"]
            and row[at["full_name"]] == cells["full_name"]
            and row[at["status"]] == cells["status"]
            and (row[at["last_note"]] or None) == cells["last_note"]
            and row[at["assigned_to"]] == cells["assigned_to"]
        )
    check(placed == len(records), f"every value under its header: {placed}/{len(records)}")
    niks = [row[at["nik"]] for row in body]
    exact = sum(str(v) == r["nik"] for v, r in zip(niks, records, strict=True))
    print(
        f"  NIK as Calc reads the CSV: {type(niks[0]).__name__} {niks[0]!r} for "
        f"{records[0]['nik']!r}; exact in {exact}/{len(records)} (expected: a number, 15 digits)"
    )
    phones = [(row[at["phone"]], r["phone"]) for row, r in zip(body, records, strict=True)]
    kept = sum(str(v) == stored for v, stored in phones)
    print(f"  phone as Calc reads the CSV: {phones[0][0]!r} for {phones[0][1]!r}; kept {kept}")


def csv_default(csv_path: Path, work: Path) -> None:
    print("4. CSV opened in Calc headless without filter options (its defaults)")
    copy = work / "csv-default.csv"
    shutil.copy(csv_path, copy)
    soffice("--convert-to", "xlsx", copy.name, cwd=work)
    sheet = load_workbook(work / "csv-default.xlsx").active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    print(f"  {len(rows) - 1} rows, {sheet.max_column} columns; first row {rows[1][:5]}")
    check(sheet.max_column == len(COLUMNS) and len(rows) - 1 == COUNT, "same shape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="write the files here (kept) instead of a temp dir")
    args = parser.parse_args()
    if shutil.which("soffice") is None:
        # Not a pass: nothing was checked. Exit 0 all the same so that `make bench` goes on
        # to the other benchmarks on a machine without LibreOffice.
        print("NOTHING CHECKED: soffice is not on PATH (apt-get install libreoffice-calc-nogui)")
        return
    version = subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout
    print(f"LibreOffice: {version.strip()}")
    records = leads(COUNT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        xlsx, csv_path = work / "leads.xlsx", work / "leads.csv"
        export_xlsx(records, xlsx, names=NAMES, today=TODAY)
        export_csv(records, csv_path, names=NAMES, today=TODAY)
        print(f"{COUNT} leads with nasty names and notes -> {xlsx.name}, {csv_path.name}")
        xlsx_to_csv(xlsx, work, records)
        xlsx_to_pdf(xlsx, work)
        csv_in_calc(csv_path, work, records)
        csv_default(csv_path, work)
    print("all checks passed" if not FAILURES else f"{len(FAILURES)} checks FAILED")
    raise SystemExit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
