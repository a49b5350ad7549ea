"""Export files and charts while they exist: owner-only, inside the data directory, and removed
after sending (or at the next start-up, after a crash)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from desk.export import export_csv, export_xlsx

#: The formats, the staff's first: the XLSX opens right in a spreadsheet; the CSV is for other
#: systems (see :mod:`desk.export`).
EXPORTERS = {"xlsx": export_xlsx, "csv": export_csv}
DEFAULT_FORMAT = "xlsx"


def exports_dir(data_dir: Path) -> Path:
    """Where export files and charts live until they are sent: owner-only, inside the data
    directory, so personal data never lands in a shared temporary directory."""
    folder = data_dir / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def scratch_file(data_dir: Path, stem: str, suffix: str) -> Path:
    return exports_dir(data_dir) / f"{stem}-{secrets.token_hex(6)}.{suffix}"


def remove_scratch_files(data_dir: Path) -> int:
    """Delete the export files and charts a crash left behind (they hold NIKs and phone
    numbers); run at start-up, before any export. Returns how many."""
    folder = data_dir / "exports"
    leftovers = [path for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def write_export(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    fmt: str,
    *,
    lang: str = "id",
    progress: Callable[[int], None] | None = None,
    names: Mapping[int, str] | None = None,
    today: date | None = None,
) -> int:
    """Write ``records`` as XLSX or CSV (created 0600); returns the number of rows. ``names``
    are the staff's display names by Telegram id (the "assigned to" column)."""
    return EXPORTERS[fmt](records, path, progress=progress, lang=lang, names=names, today=today)
