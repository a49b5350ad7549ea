"""PTB persistence in ``stores.kv``: conversation states, ``user_data`` and ``chat_data``.

Every write is a durable journal line (fsync'd) in the ``kv`` store, whose files are replaced
atomically and readable by their owner only. Unchanged values are not written again, so flushing
often costs nothing for the citizens whose data did not change.

The stores are opened in the Application's ``post_init``, but PTB reads the persistence earlier,
in ``Application.initialize()``; so the persistence opens the services itself on first use
(:func:`ensure_services`) and ``post_init`` then finds them in ``bot_data``.

A fleet's worker (several processes on one PostgreSQL database, ``bot/fleet.py``) trusts none
of this from memory: before each update :meth:`StorePersistence.reload` replaces the update's
user and chat values with the stored ones (or with the state a retried update first started
from), and :meth:`StorePersistence.save` writes them right after the update.

``bot_data`` (it holds the live services) and callback data are not persisted. Values must be
JSON data: dicts with string keys, lists, strings, numbers, booleans and ``None``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, BasePersistence, PersistenceInput

from bot.services import Services
from store import AsyncStores

if TYPE_CHECKING:
    from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

log = logging.getLogger(__name__)

Data = dict[Any, Any]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
USER_DATA = "ptb_user_data"
CHAT_DATA = "ptb_chat_data"
CONVERSATION_PREFIX = "ptb_conv_"
# Seconds between PTB's regular flushes; handlers that must not lose a step call
# ``Application.update_persistence()`` themselves (see bot/handlers/screening.py).
UPDATE_INTERVAL = 10.0


async def ensure_services(app: AnyApplication) -> Services:
    """The Application's services, created (and left for ``post_init``) if not yet there."""
    services = app.bot_data.get("services")
    if services is None:
        services = app.bot_data["services"] = await Services.create(app.bot_data["config"])
    return services


class StorePersistence(BasePersistence[Data, Data, Data]):
    """Conversation states, ``user_data`` and ``chat_data`` in the ``kv`` store.

    ``open_stores`` returns the (already opened) async stores; it is called on first use.
    """

    def __init__(
        self,
        open_stores: Callable[[], Awaitable[AsyncStores]] | None = None,
        *,
        update_interval: float = UPDATE_INTERVAL,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self._open_stores = open_stores
        # The JSON last written (or read) per (namespace, key): unchanged values are skipped.
        self._written: dict[tuple[str, str], str] = {}

    def attach(self, app: AnyApplication) -> None:
        """Use the stores of ``app``'s services (opened on first use)."""

        async def open_stores() -> AsyncStores:
            return (await ensure_services(app)).db

        self._open_stores = open_stores

    async def _db(self) -> AsyncStores:
        if self._open_stores is None:
            raise RuntimeError("StorePersistence has no stores: call attach(app) first")
        return await self._open_stores()

    # -- reading (once, in Application.initialize) ----------------------------------------

    async def _load(self, namespace: str) -> list[tuple[str, Any]]:
        db = await self._db()
        items: list[tuple[str, Any]] = await db.call(db.stores.kv.items, namespace)
        for key, value in items:
            self._written[(namespace, key)] = _dumps(value)
        return items

    async def get_user_data(self) -> dict[int, Data]:
        return {int(key): value for key, value in await self._load(USER_DATA)}

    async def get_chat_data(self) -> dict[int, Data]:
        return {int(key): value for key, value in await self._load(CHAT_DATA)}

    async def get_bot_data(self) -> Data:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        items = await self._load(CONVERSATION_PREFIX + name)
        return {tuple(json.loads(key)): state for key, state in items}

    # -- writing ----------------------------------------------------------------------------

    async def _write(self, namespace: str, key: str, value: Any) -> None:
        """Store ``value`` (delete when ``None`` or empty) unless it is what is stored already."""
        empty = value is None or value == {}
        text = "" if empty else _dumps(value)
        if self._written.get((namespace, key), "") == text:
            return
        db = await self._db()
        if empty:
            await db.call(db.stores.kv.delete, namespace, key)
            self._written.pop((namespace, key), None)
        else:
            await db.call(db.stores.kv.put, namespace, key, json.loads(text))
            self._written[(namespace, key)] = text

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        await self._write(CONVERSATION_PREFIX + name, json.dumps(list(key)), new_state)

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._write(USER_DATA, str(user_id), data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._write(CHAT_DATA, str(chat_id), data)

    async def update_bot_data(self, data: Data) -> None:
        """Not persisted: ``bot_data`` holds the live services."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Not persisted: the bot uses plain string callback data."""

    async def drop_user_data(self, user_id: int) -> None:
        await self._write(USER_DATA, str(user_id), None)

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._write(CHAT_DATA, str(chat_id), None)

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing here: a single process is the only writer, and a fleet's worker reloads
        before the filters run (:meth:`reload`), which this hook comes too late for."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """As :meth:`refresh_user_data`."""

    # -- a fleet's worker: the state of one update from the store, and back ------------------

    async def reload(
        self,
        app: AnyApplication,
        user_id: int | None,
        chat_id: int | None,
        before: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Replace the Application's ``user_data`` of ``user_id`` and ``chat_data`` of
        ``chat_id`` with what the store holds (``bot/fleet.py``, before each update); with
        ``before`` (a second attempt at an update), with those values instead, written back
        to the store too. Returns the values loaded: ``{"user": ..., "chat": ...}``."""
        db = await self._db()
        kv = db.stores.kv
        if before is None:
            user = await db.call(kv.get, USER_DATA, str(user_id)) if user_id is not None else None
            chat = await db.call(kv.get, CHAT_DATA, str(chat_id)) if chat_id is not None else None
            values = {"user": user, "chat": chat}
        else:
            values = {"user": before.get("user"), "chat": before.get("chat")}
        for namespace, key, target, value in (
            (USER_DATA, user_id, app.user_data, values["user"]),
            (CHAT_DATA, chat_id, app.chat_data, values["chat"]),
        ):
            if key is None:
                continue
            live = target[key]  # PTB's own dict (created when missing): contexts share it
            live.clear()
            live.update(value or {})
            if before is None:
                self._written[(namespace, str(key))] = "" if not value else _dumps(value)
            else:  # the store may hold what a dead worker half wrote: put the start back
                self._written.pop((namespace, str(key)), None)
                await self._write(namespace, str(key), value)
        return values

    async def save(self, app: AnyApplication, user_id: int | None, chat_id: int | None) -> None:
        """Write ``user_id``'s ``user_data`` and ``chat_id``'s ``chat_data`` now (after each
        update of a fleet's worker), not at the next flush; unchanged values are skipped."""
        if user_id is not None:
            await self.update_user_data(user_id, dict(app.user_data.get(user_id) or {}))
        if chat_id is not None:
            await self.update_chat_data(chat_id, dict(app.chat_data.get(chat_id) or {}))

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """``bot_data`` is not persisted."""

    async def flush(self) -> None:
        """Nothing buffered: every write was durable when it returned."""


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"persisted bot data must be JSON data: {exc}") from exc
