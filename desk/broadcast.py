"""Announcements to many chats: a paced, resumable, exactly-once delivery from the outbox.

The outbox itself (announcements, recipients, their states and figures, audiences) is
``desk/outbox.py``; this module sends one running announcement. Pure asyncio, never imports
``telegram``: the bot hands :class:`Delivery` a ``send`` coroutine that raises this module's
errors (:class:`RateLimited`, :class:`Unreachable`...), so the same core runs against Telegram,
the local emulator and the tests' fakes.

Exactly once
    Before a recipient is attempted its *intent* ("inflight") is durable; its outcome is recorded
    afterwards. Intents and outcomes are written together in small batches by
    :meth:`Outbox.record`: one appended journal line and one fsync per batch
    (``store/durable.py``), never a rewrite of a file per recipient. After a crash, a recipient
    whose intent was recorded but not its outcome may or may not have received the message: it is
    counted ``unknown`` and never sent again. A graceful stop (deploy, restart) waits for the sends
    in flight and puts the recipients claimed but not yet attempted back to ``pending``, so a
    restart loses nobody and sends nobody a second copy.

Pace
    Sends start on a fixed schedule of ``rate_per_second`` (at most 30), several in flight at once.
    A 429 pauses every send for its ``retry_after`` and retries that recipient. A chat that cannot
    be reached (bot blocked, account deactivated, chat not found) is recorded ``blocked``, reported
    to ``on_unreachable`` and never retried. Other transient errors are retried ``max_retries``
    times with exponential backoff, never sooner than ``per_chat_interval`` after the last attempt.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from desk.outbox import (
    BLOCKED,
    CANCELLED,
    DONE,
    FAILED,
    SENT,
    SKIPPED,
    UNKNOWN,
    Figures,
    Outbox,
    Recipient,
)

log = logging.getLogger(__name__)

MAX_RATE = 30.0
#: How often outcomes are made durable when few recipients are being sent (seconds).
FLUSH_SECONDS = 1.0
#: A recipient answered with 429 this many times in a row is given up as failed.
MAX_RATE_LIMITED = 10

# -- errors the sender raises --------------------------------------------------------------


class DeliveryError(Exception):
    """Base of the errors a ``send`` coroutine raises for one recipient."""


class RateLimited(DeliveryError):
    """Too many requests (429): wait ``retry_after`` seconds, then retry the same recipient."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g} s")
        self.retry_after = retry_after


class Unreachable(DeliveryError):
    """The chat cannot receive messages (blocked, deactivated, not found): never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(DeliveryError):
    """The message was not delivered this time (network, server error): retried with backoff."""


class PermanentError(DeliveryError):
    """This message cannot be sent to this chat (e.g. a bad request): failed, not retried."""


class UncertainError(DeliveryError):
    """The request may or may not have arrived (timeout): counted unknown, never resent."""


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    """How fast and how stubbornly to deliver (``broadcast`` in config.yaml)."""

    rate_per_second: float = 25.0
    per_chat_interval: float = 1.0
    max_retries: int = 3
    progress_interval: float = 5.0
    backoff: float = 1.0
    max_in_flight: int = 32
    #: Each recipient's intent is made durable just before its own send instead of in batches
    #: claimed ahead (``batch``): one write per recipient, cheap on PostgreSQL, and a sender
    #: killed mid-way leaves only the sends really in flight ``unknown`` (``bot/fleet.py``).
    #: The sender calls :func:`intent_hook`'s function right before its request leaves (after
    #: any wait for the rate limiter); each outcome is made durable as soon as it is known.
    intent_each: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.rate_per_second <= MAX_RATE:
            raise ValueError(f"rate_per_second must be in (0, {MAX_RATE:g}]")

    @property
    def batch(self) -> int:
        """Recipients claimed (intent recorded) per durable write: about half a second's worth."""
        return max(1, round(self.rate_per_second / 2))


@dataclass(frozen=True)
class Progress:
    """A moment of a running delivery, for the staff member's live message."""

    figures: Figures
    elapsed: float
    eta_seconds: float
    finished: bool = False

    @property
    def rate(self) -> float:
        """Recipients settled per second so far."""
        return self.figures.settled / self.elapsed if self.elapsed > 0 else 0.0


# -- delivery --------------------------------------------------------------------------------

Send = Callable[[Recipient], Awaitable[None]]
Blocking = Callable[..., Awaitable[Any]]
ProgressHook = Callable[[Progress], Awaitable[None]]
UnreachableHook = Callable[[Recipient, str], Awaitable[None]]


@dataclass(order=True)
class _Retry:
    due: float
    seq: int
    item: _Item = field(compare=False)


@dataclass
class _Item:
    index: int
    recipient: Recipient
    attempts: int = 0
    rate_limited: int = 0
    intent: bool = False  # its intent is durable (``Pace.intent_each``)


