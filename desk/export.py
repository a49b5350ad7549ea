"""Export registrations to XLSX (for staff) and CSV (for other systems), and the filters shared
with the lead list.

Which file for what: the **XLSX** is the staff's file. It opens right in Excel and LibreOffice
Calc: NIK and phone are text cells (all 16 digits, the leading ``+``/``0`` kept), dates are real
dates, notes wrap in columns wide enough to read, the header is frozen, filterable and repeated
on every printed page, and a page prints landscape, fitted to the paper's width. The status reads
``1. baru`` … ``6. tidak lanjut`` so that a filter or a sort lists the pipeline in its order.
The **CSV** is for other systems (imports, scripts): UTF-8 with a BOM, every field quoted
(``csv.QUOTE_ALL``), NIK and phone exactly as stored; a spreadsheet that opens it reads a bare
16-digit field as a number and rounds it to 15 digits, which is why staff get the XLSX.

Both writers stream (memory does not grow with the rows), create the file with owner-only
permissions (0600: it holds NIKs and phone numbers; the caller deletes it after sending), and
report progress through an optional callback receiving the number of rows written so far.

Spreadsheet safety (OWASP "CSV Injection"): every CSV field is quoted, so whatever separators a
spreadsheet splits the file on (LibreOffice's first-run import ticks Tab, Comma and Semicolon;
Indonesian Excel uses ``;``), a separator, a quote or a line break inside a cell never starts a
new one: ``catatan;=1+1`` stays one cell, not a formula. Line breaks inside a field are written
as LF (``\\r\\n`` and ``\\r`` become ``\\n``). A free-text cell that itself begins with ``=``,
``+``, ``-``, ``@``, TAB or CR gets a leading apostrophe, in the CSV and in the XLSX alike (a
string cell in an XLSX is inert, but staff re-save workbooks as CSV, where it would come alive
again); nothing else is touched. NIK and phone are written exactly as stored (quoted text in the
CSV, text cells in the XLSX, no marker), so they read back digit for digit.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from copy import copy
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from desk import labels, local_datetime, optional_labels, reason_label, text
from screening.identity import load_wilayah
from store import clock
from store.registrations import STATUSES, matches

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
    "assigned_to",
    "attempts",
    "last_contact",
    "next_follow_up",
    "age_days",
    "last_note",
)
# Column widths in the XLSX, in characters of the default font ("0"): wide enough for the
# header's longest word and for most values on one or two lines; longer text wraps.
WIDTHS = {
    "reg_no": 16,
    "created_at": 16,
    "full_name": 22,
    "nik": 18,
    "phone": 16,
    "kecamatan": 13,
    "kelurahan": 14,
    "programmes": 16,
    "screening": 24,
    "training_willing": 10,
    "email": 22,
    "status": 17,
    "status_reason": 18,
    "assigned_to": 14,
    "attempts": 9,
    "last_contact": 16,
    "next_follow_up": 12,
    "age_days": 8,
    "last_note": 40,
}
IDENTIFIER_COLUMNS = frozenset({"nik", "phone"})
DATETIME_COLUMNS = frozenset({"created_at", "last_contact"})
DATE_COLUMNS = frozenset({"next_follow_up"})
NUMBER_COLUMNS = frozenset({"attempts", "age_days"})
_IDENTIFIER_RE = re.compile(r"^\+?\d{6,20}$")
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_DATETIME_FORMAT = "dd-mm-yyyy hh:mm"  # how Indonesian staff write dates (store.clock too)
_DATE_FORMAT = "dd-mm-yyyy"
_CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M"  # ISO-like for other systems
_LINE_HEIGHT = 15.0  # points per line of the default 11-point font
_CHARS_PER_WIDTH = 1.0  # 1.15 cut the last line of long notes in LibreOffice (DejaVu Sans)
_MAX_LINES = 12  # a taller note is cut on screen (the cell keeps it all)
_HEADER_LINES = 3

Progress = Callable[[int], None]
Cell = str | int | datetime | date | None


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


def status_label(status: str, names: Mapping[str, str]) -> str:
    """``3. ikut pelatihan``: numbered in pipeline order, so a sort or a filter list keeps it."""
    if status in STATUSES:
        return f"{STATUSES.index(status) + 1}. {names.get(status, status)}"
    return names.get(status, status)


class RowBuilder:
    """Turns a registration record into the export's cells, with labels in one language.

    ``names`` maps a staff member's Telegram id to a display name (the "assigned to" column;
    an id without a name is written as the id); ``today`` is the Asia/Jakarta date the age of a
    lead is counted to.
    """

    def __init__(
        self, lang: str, names: Mapping[int, str] | None = None, today: date | None = None
    ) -> None:
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
        self.reasons = optional_labels("reasons", lang)
        self.names = dict(names or {})
        self.today = today or clock.today()
        self.header = [text("columns", column, lang) for column in COLUMNS]

    def _screening(self, screening: Mapping[str, str] | None) -> str:
        return "; ".join(
            f"{self.programmes.get(prog, prog)}: {self.outcomes.get(out, out)}"
            for prog, out in (screening or {}).items()
        )

    def _reason(self, record: Mapping[str, Any]) -> str | None:
        """The reason's label (an id, or an old record's Indonesian label), and a typed text."""
        return reason_label(record, self.reasons)

    def _assigned(self, record: Mapping[str, Any]) -> str | None:
        who = record.get("assigned_to")
        if who is None:
            return None
        return self.names.get(who) or str(who)

    def cells(self, record: Mapping[str, Any]) -> dict[str, Cell]:
        """Cells keyed by column; identifiers, numbers and dates untouched, free text
        neutralised."""
        kec: str = record.get("kecamatan") or ""
        kel: str = record.get("kelurahan") or ""
        willing = record.get("training_willing")
        notes = record.get("notes") or ()
        status = record.get("status") or ""
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
            "status": status_label(status, self.statuses) if status else None,
            "status_reason": self._reason(record),
            "assigned_to": self._assigned(record),
            "last_note": notes[-1].get("text") if notes else None,
        }
        cells: dict[str, Cell] = {
            key: neutralise(_clean(value)) if value else None for key, value in free_text.items()
        }
        created = record.get("created_at")
        cells["created_at"] = local_datetime(created) if created else None
        cells["age_days"] = (self.today - local_datetime(created).date()).days if created else None
        contacts = record.get("contacts") or ()
        cells["attempts"] = len(contacts)
        last = contacts[-1].get("at") if contacts else None
        cells["last_contact"] = local_datetime(last) if last else None
        cells["next_follow_up"] = _date(record.get("next_follow_up"))
        for column in IDENTIFIER_COLUMNS:
            value = record.get(column)
            if value and not _IDENTIFIER_RE.match(value):
                value = neutralise(_clean(value))  # a legacy or malformed value is free text
            cells[column] = value or None
        return cells


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _date(value: Any) -> date | None:
    """A stored ``YYYY-MM-DD`` as a date; anything else (absent, malformed) as nothing."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _clean(value: str) -> str:
    """Drop control characters that XML (hence XLSX) cannot hold; line breaks become LF, TAB
    is kept."""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value).replace("\r\n", "\n").replace("\r", "\n"))


