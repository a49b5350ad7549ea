"""Concurrent update processing that keeps each chat's updates in order and every chat answered.

Different citizens are served concurrently (one slow reply never holds up another chat), while
the updates of one chat run one after another, so a conversation never sees its own answers
out of order. Tests pass ``on_done`` to learn, without sleeping, when an update is finished.

Fairness, the rules that keep one busy chat from stalling everyone else:

* **A chat's wait holds no slot.** python-telegram-bot's ``process_update`` takes one unit of its
  semaphore for every update before ``do_process_update`` runs, so a per-chat wait inside it
  holds that unit. Here PTB's semaphore only bounds how many updates may be *held* at once
  (``max_pending``, queued or running); the processing slots are our own and an update takes
  one only when its chat's turn has come.
* **Lanes.** Citizens' chats (and updates without a chat) share ``max_concurrent_updates``
  slots; the staff group (``staff_chat_id``) has its own ``staff_slots`` and other groups their
  own ``group_slots``, so neither can take a citizen's slot.
* **A slot is not held through a long wait.** A handler that must wait for a chat's send budget
  (a relay to the staff group, paced at 20 messages a minute) gives its slot back through
  ``release_slot()``: the rate limiter calls it before such a wait. The update then finishes
  without a slot; its chat's turn is kept, so its order is too.
* **Queues are capped.** At most ``max_queued_per_chat`` updates of one chat are held (the
  staff group: ``max_queued_staff``); the next ones are dropped and ``on_overflow(update)`` is
  called once per burst (until the chat's queue drains), for the bot to say "terlalu banyak
  pesan" once.
* **Other groups are not answered one by one** (``GroupPolicy``, once set with ``configure`` or
  the constructor, together with ``staff_chat_id``): at most one message or button press per
  group per ``interval`` is processed, edits in groups never; the rest is dropped. Without a
  policy every group update is processed (in the groups' own lane).

The application wires what only its config knows, for a processor passed in or its own::

    app.update_processor.configure(
        staff_chat_id=config.staff.group_chat_id, group_policy=GroupPolicy(), on_overflow=hook
    )
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram import Chat, Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

OverflowHook = Callable[[object], Awaitable[None] | None]


@dataclass(frozen=True)
class GroupPolicy:
    """How updates from groups other than the staff group are treated.

    ``interval``: at most one message or button press per group is processed in this many
    seconds (so at most one short reply); everything else from that group in between is
    dropped. ``answer_edits``: whether an edited message in such a group is processed at all.
    """

    interval: float = 60.0
    answer_edits: bool = False


class _Slot:
    """One processing slot of a lane, held by the update running in the current task."""

    __slots__ = ("_semaphore", "held")

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self.held = False

    async def acquire(self) -> None:
        await self._semaphore.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()


_CURRENT_SLOT: ContextVar[_Slot | None] = ContextVar("update_slot", default=None)


def release_slot() -> bool:
    """Give back the processing slot of the update running in this task (if it holds one).

    For waits that use no CPU and may be long, such as the rate limiter waiting for a group's
    budget: the update goes on without a slot, its chat's turn kept. True if a slot was freed.
    """
    slot = _CURRENT_SLOT.get()
    if slot is None or not slot.held:
        return False
    slot.release()
    return True


@dataclass
class _ChatQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: int = 0  # updates of this chat in the processor, the running one included
    told: bool = False  # on_overflow was called since the queue last drained


_CITIZENS, _STAFF, _GROUPS = "citizens", "staff", "groups"
_GROUP_TYPES = frozenset({Chat.GROUP, Chat.SUPERGROUP, Chat.CHANNEL})


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Per-chat order, per-lane slots, capped per-chat queues and a group policy (see above)."""

    def __init__(
        self,
        max_concurrent_updates: int = 256,
        on_done: Callable[[object], None] | None = None,
        *,
        staff_chat_id: int | None = None,
        on_overflow: OverflowHook | None = None,
        group_policy: GroupPolicy | None = None,
        max_queued_per_chat: int = 20,
        max_queued_staff: int = 500,
        staff_slots: int = 16,
        group_slots: int = 4,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(max_concurrent_updates, staff_slots, group_slots, max_queued_per_chat) < 1:
            raise ValueError("slots and queue limits must be positive")
        # PTB's own semaphore bounds the updates held here (queued or running), not the slots.
        super().__init__(max(max_pending, max_concurrent_updates))
        self.slots = max_concurrent_updates
        self.staff_chat_id = staff_chat_id
        self.on_overflow = on_overflow
        self.group_policy = group_policy
        self.max_queued_per_chat = max_queued_per_chat
        self.max_queued_staff = max_queued_staff
        self._lanes = {
            _CITIZENS: asyncio.Semaphore(max_concurrent_updates),
            _STAFF: asyncio.Semaphore(staff_slots),
            _GROUPS: asyncio.Semaphore(group_slots),
        }
        self._chats: dict[int, _ChatQueue] = {}
        self._group_admitted: dict[int, float] = {}
        self._clock = clock
        self._on_done = on_done
        self._tasks: set[asyncio.Future[None]] = set()
        #: Updates dropped, by reason ("overflow", "group"): for logs and benchmarks.
        self.dropped: Counter[str] = Counter()

    def configure(
        self,
        *,
        staff_chat_id: int | None = None,
        on_overflow: OverflowHook | None = None,
        group_policy: GroupPolicy | None = None,
    ) -> None:
        """Set what the application knows only once it is built (the staff group, the hook)."""
        if staff_chat_id is not None:
            self.staff_chat_id = staff_chat_id
        if on_overflow is not None:
            self.on_overflow = on_overflow
        if group_policy is not None:
            self.group_policy = group_policy

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await self._process(update, coroutine)
        finally:
            if self._on_done is not None:
                self._on_done(update)

    async def _process(self, update: object, coroutine: Awaitable[Any]) -> None:
        key, lane = self._classify(update)
        if lane == _GROUPS and self.group_policy and not self._group_admits(update, key):
            self._drop(coroutine, "group")
            return
        if key is None:
            await self._run(lane, coroutine)
            return
        queue = self._chats.get(key)
        if queue is None:
            queue = self._chats[key] = _ChatQueue()
        limit = self.max_queued_staff if lane == _STAFF else self.max_queued_per_chat
        if queue.held >= limit:
            self._drop(coroutine, "overflow")
            if not queue.told:
                queue.told = True
                self._overflowed(update)
            return
        queue.held += 1
        try:
            async with queue.lock:  # the chat's turn: no slot is held while waiting for it
                await self._run(lane, coroutine)
        finally:
            queue.held -= 1
            if not queue.held:  # forget idle chats: memory stays bounded
                del self._chats[key]

    async def _run(self, lane: str, coroutine: Awaitable[Any]) -> None:
        slot = _Slot(self._lanes[lane])
        try:
            await slot.acquire()
        except BaseException:
            self._close(coroutine)
            raise
        token = _CURRENT_SLOT.set(slot)
        try:
            await coroutine
        finally:
            _CURRENT_SLOT.reset(token)
            slot.release()

    def _classify(self, update: object) -> tuple[int | None, str]:
        if not isinstance(update, Update):
            return None, _CITIZENS
        chat = update.effective_chat
        if chat is not None:
            if self.staff_chat_id is not None and chat.id == self.staff_chat_id:
                return chat.id, _STAFF
            return chat.id, _GROUPS if chat.type in _GROUP_TYPES else _CITIZENS
        if update.effective_user is not None:
            return update.effective_user.id, _CITIZENS
        return None, _CITIZENS

    def _group_admits(self, update: object, key: int | None) -> bool:
        policy = self.group_policy
        assert isinstance(update, Update) and key is not None and policy is not None
        if update.edited_message is not None or update.edited_channel_post is not None:
            return policy.answer_edits
        if update.message is None and update.callback_query is None:
            return False  # member changes, channel posts...: nothing to answer
        now = self._clock()
        last = self._group_admitted.get(key)
        if last is not None and now - last < policy.interval:
            return False
        self._group_admitted[key] = now
        if len(self._group_admitted) > 4096:
            horizon = now - policy.interval
            for chat in [c for c, at in self._group_admitted.items() if at < horizon]:
                del self._group_admitted[chat]
        return True

    def _drop(self, coroutine: Awaitable[Any], reason: str) -> None:
        self.dropped[reason] += 1
        self._close(coroutine)

    @staticmethod
    def _close(coroutine: Awaitable[Any]) -> None:
        """A dropped update's coroutine never runs: close it, so it is not "never awaited"."""
        if inspect.iscoroutine(coroutine):
            coroutine.close()

    def _overflowed(self, update: object) -> None:
        if self.on_overflow is None:
            return
        try:
            result = self.on_overflow(update)
        except Exception:
            log.exception("the overflow hook failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the overflow hook failed", exc_info=task.exception())

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Wait briefly for overflow answers still being sent, then cancel them."""
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
