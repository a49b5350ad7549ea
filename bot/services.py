"""The services every handler reaches through ``context.bot_data["services"]``.

Created once in ``post_init`` (or injected by tests), closed in ``post_shutdown``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import User
from telegram.ext import ContextTypes

from bot.config import LANGUAGES, Config
from bot.i18n import Texts
from faq.matcher import Matcher
from faq.model import KnowledgeBase, load_knowledge_base
from store import AsyncStores, Stores

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
    _languages: dict[int, str] = field(default_factory=dict)

    @classmethod
    def create(cls, config: Config) -> Services:
        kb = load_knowledge_base()
        matcher = Matcher(
            kb,
            threshold=config.faq.threshold,
            margin=config.faq.margin,
            max_suggestions=config.faq.max_suggestions,
        )
        stores = Stores.open(config.data_dir)
        return cls(config, Texts.load(), kb, matcher, stores, AsyncStores(stores))

    def close(self) -> None:
        self.db.close()

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


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]  # type: ignore[no-any-return]
