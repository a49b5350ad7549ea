"""What staff teach the FAQ from its traffic, and the admins' programme status update: kept in
``stores.kv`` (namespace ``faq``), applied to the live bot at once and again at start-up.

- **Taught questions** (``faq.learning.Learned``, key ``learned``): :func:`teach` changes the
  stored value in one read-change-write (two staff teaching at once lose nothing), then retrains
  the live matcher in a worker thread (``Learned.apply`` -> ``Matcher.learn``, about half a
  second; the event loop keeps answering with the old model meanwhile). Teachings run one at a
  time, so the model applied last is always the value stored last.
- **The programme status update** (``faq.render.StatusUpdate``, key ``status_update``): shown at
  the top of the programme status and timeline answers until replaced or cleared.
- :func:`restore` (from ``Services.create``) reads both back after a restart: the matcher is the
  process's shared one copied (``copy.copy``: ``Matcher.learn`` replaces the copy's model
  only), so an Application of the same process without taught items keeps the shared model.
- A staff member's erasure (``Stores.delete_user``) removes their id from both values
  (:func:`forget_staff`, a deleter of the ``kv`` store); the audit keeps who did what.

The matcher and the status live in this process: with several workers on one database, the
others take a change up within a minute (:func:`refresh`, a repeating job of ``bot.app``).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from faq.learning import Learned
from faq.render import StatusUpdate
from store import Stores
from store.clock import iso, utc_now

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

NAMESPACE = "faq"
LEARNED_KEY = "learned"
STATUS_KEY = "status_update"
#: The services' extras key of the lock that keeps teachings one at a time.
_LOCK = "teaching_lock"


def read_learned(value: Mapping[str, Any] | None, services: Services) -> Learned:
    """The stored taught items; those of entries the knowledge base no longer has are dropped."""
    return Learned.from_json(value, services.kb)


def read_status(value: Mapping[str, Any] | None) -> StatusUpdate | None:
    """The stored status update, or None (also for one that no longer validates)."""
    if not value:
        return None
    try:
        return StatusUpdate.from_json(value)
    except (KeyError, ValueError) as exc:
        log.warning("the stored programme status update is not shown: %s", exc)
        return None


async def restore(services: Services) -> None:
    """At start-up: a matcher of this Application's own, retrained with the stored taught items,
    and the stored status update; erasures cover the staff ids in both."""
    stores = services.stores
    deleter = functools.partial(forget_staff, stores)
    await services.call(stores.register_user_deleter, "kv", deleter)  # may finish an erasure
    services.matcher = copy.copy(services.matcher)
    learned = read_learned(await services.call(stores.kv.get, NAMESPACE, LEARNED_KEY), services)
    if learned.items:
        await asyncio.to_thread(learned.apply, services.matcher)
        log.info("the FAQ matcher was retrained with %d taught question(s)", len(learned.items))
    services.learned = learned
    services.status = read_status(await services.call(stores.kv.get, NAMESPACE, STATUS_KEY))


async def refresh(services: Services) -> bool:
    """Take up what another process stored since (several workers on one database): re-read
    both values and apply what changed; True if something did. Run every minute."""
    lock = services.extras.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        kv = services.stores.kv
        learned = read_learned(await services.call(kv.get, NAMESPACE, LEARNED_KEY), services)
        status = read_status(await services.call(kv.get, NAMESPACE, STATUS_KEY))
        changed = learned != services.learned or status != services.status
        if learned != services.learned:
            await asyncio.to_thread(learned.apply, services.matcher)
            services.learned = learned
        services.status = status
        return changed


async def teach(services: Services, change: Callable[[Learned], Learned]) -> Learned:
    """Store ``change(stored items)`` durably, then retrain the live matcher with it.

    ``change`` may raise (nothing is stored then); an entry id the knowledge base lacks raises
    ``KeyError`` before anything is stored."""
    lock = services.extras.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        result: list[Learned] = []

        def changed(value: Mapping[str, Any] | None) -> dict[str, Any]:
            learned = change(read_learned(value, services))
            unknown = {i.entry for i in learned.items if i.entry is not None} - set(
                services.kb.by_id
            )
            if unknown:
                raise KeyError(f"unknown entry id(s): {', '.join(sorted(unknown))}")
            result.append(learned)
            return learned.to_json()

        await services.call(services.stores.kv.update, NAMESPACE, LEARNED_KEY, changed)
        learned = result[-1]
        await asyncio.to_thread(learned.apply, services.matcher)
        services.learned = learned
        return learned


async def post_status(services: Services, text: str, posted: date, *, by: int) -> StatusUpdate:
    """Validate (``ValueError`` naming the problems), store and show a status update."""
    update = StatusUpdate.parse(text, posted)
    value = {**update.to_json(), "by": by, "at": iso(utc_now())}
    await services.call(services.stores.kv.put, NAMESPACE, STATUS_KEY, value)
    services.status = update
    return update


async def clear_status(services: Services) -> bool:
    """Remove the status update; False if there was none."""
    removed: bool = await services.call(services.stores.kv.delete, NAMESPACE, STATUS_KEY)
    services.status = None
    return removed


def forget_staff(stores: Stores, user_id: int) -> int:
    """Erasure (in the store's thread): ``user_id`` no longer named as the staff member who
    taught an item or posted the status update; returns how many places named them."""
    count = 0

    def without_learned(value: Any) -> Any:
        nonlocal count
        if not isinstance(value, dict):
            return value
        items = []
        for item in value.get("items", []):
            if item.get("by") == user_id:
                item, count = {**item, "by": None}, count + 1
            items.append(item)
        return {**value, "items": items}

    def without_status(value: Any) -> Any:
        nonlocal count
        if isinstance(value, dict) and value.get("by") == user_id:
            count += 1
            return {**value, "by": None}
        return value

    kv = stores.kv
    if kv.get(NAMESPACE, LEARNED_KEY) is not None:
        kv.update(NAMESPACE, LEARNED_KEY, without_learned)
    if kv.get(NAMESPACE, STATUS_KEY) is not None:
        kv.update(NAMESPACE, STATUS_KEY, without_status)
    return count
