"""Export registrations to CSV and XLSX for the staff, and the filters shared with the lead list.

Both writers stream (constant memory in the number of rows), create the file with owner-only
permissions (0600: it holds NIKs and phone numbers; the caller deletes it after sending), and
report progress through an optional callback receiving the number of rows written so far.

Spreadsheet safety (OWASP "CSV Injection"): every CSV field is quoted (``csv.QUOTE_ALL``), so
whatever list separator a spreadsheet reads the file with (Indonesian Excel uses ``;``), a
separator inside a cell never starts a new one: ``catatan;=1+1`` stays one cell, not a
formula. A free-text cell that itself begins with ``=``, ``+``, ``-``, ``@``, TAB or CR gets a
leading apostrophe, in the CSV and in the XLSX alike (a string cell in an XLSX is inert, but
staff re-save workbooks as CSV, where it would come alive again). NIK and phone are written
exactly as stored (quoted text, no marker), so they read back digit for digit.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from desk import labels, local_datetime, text
from screening.identity import load_wilayah
from store.registrations import matches

COLUMNS = (
    "reg_no",
    "created_at",
    "full_name",
    "nik",
    "phone",
    "kecamatan",
    "kelurahan",
    "programmes",
    "screening",
    "training_willing",
    "email",
    "status",
    "status_reason",
    "last_note",
)
# Column widths in the XLSX, in characters.
_WIDTHS = {
    "reg_no": 17,
    "created_at": 17,
    "full_name": 28,
    "nik": 19,
    "phone": 16,
    "kecamatan": 14,
    "kelurahan": 16,
    "programmes": 26,
    "screening": 36,
    "training_willing": 10,
    "email": 28,
    "status": 16,
    "status_reason": 28,
    "last_note": 40,
}
_IDENTIFIER_COLUMNS = frozenset({"nik", "phone"})
_IDENTIFIER_RE = re.compile(r"^\+?\d{6,20}$")
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M"

Progress = Callable[[int], None]
Cell = str | datetime | None


# --------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class ExportFilters:
    """Which registrations to export or list; ``None`` means "any".

    ``programme`` matches an interest (``korea_work``) or a screened programme (``eps_korea``);
    ``outcome`` matches a screened programme's outcome, or any outcome when the programme is an
    interest or not given;
    ``since`` / ``until`` are inclusive dates of registration in Asia/Jakarta.
    """

    programme: str | None = None
    outcome: str | None = None
    kecamatan: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None


def filter_records(
    records: Iterable[Mapping[str, Any]], filters: ExportFilters
) -> Iterator[Mapping[str, Any]]:
    """The records matching every set field of ``filters``, lazily and in input order, by the
    rules of ``RegistrationRepo.search`` (which the lead list and the exports use)."""
    wanted = asdict(filters)
    return (record for record in records if matches(record, **wanted))


# --------------------------------------------------------------------------------------------
# Rows


def neutralise(value: str) -> str:
    """Prefix a free-text cell that a spreadsheet would read as a formula with ``'``."""
    return "'" + value if value.startswith(_FORMULA_TRIGGERS) else value


