"""Telegram's flood limits with two lanes: citizens' replies first, announcements in what is left.

python-telegram-bot's ``AIORateLimiter`` queues every request together, so during a 10,000-
recipient announcement a citizen's answer would wait behind minutes of bulk messages. Here every
request that names a chat asks one dispatcher for a slot under a global budget (a sliding window of
``overall_per_second``, a little under Telegram's ~30/s), and the dispatcher always serves the
interactive lane before the bulk lane. Bulk requests are marked by the sender with
``rate_limit_args=BULK``; they are granted evenly spaced (never a burst that fills the window),
so a citizen's reply only ever waits for the next free slot, never behind the bulk queue.

The budget holds however late a send reaches Telegram. Telegram counts a request when it
receives it, which is some time between our grant and our reading the answer; with the CPU busy
that gap varies, and sends granted evenly but delayed differently could pack more than the
budget into one second. So a request occupies its place in the window from its grant until one
second after its answer came back (in flight, then recently done): any one-second window of
arrivals then holds at most ``overall_per_second`` requests. The per-chat and per-group limits
are counted the same way, from the answer.

Per chat: a bulk message goes to a chat only when nothing was sent there for
``per_chat_interval`` seconds, and a reply waits out that interval only after a bulk message, so
announcements never collide with a conversation. Replies to one citizen may come in a short burst,
as Telegram allows. Groups keep ``group_per_minute`` (20) messages a minute. A request that has to
wait gives back its update's processing slot (``bot.processing.release_slot``), so a flood of
relays into the staff group never holds the slots citizens' updates need.

A 429 (``RetryAfter``) pauses every request for ``retry_after``; interactive requests are then
retried (``max_retries``), bulk ones are handed back to the broadcast core, which re-queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.processing import release_slot

log = logging.getLogger(__name__)

ShutdownHook = Callable[[], Awaitable[None]]


class Lane(enum.Enum):
    INTERACTIVE = "interactive"
    BULK = "bulk"


#: ``rate_limit_args`` of a bulk request, e.g. ``bot.send_message(..., rate_limit_args=BULK)``.
BULK = Lane.BULK
#: Awaited once a bulk request is granted, right before it is sent (an announcement records
#: its recipient's intent there: ``desk.broadcast.intent_hook``).
BEFORE_BULK_SEND: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_bulk_send", default=None
)


def retry_after_seconds(error: RetryAfter) -> float:
    """Seconds to wait, whether PTB gives ``retry_after`` as a timedelta or as an int.

    PTB 22 warns when the int form is read without ``PTB_TIMEDELTA``; the private timedelta it
    keeps (read by PTB's own limiter too) avoids the warning either way.
    """
    value = getattr(error, "_retry_after", None)
    if not isinstance(value, timedelta):
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(eq=False)
class _Waiter:
    chat: int | str
    bulk: bool
    group: bool
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PriorityRateLimiter(BaseRateLimiter[Lane]):
    """A ``BaseRateLimiter`` with an interactive lane served before a bulk lane."""

    def __init__(
        self,
        overall_per_second: float = 29,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        max_retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
        margin: float = 0.05,
    ) -> None:
        self.overall_per_second = overall_per_second
        # Two messages granted exactly an interval apart may reach Telegram a little closer.
        self.per_chat_interval = per_chat_interval + margin
        self.group_per_minute = group_per_minute
        self.max_retries = max_retries
        self._clock = clock
        self._window: deque[float] = deque()  # answer times within the last second
        self._in_flight = 0  # granted, answer not yet back
        self._chat_in_flight: dict[int | str, int] = {}
        self._bulk_in_flight: dict[int | str, int] = {}
        self._last_any: dict[int | str, float] = {}
        self._last_bulk: dict[int | str, float] = {}
        self._groups: dict[int | str, deque[float]] = {}  # answer times within the minute
        self._interactive: deque[_Waiter] = deque()
        self._bulk: deque[_Waiter] = deque()
        self._paused_until = 0.0
        self._next_bulk_at = 0.0  # bulk is spaced evenly: it never fills the window at once
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._shutdown_hooks: list[ShutdownHook] = []
        self.granted = {Lane.INTERACTIVE: 0, Lane.BULK: 0}
        self.rate_limited = 0

    def on_shutdown(self, hook: ShutdownHook) -> None:
        """Run ``hook`` when the bot shuts down, before its HTTP connections close: bulk senders
        stop there, after their last requests went through."""
        self._shutdown_hooks.append(hook)

    def queued(self) -> dict[Lane, int]:
        """Requests waiting for a slot now, per lane (for the metrics)."""
        return {Lane.INTERACTIVE: len(self._interactive), Lane.BULK: len(self._bulk)}

    async def initialize(self) -> None:
        """Nothing to set up: the dispatcher starts with the first request."""

    async def shutdown(self) -> None:
        for hook in self._shutdown_hooks:
            try:
                await hook()
            except Exception:
                log.exception("a rate limiter shutdown hook failed")
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for waiter in (*self._interactive, *self._bulk):
            waiter.granted.cancel()
        self._interactive.clear()
        self._bulk.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Lane | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for a slot in the request's lane, send, and deal with a 429."""
        bulk = rate_limit_args is Lane.BULK
        chat = _chat_key(data.get("chat_id"))
        for attempt in range(self.max_retries + 1):
            waiter = None
            if chat is None:
                await self._unpaused()
            else:
                waiter = await self._admit(chat, bulk)
            try:
                before = BEFORE_BULK_SEND.get() if bulk else None
                if before is not None:
                    await before()
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                self.rate_limited += 1
                self._paused_until = max(self._paused_until, self._clock() + seconds)
                log.warning("Telegram asked to slow down for %.1f s (%s)", seconds, endpoint)
                if bulk or attempt == self.max_retries:
                    raise
            finally:
                if waiter is not None:
                    self._answered(waiter, self._clock())
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the dispatcher -------------------------------------------------------------------

    async def _unpaused(self) -> None:
        """Requests that name no chat only wait out a 429 pause."""
        delay = self._paused_until - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _admit(self, chat: int | str, bulk: bool) -> _Waiter:
        group = isinstance(chat, str) or chat < 0
        waiter = _Waiter(chat, bulk, group)
        (self._bulk if bulk else self._interactive).append(waiter)
        if not self._may_go_now(waiter, self._clock()):
            release_slot()  # a wait for the budget needs no processing slot
        self._poke()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                (self._bulk if bulk else self._interactive).remove(waiter)
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._answered(waiter, self._clock())  # granted, then cancelled: never sent
            raise
        return waiter

    def _may_go_now(self, waiter: _Waiter, now: float) -> bool:
        """Whether ``waiter`` would be granted at once (nothing ahead of it, budget free)."""
        queue = self._bulk if waiter.bulk else self._interactive
        ahead = len(queue) > 1 or (waiter.bulk and bool(self._interactive))
        return (
            not ahead
            and now >= self._paused_until
            and self._in_flight + self._recent(now) < self.overall_per_second
            and self._ready_at(waiter, now) <= now
        )

    def _recent(self, now: float) -> int:
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        return len(self._window)

    def _poke(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rate-limiter")
        self._wake.set()

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            delay = self._grant(self._clock())
            self._wake.clear()
            if delay is None:
                await self._wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _grant(self, now: float) -> float | None:
        """Grant every waiter that may go now, interactive first; the seconds until the next
        waiter may go, or None when nobody waits or only an answer can free the budget (an
        answer pokes the dispatcher)."""
        if not self._interactive and not self._bulk:
            return None
        if now < self._paused_until:
            return self._paused_until - now
        soonest = float("inf")
        for queue in (self._interactive, self._bulk):
            for waiter in list(queue):
                if waiter.granted.done():
                    queue.remove(waiter)
                    continue
                if self._in_flight + self._recent(now) >= self.overall_per_second:
                    if not self._window:
                        return None  # all of the budget is in flight
                    return max(self._window[0] + 1.0 - now, 0.001)
                ready = self._ready_at(waiter, now)
                if ready > now:
                    soonest = min(soonest, ready - now)
                    continue
                queue.remove(waiter)
                self._record(waiter, now)
                waiter.granted.set_result(None)
        return None if soonest == float("inf") else soonest

    def _ready_at(self, waiter: _Waiter, now: float) -> float:
        """When ``waiter`` may go as far as its chat is concerned (``inf``: after an answer)."""
        chat = waiter.chat
        ready = now
        if waiter.group:
            sent = self._groups.get(chat)
            in_flight = self._chat_in_flight.get(chat, 0)
            if sent is not None:
                while sent and sent[0] <= now - 60.0:
                    sent.popleft()
            if (len(sent) if sent else 0) + in_flight >= self.group_per_minute:
                ready = sent[0] + 60.0 if sent else float("inf")
        if waiter.bulk:
            ready = max(ready, self._next_bulk_at)
        # The interval counts from the answer of the last message there, so a busy request
        # (in flight) holds it back until it is answered.
        busy = (self._chat_in_flight if waiter.bulk else self._bulk_in_flight).get(chat, 0)
        if busy:
            return float("inf")
        last = (self._last_any if waiter.bulk else self._last_bulk).get(chat)
        if last is not None:
            ready = max(ready, last + self.per_chat_interval)
        return ready

    def _record(self, waiter: _Waiter, now: float) -> None:
        self._in_flight += 1
        self._chat_in_flight[waiter.chat] = self._chat_in_flight.get(waiter.chat, 0) + 1
        self.granted[Lane.BULK if waiter.bulk else Lane.INTERACTIVE] += 1
        self._last_any[waiter.chat] = now
        if waiter.bulk:
            self._bulk_in_flight[waiter.chat] = self._bulk_in_flight.get(waiter.chat, 0) + 1
            self._last_bulk[waiter.chat] = now
            self._next_bulk_at = now + 1.0 / self.overall_per_second
        if len(self._last_any) > 4096:  # forget chats idle for longer than the interval
            self._forget_idle(now)

    def _answered(self, waiter: _Waiter, now: float) -> None:
        """A granted request's answer is back (or it failed): it stays in the window for one
        more second from now, and its chat's interval counts from now."""
        self._in_flight -= 1
        self._window.append(now)
        chat = waiter.chat
        _decrement(self._chat_in_flight, chat)
        self._last_any[chat] = max(self._last_any.get(chat, now), now)
        if waiter.bulk:
            _decrement(self._bulk_in_flight, chat)
            self._last_bulk[chat] = max(self._last_bulk.get(chat, now), now)
        if waiter.group:
            self._groups.setdefault(chat, deque()).append(now)
        if self._interactive or self._bulk:
            self._poke()

    def _forget_idle(self, now: float) -> None:
        horizon = now - max(self.per_chat_interval, 60.0)
        for times in (self._last_any, self._last_bulk):
            for chat in [c for c, at in times.items() if at < horizon]:
                del times[chat]
        for chat in [c for c, sent in self._groups.items() if not sent or sent[-1] < horizon]:
            del self._groups[chat]


def _decrement(counts: dict[int | str, int], chat: int | str) -> None:
    left = counts.get(chat, 0) - 1
    if left > 0:
        counts[chat] = left
    else:
        counts.pop(chat, None)


def _chat_key(chat_id: object) -> int | str | None:
    """The chat a request goes to: an int id, or a ``@username`` (a channel or supergroup)."""
    if chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)