_INTENT: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "broadcast_intent", default=None
)


def intent_hook() -> Callable[[], Awaitable[None]] | None:
    """Inside ``send`` of a delivery with ``Pace.intent_each``: the coroutine function that
    makes this recipient's intent durable. Await it right before the request leaves (after the
    rate limiter's wait: a send killed while waiting is then sent again by the next leader)."""
    return _INTENT.get()


class Delivery:
    """Delivers one running announcement from the outbox, exactly once per recipient.

    ``run()`` returns the final figures; ``stop()`` (shutdown: resumable later) and ``cancel()``
    (staff: the rest is skipped) end it early and gracefully. ``run_blocking(fn, *args)`` runs
    an outbox method off the event loop (``AsyncStores.call`` or ``asyncio.to_thread``).
    """

    def __init__(
        self,
        outbox: Outbox,
        broadcast_id: str,
        send: Send,
        pace: Pace,
        *,
        run_blocking: Blocking = asyncio.to_thread,
        on_progress: ProgressHook | None = None,
        on_unreachable: UnreachableHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.id = broadcast_id
        self.pace = pace
        self.figures = Figures()
        self._send = send
        self._blocking = run_blocking
        self._on_progress = on_progress
        self._on_unreachable = on_unreachable
        self._clock = clock
        self._pending: deque[_Item] = deque()
        self._claimed: deque[_Item] = deque()
        self._retries: list[_Retry] = []
        self._outcomes: list[tuple[int, Recipient, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(pace.max_in_flight)
        self._changed = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self._seq = itertools.count()
        self._paused_until = 0.0
        self._last_sync = 0.0
        self._started = 0.0
        self._stopping = False
        self._cancelled = False
        self.finished = False

    # -- control ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the sends in flight; the announcement stays running and resumes later."""
        self._stopping = True
        self._changed.set()

    def cancel(self) -> None:
        """Stop after the sends in flight and close the announcement; the rest is skipped."""
        self._cancelled = True
        self.stop()

    def progress(self) -> Progress:
        elapsed = self._clock() - self._started if self._started else 0.0
        wait = max(0.0, self._paused_until - self._clock())
        eta = self.figures.remaining / self.pace.rate_per_second + wait
        return Progress(Figures(**self.figures.as_dict()), elapsed, eta, self.finished)

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> Figures:
        """Deliver until every recipient has an outcome, or until stopped or cancelled."""
        pending, self.figures = await self._blocking(self.outbox.resume, self.id)
        self._pending = deque(_Item(index, recipient) for index, recipient in pending)
        self._started = self._last_sync = self._clock()
        ticker = asyncio.create_task(self._tick()) if self._on_progress else None
        try:
            await self._deliver()
            if self._tasks:
                await asyncio.gather(*self._tasks)
            await self._settle_sync()
            await self._close()
        finally:
            if ticker is not None:
                ticker.cancel()
        return self.figures

    async def _deliver(self) -> None:
        interval = 1.0 / self.pace.rate_per_second
        next_slot = self._clock()
        while True:
            await self._wait_until(max(next_slot, self._paused_until))
            item = await self._next_item()
            if item is None:
                return
            if self._paused_until > self._clock():  # a 429 arrived meanwhile: keep the order
                self._claimed.appendleft(item)
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._attempt(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_slot = max(next_slot + interval, self._clock() - interval)

    async def _wait_until(self, moment: float) -> None:
        while not self._stopping and (delay := moment - self._clock()) > 0:
            await self._wait(delay)

    async def _wait(self, timeout: float | None) -> None:
        """Sleep until something changes (a send ends, a claim is durable, stop) or timeout."""
        self._changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass

    async def _next_item(self) -> _Item | None:
        """The next recipient to attempt (its intent already durable), or None when finished."""
        while not self._stopping:
            self._maybe_sync()
            now = self._clock()
            if self._retries and self._retries[0].due <= now:
                return heapq.heappop(self._retries).item
            if self._claimed:
                return self._claimed.popleft()
            if self._sync_task is not None:
                await asyncio.shield(self._sync_task)
                continue
            if not self._pending and not self._retries and not self._tasks:
                return None
            wait = self._retries[0].due - now if self._retries else FLUSH_SECONDS
            await self._wait(min(wait, FLUSH_SECONDS))
        return None

    def _maybe_sync(self) -> None:
        """Claim the next batch when few are left, and make outcomes durable in batches."""
        if self._sync_task is not None:
            if not self._sync_task.done():
                return
            task, self._sync_task = self._sync_task, None
            task.result()  # a failed write stops the delivery
        batch = self.pace.batch
        claim = batch if self._pending and len(self._claimed) < batch else 0
        due = len(self._outcomes) >= batch or (
            self._outcomes and self._clock() - self._last_sync >= FLUSH_SECONDS
        )
        if claim or due:
            claims = [self._pending.popleft() for _ in range(min(claim, len(self._pending)))]
            outcomes, self._outcomes = self._outcomes, []
            figures = Figures(**self.figures.as_dict())  # exactly the outcomes written
            self._sync_task = asyncio.create_task(self._sync(outcomes, claims, figures))

    async def _sync(
        self, outcomes: list[tuple[int, Recipient, str]], claims: list[_Item], figures: Figures
    ) -> None:
        await self._blocking(
            self.outbox.record,
            self.id,
            figures,
            outcomes=outcomes,
            claims=[] if self.pace.intent_each else [(i.index, i.recipient) for i in claims],
        )
        self._claimed.extend(claims)
        self._last_sync = self._clock()
        self._changed.set()

    async def _settle_sync(self) -> None:
        if self._sync_task is not None:
            task, self._sync_task = self._sync_task, None
            await task

    async def _attempt(self, item: _Item) -> None:
        """Send to one recipient and file the outcome (final, or a retry)."""
        item.attempts += 1
        token = _INTENT.set(self._intent(item) if self.pace.intent_each else None)
        try:
            await self._send(item.recipient)
        except RateLimited as error:
            self.figures.rate_limited += 1
            now = self._clock()
            self._paused_until = max(self._paused_until, now + error.retry_after)
            item.rate_limited += 1
            item.attempts -= 1  # a 429 is Telegram's pace, not this recipient's failure
            if item.rate_limited > MAX_RATE_LIMITED:
                self._settle(item, FAILED)
            else:
                self._retry(item, now + max(error.retry_after, self.pace.per_chat_interval))
        except Unreachable as error:
            self._settle(item, BLOCKED)
            if self._on_unreachable is not None:
                try:
                    await self._on_unreachable(item.recipient, error.reason)
                except Exception:
                    log.exception("broadcast %s: on_unreachable failed", self.id)
        except TransientError as error:
            if item.attempts > self.pace.max_retries:
                log.warning(
                    "broadcast %s: giving up after %d tries: %s", self.id, item.attempts, error
                )
                self._settle(item, FAILED)
            else:
                self.figures.retries += 1
                delay = self.pace.backoff * 2 ** (item.attempts - 1)
                self._retry(item, self._clock() + max(delay, self.pace.per_chat_interval))
        except UncertainError:
            self._settle(item, UNKNOWN)
        except PermanentError as error:
            log.info("broadcast %s: not deliverable: %s", self.id, error)
            self._settle(item, FAILED)
        except Exception:
            log.exception("broadcast %s: unexpected error while sending", self.id)
            self._settle(item, FAILED)
        else:
            self._settle(item, SENT)
        finally:
            _INTENT.reset(token)
            self._slots.release()
            self._changed.set()
        if self.pace.intent_each and self._outcomes:  # the outcome durable at once too
            outcomes, self._outcomes = self._outcomes, []
            await self._blocking(
                self.outbox.record, self.id, Figures(**self.figures.as_dict()), outcomes=outcomes
            )

    def _intent(self, item: _Item) -> Callable[[], Awaitable[None]]:
        async def record() -> None:
            if not item.intent:
                item.intent = True
                await self._blocking(
                    self.outbox.record,
                    self.id,
                    Figures(**self.figures.as_dict()),
                    claims=[(item.index, item.recipient)],
                )

        return record

    def _settle(self, item: _Item, state: str) -> None:
        self.figures.count(state)
        self._outcomes.append((item.index, item.recipient, state))

    def _retry(self, item: _Item, due: float) -> None:
        heapq.heappush(self._retries, _Retry(due, next(self._seq), item))

    async def _close(self) -> None:
        """Finish the announcement, or (stopped) record what is left to resume later."""
        unsent = [*self._claimed, *(retry.item for retry in self._retries)]
        if self._cancelled:
            for item in [*unsent, *self._pending]:
                self._settle(item, SKIPPED)
        if self._cancelled or not (unsent or self._pending):
            state = CANCELLED if self._cancelled else DONE
            await self._blocking(self.outbox.finish, self.id, state, self.figures)
            self.finished = True
        else:
            await self._blocking(
                self.outbox.record,
                self.id,
                self.figures,
                outcomes=self._outcomes,
                releases=[(item.index, item.recipient) for item in unsent],
            )
        self._outcomes = []
        self._claimed.clear()
        self._retries.clear()

    async def _tick(self) -> None:
        """Report progress every ``progress_interval`` seconds (a slow report skips a beat)."""
        assert self._on_progress is not None
        while True:
            await asyncio.sleep(self.pace.progress_interval)
            try:
                await self._on_progress(self.progress())
            except Exception:
                log.exception("broadcast %s: progress report failed", self.id)
