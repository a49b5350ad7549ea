"""The leader and the announcement sender in a fleet, in-process: two Applications on one
PostgreSQL database as two workers (``Config.fleet``). One worker leads (the scheduled jobs run
there only) and the other takes over when the leader's connection drops; the send budget is
shared. Only the one that leads sends; an announcement sent "now" or stopped on the other worker
reaches the leader through the outbox; when the lead moves, the new leader resumes where the
old one stopped, and nobody receives it twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from telegram.request import HTTPXRequest

from bot import delivery
from bot.app import build_application
from bot.config import BroadcastConfig
from bot.fleet import LEADER_JOBS, Fleet, FleetSettings
from bot.ratelimit import PriorityRateLimiter
from desk.outbox import CANCELLED, DONE, RUNNING, SCHEDULED, Audience
from tests.emulator import BotAPIEmulator
from tests.emulator.factories import private_chat
from tests.fleet_harness import URL
from tests.harness import make_config

STAFF = 7700
RECIPIENTS = list(range(7710, 7750))
PACE = BroadcastConfig(
    rate_per_second=20, per_chat_interval_seconds=1.0, max_retries=2, progress_interval_seconds=1
)


class Worker:
    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def service(self) -> delivery.DeliveryService:
        running: delivery.DeliveryService = self.app.bot_data[delivery.SERVICE_KEY]
        return running

    async def stop(self) -> None:
        await self.app.stop()
        await self.app.shutdown()
        await self.app.post_shutdown(self.app)


@pytest.fixture
async def workers(
    emu: BotAPIEmulator, pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Worker, Worker]]:
    started = []
    for name in ("a", "b"):
        config = make_config(
            emu,
            tmp_path / name,
            BOT_DATABASE_URL=pg_url,
            BOT_WEBHOOK_URL=URL,
            BOT_STAFF_IDS=str(STAFF),
        )
        assert config.fleet
        app = build_application(
            replace(config, broadcast=PACE),
            request=HTTPXRequest(connection_pool_size=64, httpx_kwargs={"verify": False}),
        )
        app.bot_data["set_commands"] = False
        await app.initialize()
        await app.post_init(app)
        await app.start()
        started.append(Worker(app))
    for chat in (STAFF, *RECIPIENTS):
        emu._chats.setdefault(chat, private_chat(emu.user(chat)))
    stores = started[0].app.bot_data["services"].stores
    for chat in RECIPIENTS:
        stores.subscribers.subscribe(chat, chat, source="test")
    try:
        yield started[0], started[1]
    finally:
        for worker in started:
            await worker.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def received(emu: BotAPIEmulator) -> Counter[int]:
    return Counter(
        c.chat_id
        for c in emu.calls
        if c.method == "sendMessage" and c.ok and c.chat_id in RECIPIENTS
    )


async def announce(worker: Worker) -> str:
    """Staff press "send now" on ``worker``: created in the outbox, begun if it leads."""
    service = worker.service
    doc = await service.svc.call(
        service.outbox.create,
        author=STAFF,
        chat_id=STAFF,
        lang="id",
        content={"kind": "text", "text": "Jadwal tes EPS-TOPIK"},
        audience=Audience("subscribers"),
    )
    await service.begin(doc["id"])
    return str(doc["id"])


async def state(worker: Worker, broadcast_id: str) -> str:
    doc = await worker.service.svc.call(worker.service.outbox.get, broadcast_id)
    return str(doc["state"])


async def test_only_the_leader_sends_and_the_next_leader_resumes(
    workers: tuple[Worker, Worker], emu: BotAPIEmulator
) -> None:
    a, b = workers
    assert not a.service.leading and not b.service.leading, "nobody sends before leading"
    broadcast_id = await announce(b)  # on a worker that does not lead
    assert await state(b, broadcast_id) == SCHEDULED and not received(emu)
    await a.service.lead()  # the leader finds it and starts it at once
    await emu.wait_until(lambda: sum(received(emu).values()) >= 10, 30)
    assert await state(a, broadcast_id) == RUNNING and not b.service.deliveries
    await a.service.step_down()  # the lead is lost: it stops after the sends in flight
    stopped_at = sum(received(emu).values())
    assert stopped_at < len(RECIPIENTS) and not a.service.deliveries
    await b.service.lead()
    await emu.wait_until(lambda: sum(received(emu).values()) >= len(RECIPIENTS), 30)
    task = b.service.tasks.get(broadcast_id)
    if task is not None:
        await task
    assert await state(b, broadcast_id) == DONE
    counts = received(emu)
    assert sorted(counts) == RECIPIENTS and set(counts.values()) == {1}, "each once"
    await b.service.lead()  # a finished announcement is never started again
    assert not b.service.deliveries


async def test_staff_stop_an_announcement_on_a_worker_that_does_not_send_it(
    workers: tuple[Worker, Worker], emu: BotAPIEmulator
) -> None:
    a, b = workers
    await a.service.lead()
    broadcast_id = await announce(a)  # begun at once: a leads
    await emu.wait_until(lambda: sum(received(emu).values()) >= 5, 30)
    assert await b.service.request_cancel(broadcast_id), "asked through the outbox"
    await a.service.lead()  # the leader's next look at the outbox
    task = a.service.tasks.get(broadcast_id)
    if task is not None:
        await task
    assert await state(a, broadcast_id) == CANCELLED
    counts = received(emu)
    assert len(counts) < len(RECIPIENTS) and set(counts.values()) == {1}
    assert not await b.service.request_cancel(broadcast_id), "nothing left to stop"


FAST = FleetSettings(
    lease_seconds=2, poll_seconds=0.1, heartbeat_seconds=0.2, leader_retry_seconds=0.2,
    send_budget=10,
)  # fmt: skip


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls: the fleet's state changes in its own tasks, with nothing to wait on."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def jobs_enabled(worker: Worker) -> set[bool]:
    queue = worker.app.job_queue
    return {job.enabled for name in LEADER_JOBS for job in queue.get_jobs_by_name(name)}


async def test_one_worker_leads_and_another_takes_over_when_its_connection_drops(
    workers: tuple[Worker, Worker], pg_url: str
) -> None:
    fleets = [Fleet(worker.app, FAST) for worker in workers]
    await asyncio.gather(*(fleet.start() for fleet in fleets))
    try:
        await eventually(lambda: any(w.service.leading for w in workers))
        await asyncio.sleep(0.5)  # the other one tried meanwhile, and was refused
        [leader] = [n for n, fleet in enumerate(fleets) if fleet.leader]
        other = 1 - leader
        assert jobs_enabled(workers[leader]) == {True}
        assert jobs_enabled(workers[other]) == {False}, "the digest and the purge run once"
        for worker in workers:
            limiter = worker.app.bot.rate_limiter
            assert isinstance(limiter, PriorityRateLimiter)
            assert limiter.overall_per_second == 5.0, "the budget over the live workers"
        assert workers[other].service.leading is False

        connection = fleets[leader]._leader_conn
        assert connection is not None
        with psycopg.connect(pg_url, autocommit=True) as admin:  # its connection drops
            admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
        await eventually(
            lambda: (
                fleets[other].leader
                and workers[other].service.leading
                and not fleets[leader].leader
            )
        )
        assert jobs_enabled(workers[other]) == {True}
        assert jobs_enabled(workers[leader]) == {False}
        assert workers[other].service.leading and not workers[leader].service.leading
    finally:
        for fleet in fleets:
            await fleet.stop()
