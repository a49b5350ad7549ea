"""Exceptions of the storage layer; their texts come from ``store/data/messages.yaml`` (plain
text, part of the one text catalog: keys ``store.<key>``)."""

from __future__ import annotations

from pathlib import Path

import catalog

MESSAGES_FILE = Path(__file__).with_name("data") / "messages.yaml"
LANGUAGES = catalog.LANGUAGES


def render(key: str, lang: str, **params: object) -> str:
    """Format the template ``key`` in ``lang`` (``id`` or ``en``), plain text."""
    return catalog.default().text(f"store.{key}", lang, **params)


#: Exit codes of ``python -m bot`` when a data directory cannot be opened, by kind (the CLI
#: module docstring lists them). 1 and 2 are the CLI's own (config, usage).
EXIT_CORRUPT = 3
EXIT_LOCKED = 4
EXIT_NOT_A_FILE = 5
EXIT_PERMISSION = 6
EXIT_IO = 7
EXIT_OTHER = 8
EXIT_SCHEMA = 9


class StoreError(Exception):
    """Base class: ``str(error)`` is English; ``error.message(lang)`` is localised.

    ``exit_code`` is what the command line exits with when this error stops start-up.
    """

    key = ""
    exit_code = EXIT_OTHER

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "id") -> str:
        """The message in ``lang`` (``id`` or ``en``)."""
        return render(self.key, lang, **self.params)


class StoreCorruptError(StoreError):
    """A data file cannot be read; the bot must stop rather than overwrite it."""

    key = "corrupt"
    exit_code = EXIT_CORRUPT

    def __init__(
        self,
        path: Path,
        problem: str,
        line: int | None = None,
        *,
        offset: int | None = None,
        **details: object,
    ):
        self.path = path
        self.line = line
        self.offset = offset
        self.problem = problem
        self.details = details
        super().__init__(path=path)

    def message(self, lang: str = "id") -> str:
        where = render("line", lang, line=self.line) if self.line else ""
        if self.offset is not None:
            where += render("offset", lang, offset=self.offset)
        problem = render(f"problems.{self.problem}", lang, path=self.path, **self.details)
        key = "corrupt_tail" if self.problem == "damaged_tail" else self.key
        return render(key, lang, path=self.path, where=where, problem=problem, **self.details)


class StoreLockedError(StoreError):
    """Another process (or another open ``Database``) holds the store."""

    key = "locked"
    exit_code = EXIT_LOCKED

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(path=path)


class StoreOpenError(StoreError):
    """A data file or the data directory cannot be used as it is (wrong kind of file, no
    permission, a failing disk). Nothing was written; the message says how to fix it."""

    def __init__(self, path: Path, **params: object) -> None:
        self.path = path
        super().__init__(path=path, **params)


class StoreNotAFileError(StoreOpenError):
    """A directory where a data file should be, or a file where the data directory should be."""

    key = "not_a_file"
    exit_code = EXIT_NOT_A_FILE

    def __init__(self, path: Path, *, expected: str) -> None:
        self.expected = expected
        super().__init__(path, expected=expected)

    def message(self, lang: str = "id") -> str:
        key = "not_a_dir" if self.expected == "directory" else self.key
        return render(key, lang, path=self.path)


class StorePermissionError(StoreOpenError):
    """The bot's user may not read or write a data file (mode 000, another owner...)."""

    key = "permission"
    exit_code = EXIT_PERMISSION

    def __init__(self, path: Path, *, owner: int | None, mode: int | None, uid: int) -> None:
        self.owner = owner
        self.mode = mode
        super().__init__(
            path,
            owner="?" if owner is None else owner,
            mode="?" if mode is None else f"{mode:04o}",
            uid=uid,
        )


class StoreIOError(StoreOpenError):
    """The operating system refused another way (disk full, read-only, I/O error)."""

    key = "io"
    exit_code = EXIT_IO

    def __init__(self, path: Path, *, error: str) -> None:
        super().__init__(path, error=error)


class BackupInvalidError(StoreError):
    """A backup archive that is not intact (unreadable, checksums or counts that disagree)."""

    key = "backup_invalid"
    exit_code = EXIT_CORRUPT

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(path=path, problem=problem)


class RestoreUnfinishedError(StoreOpenError):
    """A restore was interrupted: the data directory holds part of the old data, part of the
    backup's; the restore must be run again before the bot may open it."""

    key = "restore_unfinished"
    exit_code = EXIT_OTHER


class DatabaseLockedError(StoreLockedError):
    """Another bot process has the PostgreSQL database open: one exclusive holder (a polling
    bot, a CLI command), or any number of webhook workers (``store/pg.py``)."""

    key = "locked_database"


class StoreUnreachableError(StoreError):
    """The PostgreSQL server cannot be reached or refuses the connection (``where`` carries no
    password)."""

    key = "unreachable"
    exit_code = EXIT_IO

    def __init__(self, where: str, *, error: str) -> None:
        self.where = where
        super().__init__(where=where, error=error)


class StoreSchemaError(StoreError):
    """The PostgreSQL schema is not the one this code needs: behind (run ``migrate``) or ahead
    (the database was migrated by a newer version of the bot)."""

    exit_code = EXIT_SCHEMA

    def __init__(self, where: str, *, found: int, expected: int) -> None:
        self.found = found
        self.expected = expected
        self.key = "schema_behind" if found < expected else "schema_ahead"
        super().__init__(where=where, found=found, expected=expected)


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
