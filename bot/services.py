"""The services every handler reaches through ``context.bot_data["services"]``.

Created once in ``post_init`` (or injected by tests), closed in ``post_shutdown``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from telegram import User
from telegram.ext import ContextTypes

from bot import teaching
from bot.answers import set_values, values_of
from bot.config import LANGUAGES, Config
from bot.i18n import Texts
from faq.learning import Learned
from faq.matcher import Matcher
from faq.model import KnowledgeBase, load_knowledge_base
from faq.render import StatusUpdate
from screening.engine import Engine
from store import AsyncStores, Stores
from store.staff_names import clean_name

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

# Telegram language codes of people who read Indonesian comfortably.
_INDONESIAN_CODES = {"id", "in", "ms", "jv", "su"}


@dataclass
class Services:
    config: Config
    texts: Texts
    kb: KnowledgeBase
    matcher: Matcher
    stores: Stores
    db: AsyncStores
    extras: dict[str, Any] = field(default_factory=dict)
    #: What staff taught the matcher (``bot.teaching``), as stored.
    learned: Learned = field(default_factory=Learned)
    #: The admins' programme status update shown on the status answers, or None.
    status: StatusUpdate | None = None
    _languages: dict[int, str] = field(default_factory=dict)
    _usage: Counter[str] = field(default_factory=Counter)
    #: Staff first names learned from Telegram (``stores.staff_names``), None until loaded.
    _learned_names: dict[int, str] | None = None

    @classmethod
    async def create(cls, config: Config) -> Services:
        """Load content and open the stores (off the event loop)."""
        values = values_of(config.retention_days, config.office.as_dict())
        set_values(values)
        kb, matcher = _content(
            json.dumps(values, sort_keys=True, default=str),
            date.today(),
            config.faq.threshold,
            config.faq.margin,
            config.faq.max_suggestions,
        )
        # the FAQ's second opinion trains in a thread (2-3 s): an answer must not wait for it on
        # the event loop (a worker of a fleet would miss its lease renewals meanwhile)
        await asyncio.to_thread(matcher.ready)
        db = await AsyncStores.open(
            config.data_dir, database_url=config.database_url, shared=config.fleet
        )
        created = cls(config, Texts.load(), kb, matcher, db.stores, db)
        await teaching.restore(created)  # what staff taught, the programme status update
        return created

    async def close(self) -> None:
        await self.flush_usage()
        await self.db.aclose()

    def screening_engine(self) -> Engine:
        """The questionnaire engine, built once per process with the configured reference date
        and time zone."""
        engine = self.extras.get("screening_engine")
        if engine is None:
            engine = self.extras["screening_engine"] = Engine.default(
                self.config.reference_date, tz=self.config.timezone
            )
        return engine

    def count_usage(self, entry_id: str) -> None:
        """Count one use of a FAQ entry; kept in memory and written by :meth:`flush_usage`."""
        self._usage[entry_id] += 1

    async def flush_usage(self) -> None:
        """Add the counted uses to the stored totals in one durable write (statistics only)."""
        if self._usage:
            pending, self._usage = self._usage, Counter()
            await self.call(_add_usage, self.stores, pending)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a repository method off the event loop (one writer per store)."""
        return await self.db.call(fn, *args, **kwargs)

    async def language(self, user: User | None) -> str:
        """The user's chosen language, else their Telegram language, else the default."""
        if user is None:
            return self.config.default_language
        cached = self._languages.get(user.id)
        if cached:
            return cached
        stored = await self.call(self.stores.users.language, user.id)
        lang = stored or self.guess_language(user.language_code)
        self._languages[user.id] = lang
        return lang

    def guess_language(self, code: str | None) -> str:
        prefix = (code or "").split("-")[0].lower()
        if prefix in _INDONESIAN_CODES:
            return "id"
        if prefix == "en":
            return "en"
        return self.config.default_language

    async def set_language(self, user_id: int, lang: str) -> None:
        assert lang in LANGUAGES
        await self.call(self.stores.users.set_language, user_id, lang)
        self._languages[user_id] = lang

    def forget_user(self, user_id: int) -> None:
        self._languages.pop(user_id, None)
        if self._learned_names is not None:
            self._learned_names.pop(user_id, None)

    # -- staff display names ----------------------------------------------------------------

    async def staff_names(self) -> dict[int, str]:
        """Staff display names by user id: ``staff.names`` in the config, else the Telegram
        first name learned when they used the bot (loaded from the store once)."""
        if self._learned_names is None:
            self._learned_names = await self.call(self.stores.staff_names.all)
        return {**self._learned_names, **self.config.staff.names}

    async def learn_staff_name(self, user: User) -> None:
        """Remember a staff member's Telegram first name (written only when it changed)."""
        if not self.config.staff.is_staff(user.id) or not user.first_name:
            return
        learned = self._learned_names
        if learned is None:
            await self.staff_names()
            learned = self._learned_names or {}
        if learned.get(user.id) == clean_name(user.first_name):
            return
        if await self.call(self.stores.staff_names.learn, user.id, user.first_name):
            self._learned_names = await self.call(self.stores.staff_names.all)


@cache
def _content(
    values: str, today: date, threshold: float, margin: float, max_suggestions: int
) -> tuple[KnowledgeBase, Matcher]:
    """The knowledge base (pre-filled for ``today`` with ``values``, JSON) and its trained
    matcher, built once per process for the same inputs, so a restarted Application in the
    same process (the tests, the console) shares them. Each Application retrains a copy of the
    matcher with what staff taught (``bot.teaching``), never this one."""
    kb = load_knowledge_base(today=today, values=json.loads(values))
    matcher = Matcher(kb, threshold=threshold, margin=margin, max_suggestions=max_suggestions)
    return kb, matcher


def _add_usage(stores: Stores, pending: Counter[str]) -> None:
    """Runs in the store's worker thread: read the totals and write them back together."""
    totals = [(key, int(stores.kv.get("faq_usage", key) or 0) + n) for key, n in pending.items()]
    stores.kv.put_many("faq_usage", totals)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]
