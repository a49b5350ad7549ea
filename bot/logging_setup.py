"""Logging that never leaks the token, a full NIK, a phone number or what a citizen wrote.

Every record is masked as it is created (NIKs and every phone form the parsers accept, the
token). At DEBUG (``-v``) python-telegram-bot also logs whole updates ("Processing update …")
and the parameters of every Bot API call (the texts the bot sends): those payloads may hold
answers to the health and legal questions, so they are replaced by a description without their
content: an update by its id, kind, chat and sender, a call's parameters by their keys, with the
values of only a few harmless ones (ids, parse mode, limits).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from telegram import TelegramObject, Update

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


#: Bot API parameters whose values say nothing about a citizen's answers.
_HARMLESS_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "from_chat_id",
        "update_id",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "parse_mode",
        "disable_notification",
        "callback_query_id",
        "show_alert",
        "action",
        "scope",
        "user_id",
    }
)
_MAX_PLAIN_ARG = 64  # longer strings from the telegram loggers are payloads (JSON, texts)


def describe_update(update: Update) -> str:
    """An update without its content: ``<update 12: message, chat 5101, from 5101, 42 chars>``."""
    kind = next(
        (name for name in Update.ALL_TYPES if getattr(update, name, None) is not None), "other"
    )
    parts = [f"update {update.update_id}: {kind}"]
    if update.effective_chat is not None:
        parts.append(f"chat {update.effective_chat.id}")
    if update.effective_user is not None:
        parts.append(f"from {update.effective_user.id}")
    message = update.effective_message
    text = (message.text or message.caption) if message is not None else None
    if text:
        parts.append(f"{len(text)} chars")
    if update.callback_query is not None and update.callback_query.data:
        parts.append("a button")
    return "<" + ", ".join(parts) + ">"


def _describe(value: object, payload: bool) -> object:
    """``value`` as it may be logged; ``payload``: it comes from a telegram logger."""
    if isinstance(value, Update):
        return describe_update(value)
    if isinstance(value, TelegramObject):
        return f"<{type(value).__name__}>"
    if not payload:
        return value
    if isinstance(value, Mapping):
        shown = {
            key: (item if key in _HARMLESS_PARAMS and _plain(item) else _size(item))
            for key, item in value.items()
        }
        return "{" + ", ".join(f"{key}: {item}" for key, item in shown.items()) + "}"
    if isinstance(value, list | tuple):
        if all(isinstance(item, int) for item in value):
            return value  # e.g. the ids of the updates fetched
        return f"<{len(value)} items>"
    if isinstance(value, str | bytes) and (
        len(value) > _MAX_PLAIN_ARG or value[:1] in ("{", "[", b"{", b"[")
    ):
        return _size(value)
    return value


def _plain(value: object) -> bool:
    return (
        value is None
        or isinstance(value, int | float | bool)
        or (isinstance(value, str) and len(value) <= _MAX_PLAIN_ARG)
    )


def _size(value: object) -> str:
    if isinstance(value, str | bytes):
        return f"<{len(value)} chars>"
    return f"<{type(value).__name__}>"


def _describe_args(record: logging.LogRecord) -> None:
    """Replace payloads among the record's arguments by their descriptions."""
    args = record.args
    if not args:
        return
    payload = record.name == "telegram" or record.name.startswith("telegram.")
    if isinstance(args, tuple):
        record.args = tuple(_describe(arg, payload) for arg in args)
    elif isinstance(args, Mapping):
        record.args = {key: _describe(arg, payload) for key, arg in args.items()}


class RedactingFilter(logging.Filter):
    """Masks NIKs, phone numbers and bot tokens in every record, arguments included, and
    replaces update payloads by their descriptions."""

    def filter(self, record: logging.LogRecord) -> bool:
        _describe_args(record)
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
