"""Several bot processes serving one bot: webhook workers on one PostgreSQL database.

With ``BOT_DATABASE_URL`` (PostgreSQL) and ``BOT_WEBHOOK_URL`` together, each ``python -m bot``
is a *worker* of a fleet (``Config.fleet``); any number may run, on one machine or several,
behind one load balancer that spreads Telegram's POSTs over them. The embedded store keeps one
process (its directory lock refuses a second one), and so does long polling on PostgreSQL
(Telegram allows one poller; the exclusive lock refuses a second one, see ``store/pg.py``).

What each worker does (:class:`Fleet`, started by ``bot.webhook.serve`` after the Application):

Receiving and claiming
    The webhook stores every update in the shared inbox table before its 200
    (``store/pg_inbox.py``: duplicates dropped fleet-wide). Every worker then *claims* updates
    from that table, whichever worker received them (:meth:`Fleet._claim_loop`): an update is
    claimed by one worker at a time (``FOR UPDATE SKIP LOCKED``) with a lease the worker renews
    while it works on it; one chat's updates are claimed one at a time and in ``update_id``
    order. A worker killed after its 200, or in the middle of an update, leaves the update
    pending or leased: another worker claims it once the lease has run out
    (``BOT_INBOX_LEASE_SECONDS``, 30 by default). A worker wakes its claimer when it stores an
    update and when it finishes one (the chat's next update may be waiting), and polls every
    ``BOT_INBOX_POLL_SECONDS`` otherwise (an update another worker received).

State from the database, per update (the hook: :meth:`Fleet._process`)
    Conversation state lives in ``user_data`` (``bot/flow.py``: the one active flow, e.g. a
    registration's step) and ``chat_data``. Before an update is handed to PTB, the worker
    reloads that user's and chat's values from ``stores.kv`` into the Application's
    dictionaries (``StorePersistence.reload``), so the filters (``flow.Active``) and handlers
    see what the last worker wrote, never this process's memory; the user's open handoff ticket
    and chosen language are read again too. Right after the update, both values are written
    (``StorePersistence.save``), not at PTB's 10 s flush, before the update is marked done.
    The hook sits here, around ``process_update``, and not in PTB's ``refresh_user_data``
    because PTB calls that one only after the filters have already read the stale values.
    The state an update started from is kept with its claim (``before``): a second attempt
    (after its worker died half-way) starts from that state again, not from what the dead
    worker may have written, so the step is not applied twice.

One leader (:meth:`Fleet._leader_loop`)
    The announcement sender (``bot/delivery.py``) and the scheduled jobs (the daily follow-up
    digest, the retention purge; :data:`LEADER_JOBS`) run on one worker only: the one holding
    ``pg_try_advisory_lock(LEADER_LOCK)`` on a connection of its own. The others try again every
    ``BOT_LEADER_RETRY_SECONDS``; when the leader dies its connection drops, PostgreSQL frees
    the lock, and the next one to try takes over: it resumes running announcements from the
    durable outbox (recipients already sent are never sent again; see ``desk/broadcast.py``)
    and re-arms the scheduled ones. A worker whose connection to the leader lock fails steps
    down at once. Staff start, schedule and stop announcements from any worker: the outbox is
    the message between them (the leader looks at it every ``BOT_INBOX_POLL_SECONDS``).

One send budget for the fleet
    Telegram allows about 30 messages a second per bot, whichever process sends them. Each
    worker beats in the ``workers`` table every ``BOT_HEARTBEAT_SECONDS``; its rate limiter's
    global budget is ``BOT_SEND_BUDGET`` (29) divided by the live workers (seen within three
    beats), and announcements are paced within the leader's share. A new worker waits two
    beats before sending anything, so the others have lowered their share first; a dead one
    is counted until its beats are stale (the others' shares stay lower meanwhile: safe).
    The cost: a fleet of N sends replies at most budget/N per worker even when the others are
    idle (a token bucket in PostgreSQL would lend the idle share, at a round trip per message);
    at Kota Serang's load a worker's share is far above what it sends (``bench/workers.py``).

Measured on one machine (2 CPUs, a local PostgreSQL with fsync on): ``bench/multiworker_kill.py``,
10 rounds of two workers with a SIGKILL in a registration step and one in an announcement to 30
(20 citizens asking meanwhile): 0 updates lost, 0 handled twice, every recipient reached once
(one send per kill in flight, counted ``unknown``), at most 10 messages in any second against
a budget of 10. ``bench/workers.py``: at 20 updates/s a FAQ reply takes p50 13 ms / p95 15 ms
with two workers (13 / 23 ms with one, 8 / 10 ms on the embedded store); at 100/s every setup
waits for Telegram's budget (p50 ~5.7 s). A registration write: p50 0.26 ms embedded, 1.6 ms on
PostgreSQL, 3.5 ms with two workers writing at once (the registrations' lock serialises them).

What may still happen twice: a worker killed after its handler's last Bot API call and before
the update is marked done (a few milliseconds) has the update processed again by another worker,
and that reply is sent twice; an announcement's recipient whose send was in flight at the kill
is counted ``unknown`` and never sent again (at most ``Pace.max_in_flight`` per kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from telegram import Update

from bot.metrics import update_kind
from bot.persistence import StorePersistence
from bot.ratelimit import PriorityRateLimiter
from store import StoreError
from store.pg import connect, lock_key
from store.pg_inbox import LEASE_SECONDS, Claimed, PgInbox

log = logging.getLogger(__name__)

#: Held by the leader: the one worker that runs announcements and scheduled jobs.
LEADER_LOCK = lock_key("leader")
#: Jobs only the leader runs (the others keep them paused).
LEADER_JOBS = ("desk-digest", "retention-purge")
#: At shutdown, updates being processed get this long before they are given back.
DRAIN_SECONDS = 10.0
#: Updates one worker processes at once.
MAX_IN_FLIGHT = 256
#: An update claimed this many times without being finished (its workers died, or the store
#: failed each time) is dropped, so that one poisonous update cannot hold its chat forever.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class FleetSettings:
    """The fleet's timings and budget (environment variables, see the module docstring)."""

    lease_seconds: float = LEASE_SECONDS
    poll_seconds: float = 0.5
    heartbeat_seconds: float = 2.0
    leader_retry_seconds: float = 5.0
    send_budget: float = 29.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FleetSettings:
        def number(name: str, default: float, low: float, high: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}: expected a number, not {raw!r}") from None
            if not low <= value <= high:
                raise ValueError(f"{name}: expected {low:g} to {high:g}, not {value:g}")
            return value

        return cls(
            lease_seconds=number("BOT_INBOX_LEASE_SECONDS", LEASE_SECONDS, 1, 3600),
            poll_seconds=number("BOT_INBOX_POLL_SECONDS", 0.5, 0.05, 60),
            heartbeat_seconds=number("BOT_HEARTBEAT_SECONDS", 2.0, 0.1, 60),
            leader_retry_seconds=number("BOT_LEADER_RETRY_SECONDS", 5.0, 0.1, 300),
            send_budget=number("BOT_SEND_BUDGET", 29.0, 1, 30),
        )

    @property
    def stale_seconds(self) -> float:
        """A worker not seen for this long is not counted as live."""
        return 3 * self.heartbeat_seconds


