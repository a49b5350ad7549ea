"""The one clock: records hold ISO 8601 UTC strings; people read dates and times in the office's
time zone (``bot.timezone`` in config.yaml, Asia/Jakarta by default, set once at start-up with
:func:`set_zone`). Every parse and format of a date or time shown to or typed by a person lives
here, so the zone and the formats (``30-11-2026``, ``30-11-2026 09:00``) are the same
everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

DEFAULT_ZONE = "Asia/Jakarta"
DATE_FORMAT = "%d-%m-%Y"
DATETIME_FORMAT = "%d-%m-%Y %H:%M"
_zone: tzinfo = ZoneInfo(DEFAULT_ZONE)
_LOCAL_TIME = re.compile(r"^\s*(\d{1,2})-(\d{1,2})-(\d{4})\s+(\d{1,2})[:.](\d{2})\s*$")


def set_zone(name: str) -> None:
    """Use the time zone ``name`` (an IANA name such as ``Asia/Jakarta``) for local times."""
    global _zone
    _zone = ZoneInfo(name)


def zone() -> tzinfo:
    """The office's time zone."""
    return _zone


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local_now() -> datetime:
    """The current time in the office's time zone."""
    return datetime.now(_zone)


def today() -> date:
    """Today's date in the office's time zone."""
    return local_now().date()


def iso(moment: datetime) -> str:
    """``moment`` as an ISO 8601 UTC string (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse(text: str) -> datetime:
    """An ISO 8601 string back as an aware datetime."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local(moment: datetime | str) -> datetime:
    """A moment (or a stored ISO string) in the office's time zone."""
    return (parse(moment) if isinstance(moment, str) else moment).astimezone(_zone)


def local_date(text: str) -> date:
    """The office's calendar date of an ISO timestamp."""
    return local(text).date()


def format_local(moment: datetime | str | None, pattern: str = DATETIME_FORMAT) -> str:
    """A stored moment as people read it (``30-11-2026 09:00``), ``-`` when there is none."""
    return local(moment).strftime(pattern) if moment else "-"


def format_date(day: date) -> str:
    return day.strftime(DATE_FORMAT)


def parse_date(text: str) -> date:
    """A typed date: ``2026-11-30``, ``30-11-2026`` or ``30/11/2026``; ValueError if not."""
    for pattern in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def parse_local_time(text: str, in_zone: tzinfo | None = None) -> datetime | None:
    """``"28-11-2026 09:00"`` (day-month-year hour:minute) in the office's time zone (or
    ``in_zone``), or None if malformed."""
    found = _LOCAL_TIME.match(text)
    if not found:
        return None
    day, month, year, hour, minute = (int(part) for part in found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=in_zone or _zone)
    except ValueError:
        return None