class _RowBuilder:
    """Turns a registration record into the export's cells, with labels in one language."""

    def __init__(self, lang: str) -> None:
        wilayah = load_wilayah()
        self.kecamatan = {kec.id: kec.name for kec in wilayah.kecamatan}
        self.kelurahan = {
            (kec.id, kel.id): kel.name for kec in wilayah.kecamatan for kel in kec.kelurahan
        }
        self.interests = labels("interests", lang)
        self.programmes = labels("programmes", lang)
        self.outcomes = labels("outcomes", lang)
        self.statuses = labels("statuses", lang)
        self.answers = labels("answers", lang)
        self.header = [text("columns", column, lang) for column in COLUMNS]

    def _screening(self, screening: Mapping[str, str] | None) -> str:
        return "; ".join(
            f"{self.programmes.get(prog, prog)}: {self.outcomes.get(out, out)}"
            for prog, out in (screening or {}).items()
        )

    def cells(self, record: Mapping[str, Any]) -> dict[str, Cell]:
        """Cells keyed by column; identifiers and dates untouched, free text neutralised."""
        kec: str = record.get("kecamatan") or ""
        kel: str = record.get("kelurahan") or ""
        willing = record.get("training_willing")
        notes = record.get("notes") or ()
        free_text: dict[str, str | None] = {
            "reg_no": record.get("reg_no"),
            "full_name": record.get("full_name"),
            "kecamatan": self.kecamatan.get(kec, kec) if kec else None,
            "kelurahan": self.kelurahan.get((kec, kel), kel) if kel else None,
            "programmes": ", ".join(
                self.interests.get(item, item) for item in record.get("programmes") or ()
            ),
            "screening": self._screening(record.get("screening")),
            "training_willing": None if willing is None else self.answers[_yes_no(willing)],
            "email": record.get("email"),
            "status": self.statuses.get(record.get("status") or "", record.get("status")),
            "status_reason": record.get("status_reason"),
            "last_note": notes[-1].get("text") if notes else None,
        }
        cells: dict[str, Cell] = {
            key: neutralise(_clean(value)) if value else None for key, value in free_text.items()
        }
        created = record.get("created_at")
        cells["created_at"] = local_datetime(created) if created else None
        for column in _IDENTIFIER_COLUMNS:
            value = record.get(column)
            if value and not _IDENTIFIER_RE.match(value):
                value = neutralise(_clean(value))  # a legacy or malformed value is free text
            cells[column] = value or None
        return cells


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _clean(value: str) -> str:
    """Drop control characters that XML (hence XLSX) cannot hold; CR/LF/TAB are kept."""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


# --------------------------------------------------------------------------------------------
# Writers


def open_private(path: Path, mode: str, **kwargs: Any) -> IO[Any]:
    """Open ``path`` for writing, created (or reset) with 0600 permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT leaves the mode of an existing file alone
    return os.fdopen(fd, mode, **kwargs)


def _csv_cell(column: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(_CSV_DATETIME_FORMAT)
    # A NIK or phone (checked to be digits, with an optional leading "+") is written as it is
    # stored: quoted like every field, it reads back exactly; for Excel, staff take the XLSX,
    # whose identifier cells are text.
    return value


def export_csv(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    *,
    progress: Progress | None = None,
    lang: str = "id",
) -> int:
    """Write ``records`` to a UTF-8 (with BOM, so Excel reads it as UTF-8) CSV; return rows."""
    builder = _RowBuilder(lang)
    count = 0
    with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(builder.header)
        for record in records:
            cells = builder.cells(record)
            writer.writerow([_csv_cell(column, cells[column]) for column in COLUMNS])
            count += 1
            if progress is not None:
                progress(count)
    return count


def _xlsx_row(ws: Any, cells: Mapping[str, Cell]) -> list[Any]:
    row: list[Any] = []
    for column in COLUMNS:
        value = cells[column]
        if value is not None and column in _IDENTIFIER_COLUMNS:
            cell = WriteOnlyCell(ws, value=value)
            cell.number_format = "@"  # text, so Excel never re-reads it as a number
            row.append(cell)
        elif isinstance(value, datetime):
            cell = WriteOnlyCell(ws, value=value)
            cell.number_format = _DATETIME_FORMAT
            row.append(cell)
        else:
            row.append(value)
    return row


def export_xlsx(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    *,
    progress: Progress | None = None,
    lang: str = "id",
) -> int:
    """Write ``records`` to an XLSX (streamed, frozen header, auto-filter); return rows."""
    builder = _RowBuilder(lang)
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(text("export", "sheet", lang))
    ws.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = _WIDTHS[column]
    bold = Font(bold=True)
    header = []
    for title in builder.header:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    count = 0
    for record in records:
        ws.append(_xlsx_row(ws, builder.cells(record)))
        count += 1
        if progress is not None:
            progress(count)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    with open_private(path, "wb") as fh:
        workbook.save(fh)
    return count
