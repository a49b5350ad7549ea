"""Exceptions of the storage layer; their texts come from ``store/data/messages.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

MESSAGES_FILE = Path(__file__).with_name("data") / "messages.yaml"
LANGUAGES = ("id", "en")


@cache
def messages() -> dict[str, Any]:
    """The message templates, loaded once."""
    with MESSAGES_FILE.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def render(key: str, lang: str, **params: object) -> str:
    """Format the template ``key`` in ``lang`` (``id`` or ``en``)."""
    return str(messages()[key][lang]).format(**params)


class StoreError(Exception):
    """Base class: ``str(error)`` is English; ``error.message(lang)`` is localised."""

    key = ""

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "id") -> str:
        """The message in ``lang`` (``id`` or ``en``)."""
        return render(self.key, lang, **self.params)


class StoreCorruptError(StoreError):
    """A data file cannot be read; the bot must stop rather than overwrite it."""

    key = "corrupt"

    def __init__(self, path: Path, problem: str, line: int | None = None, **details: object):
        self.path = path
        self.line = line
        self.problem = problem
        self.details = details
        super().__init__(path=path)

    def message(self, lang: str = "id") -> str:
        where = render("line", lang, line=self.line) if self.line else ""
        problem = str(messages()["problems"][self.problem][lang]).format(**self.details)
        return render(self.key, lang, path=self.path, where=where, problem=problem)


class StoreLockedError(StoreError):
    """Another process (or another open ``Database``) holds the store."""

    key = "locked"

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(path=path)


class StoreClosedError(StoreError):
    """The store was used after ``close()``."""

    key = "closed"

    def __init__(self, name: str) -> None:
        super().__init__(name=name)


class NikTakenError(StoreError):
    """The NIK is actively registered by another Telegram account (which is not revealed)."""

    key = "nik_taken"

    def __init__(self) -> None:
        super().__init__()


class NotFoundError(StoreError, KeyError):
    """No registration with this number."""

    key = "not_found"

    def __init__(self, reg_no: str) -> None:
        self.reg_no = reg_no
        super().__init__(reg_no=reg_no)

    def __str__(self) -> str:
        return self.message("en")


class StatusError(StoreError, ValueError):
    """An unknown follow-up status, or ``tidak_lanjut`` without a reason."""

    def __init__(self, key: str, status: str, choices: tuple[str, ...]) -> None:
        self.key = key
        super().__init__(status=status, choices=", ".join(choices))
