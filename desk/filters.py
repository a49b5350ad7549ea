"""Filters of the lead list and exports: a compact code for callback data (``s0k2a20261101``)
and ``key=value`` arguments as staff type them (``status=baru kecamatan=serang sejak=…``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from desk import labels
from desk.export import ExportFilters
from screening.identity import load_wilayah
from screening.model import OUTCOMES
from store import STATUSES
from store.clock import parse_date


class FilterCodeError(ValueError):
    """A filter code no screen makes (tampered, or from an older version)."""


PROGRAMMES: tuple[str, ...] = (*labels("interests", "id"), *labels("programmes", "id"))
KECAMATAN: tuple[str, ...] = tuple(kec.id for kec in load_wilayah().kecamatan)
CHOICES: dict[str, tuple[str, ...]] = {
    "p": PROGRAMMES,
    "o": OUTCOMES,
    "k": KECAMATAN,
    "s": STATUSES,
}
FIELDS = {"p": "programme", "o": "outcome", "k": "kecamatan", "s": "status"}
_CODE = re.compile(r"(?:[poks]\d{1,2}|[ab]\d{8})*")
_CODE_TOKEN = re.compile(r"([poks])(\d{1,2})|([ab])(\d{8})")
ARG_KEYS = {
    "program": "p",
    "programme": "p",
    "minat": "p",
    "hasil": "o",
    "outcome": "o",
    "kecamatan": "k",
    "kec": "k",
    "status": "s",
    "sejak": "a",
    "dari": "a",
    "since": "a",
    "sampai": "b",
    "hingga": "b",
    "until": "b",
}


class FilterError(ValueError):
    """A ``key=value`` filter argument that cannot be used."""

    def __init__(self, token: str, dimension: str | None) -> None:
        super().__init__(token)
        self.token = token
        self.dimension = dimension


def encode_filters(flt: ExportFilters) -> str:
    """``ExportFilters`` as a short code (``s0k2a20261101``) for callback data."""
    parts = [
        f"{letter}{CHOICES[letter].index(value)}"
        for letter, field in FIELDS.items()
        if (value := getattr(flt, field)) is not None
    ]
    if flt.since is not None:
        parts.append("a" + flt.since.strftime("%Y%m%d"))
    if flt.until is not None:
        parts.append("b" + flt.until.strftime("%Y%m%d"))
    return "".join(parts)


def decode_filters(code: str) -> ExportFilters:
    """The filters of a code made by :func:`encode_filters`; ``Stale`` for anything else."""
    if not _CODE.fullmatch(code):
        raise FilterCodeError(code)
    values: dict[str, Any] = {}
    try:
        for match in _CODE_TOKEN.finditer(code):
            letter, index, date_letter, digits = match.groups()
            if letter:
                values[FIELDS[letter]] = CHOICES[letter][int(index)]
            else:
                day = datetime.strptime(digits, "%Y%m%d").date()
                values["since" if date_letter == "a" else "until"] = day
    except (IndexError, ValueError) as exc:
        raise FilterCodeError(code) from exc
    return ExportFilters(**values)


def filter_choices() -> dict[str, tuple[str, ...]]:
    """The known values of each filter field: programme, outcome, kecamatan, status."""
    return {FIELDS[letter]: values for letter, values in CHOICES.items()}


def parse_filter_args(args: Iterable[str]) -> ExportFilters:
    """``status=baru kecamatan=serang sejak=2026-11-01`` as filters; ``FilterError`` if not."""
    values: dict[str, Any] = {}
    for token in args:
        key, sep, value = token.partition("=")
        letter = ARG_KEYS.get(key.strip().lower())
        if not sep or letter is None:
            raise FilterError(token, None)
        value = value.strip()
        if letter in ("a", "b"):
            try:
                values["since" if letter == "a" else "until"] = parse_date(value)
            except ValueError:
                raise FilterError(token, letter) from None
        elif value.lower() in CHOICES[letter]:
            values[FIELDS[letter]] = value.lower()
        else:
            raise FilterError(token, letter)
    return ExportFilters(**values)
