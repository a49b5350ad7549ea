"""Logging that never leaks the token, a full NIK or a phone number."""

from __future__ import annotations

import logging
import re

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
        message = record.getMessage()
        clean = _clean(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _clean(record.exc_text)
        return True


def setup_logging(level: int = logging.INFO) -> None:
    """Root logging to stderr through the redacting filter; httpx kept below INFO."""
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