def worker_name() -> str:
    """This process in the inbox and the heartbeat table: host, pid and a random tail."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Fleet:
    """One worker's part: claiming, per-update state, the heartbeat, the leader lease."""

    def __init__(self, app: Any, settings: FleetSettings, *, on_done: Any = None) -> None:
        self.app = app
        self.settings = settings
        self.worker = worker_name()
        self.leader = False
        self.live_workers = 1
        self._on_done = on_done
        self._wake = asyncio.Event()
        self._held: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._leader_conn: psycopg.Connection[Any] | None = None
        self._dones: list[int] = []
        self._stopping = False

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def services(self) -> Any:
        return self.app.bot_data["services"]

    @property
    def inbox(self) -> PgInbox:
        inbox = self.services.stores.inbox
        assert isinstance(inbox, PgInbox), "a fleet needs the PostgreSQL inbox"
        return inbox

    @property
    def held(self) -> int:
        """Updates this worker is processing now."""
        return len(self._held)

    def wake(self) -> None:
        """Something may be claimable (an update stored here, or one finished)."""
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Join (heartbeat, then two beats' wait so the others lower their send budget), then
        claim, renew, beat and try for the lead."""
        self.inbox.lease_seconds = self.settings.lease_seconds
        self._pause_leader_jobs()
        await self._beat()
        self._loops.append(asyncio.create_task(self._heartbeat_loop(), name="fleet-heartbeat"))
        await asyncio.sleep(2 * self.settings.heartbeat_seconds)
        await self._beat()
        log.info("worker %s joined (%d live)", self.worker, self.live_workers)
        self._loops += [
            asyncio.create_task(self._claim_loop(), name="fleet-claim"),
            asyncio.create_task(self._renew_loop(), name="fleet-renew"),
            asyncio.create_task(self._leader_loop(), name="fleet-leader"),
        ]

    async def stop(self) -> None:
        """Stop claiming, let the updates in hand finish (or give them back), step down, leave."""
        self._stopping = True
        claim = [t for t in self._loops if t.get_name() == "fleet-claim"]
        for task in claim:
            task.cancel()
        await asyncio.gather(*claim, return_exceptions=True)
        left: list[int] = []
        if self._held:
            _, unfinished = await asyncio.wait(set(self._held.values()), timeout=DRAIN_SECONDS)
            left = [uid for uid, task in self._held.items() if task in unfinished]
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        with contextlib.suppress(StoreError, psycopg.Error, OSError):
            await self.services.call(self.inbox.release, self.worker, left)
        await self._flush_dones()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        if self.leader:
            await self._step_down()
        if self._leader_conn is not None:
            with contextlib.suppress(psycopg.Error):
                await asyncio.to_thread(self._leader_conn.close)
            self._leader_conn = None
        with contextlib.suppress(StoreError, psycopg.Error, OSError):
            await self.services.call(self.services.stores.workers.leave, self.worker)

    async def idle(self) -> None:
        """Until no update is in hand (tests)."""
        while self._held:
            await asyncio.gather(*set(self._held.values()), return_exceptions=True)

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            self._wake.clear()
            room = MAX_IN_FLIGHT - len(self._held)
            claimed: list[Claimed] = []
            if room > 0:
                try:
                    claimed = await self.services.call(
                        self.inbox.claim, self.worker, min(room, 32)
                    )
                except (StoreError, psycopg.Error, OSError) as exc:
                    log.error("claiming updates failed: %s", exc)
            for item in claimed:
                task = asyncio.create_task(self._process(item), name=f"update-{item.update_id}")
                self._held[item.update_id] = task
            if claimed and len(claimed) == min(room, 32):
                continue  # there may be more
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()

    async def _process(self, item: Claimed) -> None:
        """One claimed update: its state from the store, PTB, its state back, done. An update
        that could not be finished (the store failed, or shutting down) is not marked done: it
        is given back, or claimed again once its lease has run out."""
        finished = False
        try:
            await self._handle(item)
            finished = True
        except Exception:
            log.exception("update %d not finished; it will be claimed again", item.update_id)
        finally:
            self._held.pop(item.update_id, None)
        if finished:
            self._dones.append(item.update_id)
            await self._flush_dones()
            self.wake()  # the chat's next update is claimable now

    async def _handle(self, item: Claimed) -> None:
        app, services = self.app, self.services
        if item.attempts > MAX_ATTEMPTS:
            log.error("update %d failed %d times; dropped", item.update_id, item.attempts - 1)
            return
        try:
            update = Update.de_json(item.update, app.bot)
        except Exception:
            log.exception("update %d cannot be read; dropped", item.update_id)
            return
        user = update.effective_user
        chat = update.effective_chat
        user_id = user.id if user else None
        chat_id = chat.id if chat else None
        persistence = app.persistence
        if isinstance(persistence, StorePersistence):
            if item.attempts > 1:
                log.warning(
                    "update %d (%s): attempt %d, from the state it first started with",
                    item.update_id,
                    update_kind(update),
                    item.attempts,
                )
            before = await persistence.reload(app, user_id, chat_id, item.before)
            if item.before is None:
                await services.call(self.inbox.save_before, item.update_id, before)
        if user_id is not None:
            services.forget_user(user_id)  # the language, as another worker may have set it
            await services.call(services.stores.handoff.refresh, user_id)
        try:
            await app.update_processor.process_update(update, app.process_update(update))
        except asyncio.CancelledError:
            raise  # shutting down: given back, or claimed again after its lease
        except Exception:  # handlers' errors go to the error handlers; this is a bug
            log.exception("update %d (%s) failed", item.update_id, update_kind(update))
        if isinstance(persistence, StorePersistence):
            try:
                await persistence.save(app, user_id, chat_id)
            except Exception as exc:
                log.error(
                    "update %d: the conversation state was not saved: %s", item.update_id, exc
                )
        if self._on_done is not None:
            self._on_done(update)

    async def _flush_dones(self) -> None:
        done, self._dones = self._dones, []
        if not done:
            return
        try:
            await self.services.call(self.inbox.mark_done_many, done)
        except (StoreError, psycopg.Error, OSError) as exc:
            log.error("%d update(s) handled but not marked done: %s", len(done), exc)

    async def _renew_loop(self) -> None:
        """Keep the leases of the updates in hand (a third of the lease, so one late renewal
        does not lose them)."""
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                kept = await self.services.call(self.inbox.renew, self.worker, held)
            except (StoreError, psycopg.Error, OSError) as exc:
                log.error("renewing the leases failed: %s", exc)
                continue
            if kept < len(held):
                log.warning("%d lease(s) lost: taken over or finished", len(held) - kept)

    # -- the heartbeat and the send budget ---------------------------------------------------

    async def _beat(self) -> None:
        workers = self.services.stores.workers
        try:
            await self.services.call(workers.beat, self.worker, leads=self.leader)
            live = await self.services.call(workers.live, self.settings.stale_seconds)
        except (StoreError, psycopg.Error, OSError) as exc:
            log.error("heartbeat failed: %s", exc)
            return
        self.live_workers = max(1, live)
        limiter = self.app.bot.rate_limiter
        if isinstance(limiter, PriorityRateLimiter):
            limiter.overall_per_second = self.share
        self.app.bot_data["fleet_share"] = self.share

    @property
    def share(self) -> float:
        """This worker's messages per second: the fleet's budget over the live workers."""
        return self.settings.send_budget / self.live_workers

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            await self._beat()

    # -- the leader --------------------------------------------------------------------------

    async def _leader_loop(self) -> None:
        last_try = 0.0
        while True:
            try:
                if self._leader_conn is None:
                    self._leader_conn = await self._connect()
                    last_try = 0.0
                conn = self._leader_conn
                if not self.leader:
                    if time.monotonic() - last_try >= self.settings.leader_retry_seconds:
                        last_try = time.monotonic()
                        if await asyncio.to_thread(_try_lead, conn):
                            await self._lead()
                else:
                    await asyncio.to_thread(conn.execute, "SELECT 1")
                    await self._leader_duties()
            except (StoreError, psycopg.Error, OSError) as exc:
                log.error("the leader lock's connection failed: %s", exc)
                if self.leader:
                    await self._step_down()
                if self._leader_conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        self._leader_conn.close()
                self._leader_conn = None
            await asyncio.sleep(
                min(self.settings.poll_seconds, self.settings.leader_retry_seconds)
            )

    async def _connect(self) -> psycopg.Connection[Any]:
        """The leader lock's own connection (not pooled: the lock lives as long as it does);
        one that arrives after a cancellation (shutting down) is closed, not leaked."""
        url = self.services.stores.database_url
        pending = asyncio.ensure_future(asyncio.to_thread(connect, url))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            pending.add_done_callback(_close_arrived)
            raise

    async def _lead(self) -> None:
        self.leader = True
        self.app.bot_data["fleet_leader"] = True
        log.info("worker %s leads: announcements and scheduled jobs run here", self.worker)
        self._resume_leader_jobs()
        await self._beat()
        await self._leader_duties()

    async def _leader_duties(self) -> None:
        """The outbox looked at (a failed look is tried again next time: the lock holds)."""
        from bot import delivery

        running = self.app.bot_data.get(delivery.SERVICE_KEY)
        if running is None or self._stopping:
            return
        try:
            await running.lead()
        except (StoreError, psycopg.Error, OSError) as exc:
            log.error("the leader could not read the outbox: %s", exc)

    async def _step_down(self) -> None:
        from bot import delivery

        self.leader = False
        self.app.bot_data["fleet_leader"] = False
        log.warning("worker %s no longer leads", self.worker)
        self._pause_leader_jobs()
        running = self.app.bot_data.get(delivery.SERVICE_KEY)
        if running is not None:
            await running.step_down()

    def _leader_jobs(self) -> list[Any]:
        queue = self.app.job_queue
        if queue is None:
            return []
        return [job for name in LEADER_JOBS for job in queue.get_jobs_by_name(name)]

    def _pause_leader_jobs(self) -> None:
        for job in self._leader_jobs():
            job.enabled = False

    def _resume_leader_jobs(self) -> None:
        for job in self._leader_jobs():
            job.enabled = True


def _try_lead(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
    return bool(row and row[0])


def _close_arrived(task: asyncio.Future[psycopg.Connection[Any]]) -> None:
    if not task.cancelled() and task.exception() is None:
        with contextlib.suppress(psycopg.Error):
            task.result().close()
