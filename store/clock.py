"""Time helpers: records hold ISO 8601 UTC strings; the office's calendar is Asia/Jakarta (WIB)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

Clock = Callable[[], datetime]

#: Western Indonesia Time has no daylight saving, so a fixed offset is exact.
WIB = timezone(timedelta(hours=7), "WIB")


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``moment`` as an ISO 8601 UTC string (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse(text: str) -> datetime:
    """An ISO 8601 string back as an aware datetime."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_date(text: str) -> date:
    """The Jakarta calendar date of an ISO timestamp."""
    return parse(text).astimezone(WIB).date()
