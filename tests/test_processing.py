"""The update processor: a chat's wait holds no slot, lanes, capped queues, the group policy."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update

from bot.processing import GroupPolicy, PerChatUpdateProcessor, release_slot

STAFF_GROUP = -100_777
OTHER_GROUP = -100_555
_ids = iter(range(1, 10**6))


def message(chat: int, *, edited: bool = False, user: int | None = None) -> Update:
    chat_type = "private" if chat > 0 else "supergroup"
    sender = user if user is not None else (chat if chat > 0 else 42)
    payload: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 0,
        "chat": {"id": chat, "type": chat_type},
        "from": {"id": sender, "is_bot": False, "first_name": "W"},
        "text": "halo",
    }
    if edited:
        payload["edit_date"] = 1
    kind = "edited_message" if edited else "message"
    return Update.de_json({"update_id": next(_ids), kind: payload}, None)


class Recorder:
    """Coroutines that record when they start and wait for their gate to open."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.done: list[object] = []

    def job(self, label: str, *, release: bool = False) -> Any:
        gate = self.gates[label] = asyncio.Event()

        async def run() -> None:
            self.started.append(label)
            if release:
                release_slot()  # e.g. the rate limiter, before a long wait for a group's budget
            await gate.wait()

        return run()

    def open(self, *labels: str) -> None:
        for label in labels:
            self.gates[label].set()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def processor(recorder: Recorder, **kwargs: Any) -> PerChatUpdateProcessor:
    return PerChatUpdateProcessor(on_done=recorder.done.append, **kwargs)


async def test_a_chats_queued_updates_hold_no_slot() -> None:
    rec = Recorder()
    proc = processor(rec, max_concurrent_updates=2)
    tasks = [
        asyncio.create_task(proc.process_update(message(1), rec.job("a1"))),
        asyncio.create_task(proc.process_update(message(1), rec.job("a2"))),
        asyncio.create_task(proc.process_update(message(1), rec.job("a3"))),
        asyncio.create_task(proc.process_update(message(2), rec.job("b1"))),
    ]
    await settle()
    # a2 and a3 wait for chat 1's turn without a slot: chat 2 is served meanwhile.
    assert rec.started == ["a1", "b1"]
    rec.open("a1", "b1")
    await settle()
    assert rec.started == ["a1", "b1", "a2"]  # chat 1 in order
    rec.open("a2", "a3")
    await asyncio.gather(*tasks)
    assert rec.started == ["a1", "b1", "a2", "a3"] and len(rec.done) == 4


async def test_slots_bound_concurrency_across_chats() -> None:
    rec = Recorder()
    proc = processor(rec, max_concurrent_updates=2)
    tasks = [
        asyncio.create_task(proc.process_update(message(chat), rec.job(str(chat))))
        for chat in (1, 2, 3)
    ]
    await settle()
    assert rec.started == ["1", "2"]
    rec.open("1")
    await settle()
    assert rec.started == ["1", "2", "3"]
    rec.open("2", "3")
    await asyncio.gather(*tasks)


async def test_a_long_wait_gives_the_slot_back() -> None:
    rec = Recorder()
    proc = processor(rec, max_concurrent_updates=1)
    relay = asyncio.create_task(proc.process_update(message(1), rec.job("relay", release=True)))
    await settle()
    citizen = asyncio.create_task(proc.process_update(message(2), rec.job("citizen")))
    await settle()
    assert rec.started == ["relay", "citizen"], "the relay waiting for its budget holds no slot"
    rec.open("citizen", "relay")
    await asyncio.gather(relay, citizen)


async def test_queues_are_capped_and_the_overflow_told_once() -> None:
    rec = Recorder()
    told: list[int] = []
    proc = processor(rec, max_queued_per_chat=3, on_overflow=lambda u: told.append(u.update_id))
    updates = [message(1) for _ in range(6)]
    tasks = [
        asyncio.create_task(proc.process_update(u, rec.job(f"m{i}")))
        for i, u in enumerate(updates)
    ]
    await settle()
    assert proc.dropped["overflow"] == 3
    assert told == [updates[3].update_id], "told once per burst, with the first dropped update"
    rec.open(*(f"m{i}" for i in range(6)))
    await asyncio.gather(*tasks)
    assert rec.started == ["m0", "m1", "m2"]
    assert len(rec.done) == 6  # on_done for dropped updates too (the tests wait on it)
    # The queue drained: a new burst is told again.
    more = [message(1) for _ in range(4)]
    tasks = [
        asyncio.create_task(proc.process_update(u, rec.job(f"n{i}"))) for i, u in enumerate(more)
    ]
    await settle()
    assert told[-1] == more[3].update_id and len(told) == 2
    rec.open(*(f"n{i}" for i in range(4)))
    await asyncio.gather(*tasks)


async def test_an_async_overflow_hook_runs_beside() -> None:
    rec = Recorder()
    answered: list[int] = []

    async def hook(update: object) -> None:
        assert isinstance(update, Update)
        answered.append(update.update_id)

    proc = processor(rec, max_queued_per_chat=1, on_overflow=hook)
    first, second = message(1), message(1)
    tasks = [
        asyncio.create_task(proc.process_update(first, rec.job("first"))),
        asyncio.create_task(proc.process_update(second, rec.job("second"))),
    ]
    await settle()
    assert answered == [second.update_id]
    rec.open("first", "second")
    await asyncio.gather(*tasks)
    await proc.shutdown()


async def test_other_groups_get_one_update_per_interval_the_staff_group_all() -> None:
    rec = Recorder()
    clock = [0.0]
    proc = processor(rec, staff_chat_id=STAFF_GROUP, clock=lambda: clock[0])
    proc.configure(group_policy=GroupPolicy(interval=60.0))
    flood = [message(OTHER_GROUP) for _ in range(10)]
    staff = [message(STAFF_GROUP, user=900 + i) for i in range(10)]
    for i, update in enumerate(flood):
        await proc.process_update(update, _done_at_once(rec, f"g{i}"))
    for i, update in enumerate(staff):
        await proc.process_update(update, _done_at_once(rec, f"s{i}"))
    await proc.process_update(message(OTHER_GROUP, edited=True), _done_at_once(rec, "edit"))
    assert rec.started == ["g0", *(f"s{i}" for i in range(10))]
    assert proc.dropped["group"] == 10  # nine commands and the edit
    clock[0] = 61.0
    await proc.process_update(message(OTHER_GROUP), _done_at_once(rec, "later"))
    assert rec.started[-1] == "later"


async def test_the_staff_groups_lane_never_takes_a_citizens_slot() -> None:
    rec = Recorder()
    proc = processor(rec, max_concurrent_updates=1, staff_slots=2, staff_chat_id=STAFF_GROUP)
    staff = [
        asyncio.create_task(proc.process_update(message(STAFF_GROUP), rec.job(f"s{i}")))
        for i in range(3)
    ]
    await settle()
    citizen = asyncio.create_task(proc.process_update(message(7), rec.job("citizen")))
    await settle()
    assert "citizen" in rec.started
    rec.open("citizen", "s0", "s1", "s2")
    await asyncio.gather(citizen, *staff)


async def test_without_a_policy_every_group_update_is_processed() -> None:
    rec = Recorder()
    proc = processor(rec)
    for i in range(3):
        await proc.process_update(message(OTHER_GROUP), _done_at_once(rec, f"g{i}"))
    assert rec.started == ["g0", "g1", "g2"]


def _done_at_once(rec: Recorder, label: str) -> Any:
    async def run() -> None:
        rec.started.append(label)

    return run()