# --------------------------------------------------------------------------------------------
# Writers


def open_private(path: Path, mode: str, **kwargs: Any) -> IO[Any]:
    """Open ``path`` for writing, created (or reset) with 0600 permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT leaves the mode of an existing file alone
    return os.fdopen(fd, mode, **kwargs)


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(_CSV_DATETIME_FORMAT)
    if isinstance(value, date | int):
        return str(value)
    # A NIK or phone (checked to be digits, with an optional leading "+") is written as it is
    # stored: quoted like every field, it reads back exactly; for a spreadsheet, staff take the
    # XLSX, whose identifier cells are text.
    return value


def export_csv(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    *,
    progress: Progress | None = None,
    lang: str = "id",
    names: Mapping[int, str] | None = None,
    today: date | None = None,
) -> int:
    """Write ``records`` to a UTF-8 CSV with a BOM (so Excel reads it as UTF-8), every field
    quoted; return the number of rows."""
    builder = RowBuilder(lang, names, today)
    count = 0
    with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(builder.header)
        for record in records:
            cells = builder.cells(record)
            writer.writerow([_csv_cell(cells[column]) for column in COLUMNS])
            count += 1
            if progress is not None:
                progress(count)
    return count


class _Styles:
    """One style per kind of column, made once and copied into each cell (fast: a cell's style
    is a small array of ids)."""

    def __init__(self, ws: Any) -> None:
        top = {"vertical": "top"}
        template = WriteOnlyCell(ws, value="")
        self.by_column: dict[str, Any] = {}
        for column in COLUMNS:
            cell = copy(template)
            if column in IDENTIFIER_COLUMNS:
                cell.number_format = "@"  # text, so a spreadsheet never re-reads it as a number
                cell.alignment = Alignment(**top)
            elif column in DATETIME_COLUMNS:
                cell.number_format = _DATETIME_FORMAT
                cell.alignment = Alignment(horizontal="left", **top)
            elif column in DATE_COLUMNS:
                cell.number_format = _DATE_FORMAT
                cell.alignment = Alignment(horizontal="left", **top)
            elif column in NUMBER_COLUMNS:
                cell.number_format = "0"
                cell.alignment = Alignment(**top)
            else:
                cell.alignment = Alignment(wrap_text=True, **top)
            self.by_column[column] = cell._style
        header = copy(template)
        header.font = Font(bold=True)
        header.fill = PatternFill("solid", fgColor="DDE7F0")
        header.alignment = Alignment(wrap_text=True, vertical="center")
        self.header = header._style

    def cell(self, ws: Any, column: str, value: Cell) -> WriteOnlyCell | None:
        if value is None:
            return None
        cell = WriteOnlyCell(ws, value=value)
        cell._style = copy(self.by_column[column])
        return cell


def _lines(value: str, width: int) -> int:
    """How many lines ``value`` takes wrapped in a column ``width`` characters wide: one
    character per unit of width (the unit is a "0", wider than most letters, which makes up
    for words that do not fill a line and for LibreOffice's wider fallback font): rather a
    line too many than one cut off."""
    per_line = max(1, int(width * _CHARS_PER_WIDTH))
    return sum(max(1, math.ceil(len(part) / per_line)) for part in value.split("\n"))


def _row_height(cells: Mapping[str, Cell]) -> float | None:
    """The height a row needs to show its wrapped text, or ``None`` for one line."""
    lines = max(
        (
            _lines(value, WIDTHS[column])
            for column, value in cells.items()
            if isinstance(value, str) and column not in IDENTIFIER_COLUMNS
        ),
        default=1,
    )
    return _LINE_HEIGHT * min(lines, _MAX_LINES) if lines > 1 else None


def _print_setup(ws: Any, lang: str, today: date) -> None:
    """Landscape A4, fitted to the page's width (as many pages down as it takes), the header
    row repeated on every page, a title and page numbers."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.75
    ws.page_margins.header = ws.page_margins.footer = 0.3
    title = text("export", "print_title", lang)
    ws.oddHeader.left.text = title.format(date=today.strftime("%d-%m-%Y"))
    ws.oddFooter.right.text = text("export", "print_page", lang).format(page="&P", pages="&N")


def export_xlsx(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    *,
    progress: Progress | None = None,
    lang: str = "id",
    names: Mapping[int, str] | None = None,
    today: date | None = None,
) -> int:
    """Write ``records`` to an XLSX for staff (streamed; see the module's docstring for the
    layout); return the number of rows."""
    builder = RowBuilder(lang, names, today)
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(text("export", "sheet", lang))
    ws.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = WIDTHS[column]
    _print_setup(ws, lang, builder.today)
    styles = _Styles(ws)
    header = []
    for title in builder.header:
        cell = WriteOnlyCell(ws, value=title)
        cell._style = copy(styles.header)
        header.append(cell)
    ws.row_dimensions[1].height = _LINE_HEIGHT * _HEADER_LINES
    ws.append(header)
    del ws.row_dimensions[1]
    count = 0
    for record in records:
        cells = builder.cells(record)
        row_number = count + 2
        height = _row_height(cells)
        if height is not None:
            ws.row_dimensions[row_number].height = height
        ws.append([styles.cell(ws, column, cells[column]) for column in COLUMNS])
        if height is not None:
            del ws.row_dimensions[row_number]  # written: keep memory flat
        count += 1
        if progress is not None:
            progress(count)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    with open_private(path, "wb") as fh:
        workbook.save(fh)
    return count
