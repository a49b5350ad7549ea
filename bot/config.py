"""Typed configuration, loaded once from ``config.yaml`` and the environment, failing fast.

Every problem is reported as ``file: key: problem`` so an operator can fix it without reading
code. Secrets (the bot token) come only from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from store import clock

LANGUAGES = ("id", "en")
# libyaml when present: the same safe loading, faster (every start and every test reads this).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class StaffConfig:
    admins: frozenset[int] = frozenset()
    staff: frozenset[int] = frozenset()
    group_chat_id: int | None = None
    #: Display names by Telegram user id (``staff.names``); they win over Telegram first names.
    names: Mapping[int, str] = field(default_factory=dict)

    def is_staff(self, user_id: int | None) -> bool:
        return user_id is not None and (user_id in self.staff or user_id in self.admins)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    @property
    def everyone(self) -> frozenset[int]:
        return self.admins | self.staff


@dataclass(frozen=True)
class DeskConfig:
    #: The hour (0-23, in ``bot.timezone``) of each staff member's daily follow-up digest.
    digest_hour: int = 8
    #: How long a staff member can undo their last status change (single or bulk), in minutes.
    undo_minutes: int = 5


@dataclass(frozen=True)
class FaqConfig:
    threshold: float = 75.0
    margin: float = 2.0
    max_suggestions: int = 3


@dataclass(frozen=True)
class BroadcastConfig:
    rate_per_second: float = 25.0
    per_chat_interval_seconds: float = 1.0
    max_retries: int = 3
    progress_interval_seconds: float = 5.0


@dataclass(frozen=True)
class OfficeConfig:
    """Where citizens can go or call when no staff member can take the conversation in the
    bot; filled by the Disnaker's admin (never invented: empty fields are left out)."""

    address: str | None = None
    hours: str | None = None
    phone: str | None = None
    website: str | None = None

    def as_dict(self) -> dict[str, str]:
        fields = ("address", "hours", "phone", "website")
        return {key: value for key in fields if (value := getattr(self, key))}


