"""Logging that never leaks the token, a full NIK or a phone number."""

from __future__ import annotations

import logging
import re
from typing import Any

from screening.identity import redact

_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never let ``value`` (the bot token) reach a log, whatever its shape."""
    if value:
        _SECRETS.add(value)
        _SECRETS.add(value.split(":", 1)[-1])


def _clean(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "<token>")
    return _TOKEN.sub("<token>", redact(text))


class RedactingFilter(logging.Filter):
    """Masks NIKs, phone numbers and bot tokens in every record, arguments included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that don't fit the format: keep both, masked
            message = f"{record.msg} {record.args!r}"
        clean = _clean(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _clean(record.exc_text)
        if record.stack_info:
            record.stack_info = _clean(record.stack_info)
        return True


_REDACT = RedactingFilter()
_base_factory = logging.getLogRecordFactory()


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    _REDACT.filter(record)
    return record


def install_redaction() -> None:
    """Mask every log record as it is created, so every handler only ever sees it masked:
    ours, PTB's, a library's or pytest's alike, whatever filters they have (idempotent)."""
    global _base_factory
    current = logging.getLogRecordFactory()
    if current is not _redacted_record:
        _base_factory = current
        logging.setLogRecordFactory(_redacted_record)


def setup_logging(level: int = logging.INFO) -> None:
    """Root logging to stderr through the redacting filter; httpx kept below INFO."""
    install_redaction()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, which contains the token, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def install_filter(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach the filter to every handler of ``logger`` (root by default); used by tests too."""
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    for handler in target.handlers:
        handler.addFilter(flt)
    return flt