@dataclass(frozen=True)
class Config:
    path: Path
    token: str | None = field(repr=False)  # printing a Config never shows it
    api_url: str | None
    data_dir: Path
    default_language: str = "id"
    timezone: str = "Asia/Jakarta"
    staff: StaffConfig = field(default_factory=StaffConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    reference_date: date | None = None
    retention_days: int = 730
    office: OfficeConfig = field(default_factory=OfficeConfig)
    broadcast: BroadcastConfig = field(default_factory=BroadcastConfig)
    desk: DeskConfig = field(default_factory=DeskConfig)
    #: ``BOT_DATABASE_URL``: the stores in PostgreSQL instead of files in ``data_dir``. It may
    #: hold a password: never printed (``repr``) nor logged.
    database_url: str | None = field(default=None, repr=False)
    #: One of several workers (``bot/fleet.py``): PostgreSQL and webhook mode together
    #: (``BOT_DATABASE_URL`` and ``BOT_WEBHOOK_URL``); long polling is one process only.
    fleet: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def base_url(self) -> str | None:
        """python-telegram-bot's ``base_url`` for a self-hosted Bot API server, if configured."""
        return f"{self.api_url}/bot" if self.api_url else None

    @property
    def base_file_url(self) -> str | None:
        return f"{self.api_url}/file/bot" if self.api_url else None


class _Reader:
    """Reads typed values out of the YAML mapping, collecting every problem instead of stopping."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path = path
        self.data = data
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(name, "must be a mapping")
            return {}
        known = _KNOWN_KEYS[name]
        for key in value:
            if key not in known:
                self.problem(f"{name}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
        return value

    def number(self, section: Mapping[str, Any], key: str, default: float, lo: float, hi: float):
        value = section.get(key.split(".")[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"must be a number, got {value!r}")
            return default
        if not lo <= value <= hi:
            self.problem(key, f"must be between {lo:g} and {hi:g}, got {value!r}")
            return default
        return value

    def ids(self, section: Mapping[str, Any], key: str) -> frozenset[int]:
        value = section.get(key.split(".")[-1]) or []
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            self.problem(key, "must be a list of Telegram user ids (integers)")
            return frozenset()
        return frozenset(value)


_KNOWN_KEYS = {
    "bot": {"default_language", "data_dir", "timezone"},
    "staff": {"admins", "staff", "group_chat_id", "names"},
    "desk": {"digest_hour", "undo_minutes"},
    "faq": {"threshold", "margin", "max_suggestions"},
    "screening": {"reference_date"},
    "privacy": {"retention_days"},
    "office": {"address", "hours", "phone", "website"},
    "broadcast": {
        "rate_per_second",
        "per_chat_interval_seconds",
        "max_retries",
        "progress_interval_seconds",
    },
}


def load_config(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Load and validate the configuration; raise :class:`ConfigError` listing every problem."""
    env = os.environ if environ is None else environ
    cfg_path = Path(path or env.get("BOT_CONFIG") or "config.yaml")
    try:
        raw = yaml.load(cfg_path.read_text(encoding="utf-8"), Loader=_SafeLoader) or {}
    except FileNotFoundError:
        raise ConfigError([f"{cfg_path}: file not found (set BOT_CONFIG)"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{cfg_path}: not valid YAML: {exc}"]) from None
    if not isinstance(raw, Mapping):
        raise ConfigError([f"{cfg_path}: the top level must be a mapping"])

    r = _Reader(cfg_path, raw)
    for key in raw:
        if key not in _KNOWN_KEYS:
            r.problem(str(key), f"unknown section (known: {', '.join(sorted(_KNOWN_KEYS))})")

    bot = r.section("bot")
    language = bot.get("default_language", "id")
    if language not in LANGUAGES:
        r.problem("bot.default_language", f"must be one of {', '.join(LANGUAGES)}")
        language = "id"
    timezone = bot.get("timezone", "Asia/Jakarta")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        r.problem("bot.timezone", f"unknown time zone {timezone!r}")
        timezone = "Asia/Jakarta"
    clock.set_zone(str(timezone))  # every local date and time is read and shown in it
    data_dir = Path(env.get("BOT_DATA_DIR") or bot.get("data_dir") or "./data")

    staff_raw = r.section("staff")
    staff_ids = set(r.ids(staff_raw, "staff.staff"))
    for part in filter(None, (p.strip() for p in env.get("BOT_STAFF_IDS", "").split(","))):
        if part.lstrip("-").isdigit():
            staff_ids.add(int(part))
        else:
            r.problems.append(f"environment: BOT_STAFF_IDS: {part!r} is not a Telegram user id")
    group = staff_raw.get("group_chat_id")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int)):
        r.problem("staff.group_chat_id", "must be a chat id (integer) or null")
        group = None
    names_raw = staff_raw.get("names") or {}
    names: dict[int, str] = {}
    if not isinstance(names_raw, Mapping):
        r.problem("staff.names", "must map Telegram user ids to display names")
    else:
        for user_id, name in names_raw.items():
            if isinstance(user_id, bool) or not isinstance(user_id, int):
                r.problem(f"staff.names.{user_id}", "must be a Telegram user id (integer)")
            elif not isinstance(name, str) or not name.strip() or len(name) > 64:
                r.problem(f"staff.names.{user_id}", "must be a name of 1 to 64 characters")
            else:
                names[user_id] = " ".join(name.split())
    staff = StaffConfig(r.ids(staff_raw, "staff.admins"), frozenset(staff_ids), group, names=names)
    desk_raw = r.section("desk")
    hour = r.number(desk_raw, "desk.digest_hour", 8, 0, 23)
    if hour != int(hour):
        r.problem("desk.digest_hour", f"must be a whole hour from 0 to 23, got {hour!r}")
    undo = r.number(desk_raw, "desk.undo_minutes", 5, 1, 120)
    if undo != int(undo):
        r.problem("desk.undo_minutes", f"must be whole minutes from 1 to 120, got {undo!r}")
    desk = DeskConfig(digest_hour=int(hour), undo_minutes=int(undo))

    faq_raw = r.section("faq")
    faq = FaqConfig(
        threshold=float(r.number(faq_raw, "faq.threshold", 75, 0, 100)),
        margin=float(r.number(faq_raw, "faq.margin", 2, 0, 100)),
        max_suggestions=int(r.number(faq_raw, "faq.max_suggestions", 3, 2, 5)),
    )

    ref = r.section("screening").get("reference_date")
    if ref is not None and not isinstance(ref, date):
        r.problem("screening.reference_date", "must be a date (YYYY-MM-DD) or null")
        ref = None

    retention = int(r.number(r.section("privacy"), "privacy.retention_days", 730, 1, 36500))

    b = r.section("broadcast")
    broadcast = BroadcastConfig(
        rate_per_second=float(r.number(b, "broadcast.rate_per_second", 25, 0.1, 30)),
        per_chat_interval_seconds=float(
            r.number(b, "broadcast.per_chat_interval_seconds", 1.0, 1.0, 60)
        ),
        max_retries=int(r.number(b, "broadcast.max_retries", 3, 0, 10)),
        progress_interval_seconds=float(
            r.number(b, "broadcast.progress_interval_seconds", 5, 1, 60)
        ),
    )

    office_raw = r.section("office")
    office_values: dict[str, str | None] = {}
    for key in ("address", "hours", "phone", "website"):
        value = office_raw.get(key)
        if value is not None and not isinstance(value, str | int):
            r.problem(f"office.{key}", "must be text or null")
            value = None
        office_values[key] = " ".join(str(value).split()) or None if value is not None else None
    website = office_values["website"]
    if website and not website.startswith("https://"):
        r.problem("office.website", "must be an https:// address")
    office = OfficeConfig(**office_values)

    api_url = (env.get("TELEGRAM_API_URL") or "").rstrip("/") or None
    if api_url and not api_url.startswith(("http://", "https://")):
        r.problems.append("environment: TELEGRAM_API_URL: must start with http:// or https://")

    database_url = env.get("BOT_DATABASE_URL") or None
    if database_url and not database_url.startswith(("postgresql://", "postgres://")):
        r.problems.append(
            "environment: BOT_DATABASE_URL: must be a postgresql://user:password@host:port/db URL"
        )

    if r.problems:
        raise ConfigError(r.problems)
    return Config(
        path=cfg_path,
        token=env.get("TELEGRAM_BOT_TOKEN") or None,
        api_url=api_url,
        data_dir=data_dir,
        default_language=language,
        timezone=str(timezone),
        staff=staff,
        faq=faq,
        reference_date=ref,
        retention_days=retention,
        broadcast=broadcast,
        office=office,
        desk=desk,
        database_url=database_url,
        fleet=bool(database_url) and bool((env.get("BOT_WEBHOOK_URL") or "").strip()),
    )
