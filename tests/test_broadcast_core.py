"""The broadcast core without Telegram: outbox, pacing, 429s, blocked chats, retries, stop and
resume, a crash between intent and outcome, cancellation, audiences and schedule parsing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from desk.broadcast import (
    Delivery,
    Pace,
    PermanentError,
    Progress,
    RateLimited,
    TransientError,
    UncertainError,
    Unreachable,
)
from desk.outbox import (
    CANCELLED,
    DONE,
    RUNNING,
    SCHEDULED,
    Audience,
    Figures,
    Outbox,
    Recipient,
    resolve_audience,
)
from store import Database
from store.pg import PgBackend, PgDatabase
from tests.backends import Backend

FAST = Pace(rate_per_second=30, per_chat_interval=0.05, max_retries=2, backoff=0.01)
WIB = timezone(timedelta(hours=7))
from store.clock import parse_local_time  # noqa: E402

Opener = Callable[[], Database]


@pytest.fixture
def open_database(store_backend: Backend) -> Iterator[Opener]:
    """Opens the outbox's store on each backend in turn (again for "a new process")."""
    backends: list[PgBackend] = []

    def open_database() -> Database:
        if store_backend.url is None:
            return Database(store_backend.data_dir, "broadcasts")
        backends.append(PgBackend(store_backend.url, exclusive=False))
        return PgDatabase(backends[-1], "broadcasts")

    yield open_database
    for backend in backends:
        backend.close()


@pytest.fixture
def database(open_database: Opener) -> Iterator[Database]:
    db = open_database()
    yield db
    db.close()


def running(outbox: Outbox, chats: list[int]) -> str:
    """A running announcement to ``chats``."""
    doc = outbox.create(
        author=900,
        chat_id=900,
        lang="id",
        content={"kind": "text", "text": "Pelatihan dimulai"},
        audience=Audience("subscribers"),
    )
    assert outbox.begin(doc["id"], [Recipient(chat) for chat in chats]) is not None
    return str(doc["id"])


class Sender:
    """A fake ``send``: records every attempt with its time; scripted failures per chat."""

    def __init__(self, script: dict[int, list[Exception]] | None = None) -> None:
        self.script = script or {}
        self.attempts: list[tuple[int, float]] = []
        self.delivered: list[int] = []
        self._progress = asyncio.Event()

    async def wait_delivered(self, count: int) -> None:
        """Wait until ``count`` recipients have received the message."""
        while len(self.delivered) < count:
            self._progress.clear()
            await self._progress.wait()

    async def __call__(self, recipient: Recipient) -> None:
        self.attempts.append((recipient.chat_id, time.monotonic()))
        await asyncio.sleep(0.002)  # a request takes a moment; others go on meanwhile
        failures = self.script.get(recipient.chat_id)
        if failures:
            raise failures.pop(0)
        self.delivered.append(recipient.chat_id)
        self._progress.set()


async def test_delivers_everyone_once_at_the_configured_pace(database: Database) -> None:
    outbox = Outbox(database)
    chats = list(range(1, 31))
    broadcast_id = running(outbox, [*chats, 5, 7])  # duplicates are sent once
    sender = Sender()
    seq_before = database.seq
    started = time.monotonic()

    figures = await Delivery(outbox, broadcast_id, sender, FAST).run()

    elapsed = time.monotonic() - started
    assert sender.delivered == chats
    assert figures == Figures(total=30, sent=30)
    assert 29 / 30 * 0.9 <= elapsed <= 2.0  # 30 sends at 30/s: about one second
    doc = outbox.get(broadcast_id)
    assert doc is not None and doc["state"] == DONE and doc["figures"]["sent"] == 30
    assert database.table(f"recipients_{broadcast_id}").all() == []  # list forgotten
    # Intents and outcomes went to disk in batches: far fewer fsyncs than recipients.
    assert database.seq - seq_before <= 30 / FAST.batch + 6


async def test_rate_limit_pauses_everything_then_retries_the_same_recipient(
    database: Database,
) -> None:
    outbox = Outbox(database)
    broadcast_id = running(outbox, list(range(1, 21)))
    sender = Sender({8: [RateLimited(0.4)]})

    figures = await Delivery(outbox, broadcast_id, sender, FAST).run()

    assert sorted(sender.delivered) == list(range(1, 21))
    assert figures.sent == 20 and figures.rate_limited == 1 and figures.failed == 0
    limited_at = next(at for chat, at in sender.attempts if chat == 8)
    later = [at for _, at in sender.attempts if at > limited_at + 0.01]
    assert later and min(later) >= limited_at + 0.39  # nobody was sent to during the pause


async def test_unreachable_chats_are_reported_once_and_never_retried(database: Database) -> None:
    outbox = Outbox(database)
    broadcast_id = running(outbox, list(range(1, 11)))
    sender = Sender({3: [Unreachable("blocked")], 7: [Unreachable("chat not found")]})
    reported: list[tuple[int, str]] = []

    async def on_unreachable(recipient: Recipient, reason: str) -> None:
        reported.append((recipient.chat_id, reason))

    figures = await Delivery(
        outbox, broadcast_id, sender, FAST, on_unreachable=on_unreachable
    ).run()

    assert figures == Figures(total=10, sent=8, blocked=2)
    assert sorted(reported) == [(3, "blocked"), (7, "chat not found")]
    assert [chat for chat, _ in sender.attempts].count(3) == 1


async def test_transient_errors_are_retried_with_backoff_then_given_up(
    database: Database,
) -> None:
    outbox = Outbox(database)
    broadcast_id = running(outbox, [1, 2, 3, 4, 5])
    sender = Sender(
        {
            2: [TransientError("502"), TransientError("502")],  # third try works
            3: [TransientError("down")] * 5,  # never works
            4: [UncertainError("timed out")],  # may have arrived: never resent
            5: [PermanentError("bad request")],
        }
    )

    figures = await Delivery(outbox, broadcast_id, sender, FAST).run()

    assert sorted(sender.delivered) == [1, 2]
    assert figures == Figures(total=5, sent=2, failed=2, unknown=1, retries=4)
    tries = {chat: [at for c, at in sender.attempts if c == chat] for chat in (2, 3, 4, 5)}
    assert len(tries[3]) == FAST.max_retries + 1
    assert len(tries[4]) == len(tries[5]) == 1
    gaps = [b - a for a, b in zip(tries[3], tries[3][1:], strict=False)]
    assert all(gap >= FAST.per_chat_interval * 0.95 for gap in gaps)  # one chat, 1 msg per gap


async def test_graceful_stop_then_resume_sends_everyone_exactly_once(
    open_database: Opener,
) -> None:
    database = open_database()
    outbox = Outbox(database)
    chats = list(range(1, 41))
    broadcast_id = running(outbox, chats)
    first = Sender()
    delivery = Delivery(outbox, broadcast_id, first, FAST)
    task = asyncio.create_task(delivery.run())
    await first.wait_delivered(12)
    delivery.stop()
    await task
    assert not delivery.finished
    assert outbox.get(broadcast_id)["state"] == RUNNING  # type: ignore[index]
    database.close()

    database = open_database()  # a new process
    outbox = Outbox(database)
    second = Sender()
    figures = await Delivery(outbox, broadcast_id, second, FAST).run()
    database.close()

    assert sorted(first.delivered + second.delivered) == chats
    assert figures == Figures(total=40, sent=40)


async def test_crash_between_intent_and_outcome_never_sends_twice(open_database: Opener) -> None:
    database = open_database()
    outbox = Outbox(database)
    chats = list(range(1, 61))
    broadcast_id = running(outbox, chats)
    first = Sender()
    task = asyncio.create_task(Delivery(outbox, broadcast_id, first, FAST).run())
    await first.wait_delivered(25)
    # The process dies: nothing after this moment reaches the disk or the network.
    database.close()
    task.cancel()
    for other in asyncio.all_tasks() - {asyncio.current_task()}:
        other.cancel()
    await asyncio.sleep(0.05)
    delivered_before_crash = set(first.delivered)

    database = open_database()
    outbox = Outbox(database)
    second = Sender()
    figures = await Delivery(outbox, broadcast_id, second, FAST).run()
    database.close()

    assert not delivered_before_crash & set(second.delivered), "someone got it twice"
    assert figures.total == 60 and figures.sent + figures.unknown == 60
    assert 0 < figures.unknown <= 2 * FAST.batch + FAST.max_in_flight
    # Those sent before the crash whose outcome was on disk count as sent, the rest as unknown.
    assert figures.sent >= len(second.delivered)
    assert set(second.delivered) | delivered_before_crash <= set(chats)


async def test_cancel_skips_the_rest_and_closes_the_announcement(database: Database) -> None:
    outbox = Outbox(database)
    broadcast_id = running(outbox, list(range(1, 41)))
    sender = Sender()
    delivery = Delivery(outbox, broadcast_id, sender, FAST)
    task = asyncio.create_task(delivery.run())
    await sender.wait_delivered(5)
    delivery.cancel()
    figures = await task

    assert figures.sent == len(sender.delivered) and figures.sent < 40
    assert figures.sent + figures.skipped == 40
    doc = outbox.get(broadcast_id)
    assert doc is not None and doc["state"] == CANCELLED and doc["finished_at"]


async def test_progress_is_reported_while_running(database: Database) -> None:
    outbox = Outbox(database)
    broadcast_id = running(outbox, list(range(1, 31)))
    seen: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        seen.append(progress)

    pace = Pace(rate_per_second=30, per_chat_interval=0.05, progress_interval=0.3)
    await Delivery(outbox, broadcast_id, Sender(), pace, on_progress=on_progress).run()

    assert 2 <= len(seen) <= 4
    first = seen[0]
    assert 0 < first.figures.sent < 30 and first.figures.remaining == 30 - first.figures.sent
    assert first.eta_seconds == pytest.approx(first.figures.remaining / 30, abs=0.05)
    assert first.rate > 10


def test_outbox_lifecycle(database: Database) -> None:
    moment = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    outbox = Outbox(database, clock=lambda: moment)
    doc = outbox.create(
        author=900,
        chat_id=900,
        lang="en",
        content={"kind": "photo", "file_id": "F1", "text": "<b>Jadwal</b>"},
        audience=Audience("kecamatan", "serang"),
        scheduled_for=moment + timedelta(days=1),
    )
    assert doc["id"] == "1" and doc["state"] == SCHEDULED
    assert doc["scheduled_for"] == "2026-11-29T02:00:00+00:00"
    other = outbox.create(
        author=900, chat_id=900, lang="id", content={}, audience=Audience("subscribers")
    )
    assert other["id"] == "2"
    assert outbox.ids_in(SCHEDULED) == ["1", "2"]

    assert outbox.cancel_scheduled("1") is not None
    assert outbox.begin("1", [Recipient(1)]) is None, "a cancelled announcement never starts"
    assert outbox.begin("2", [Recipient(1), Recipient(2)]) is not None
    assert outbox.begin("2", [Recipient(3)]) is None, "recipients are frozen once"
    assert outbox.cancel_scheduled("2") is None
    assert [d["id"] for d in outbox.history()] == ["2", "1"]
    assert [d["id"] for d in outbox.history(states=[RUNNING])] == ["2"]
    assert outbox.get("2")["figures"]["total"] == 2  # type: ignore[index]
    outbox.set_report("2", 900, 77)
    assert outbox.get("2")["report"] == {"chat_id": 900, "message_id": 77}  # type: ignore[index]
    with pytest.raises(LookupError):
        outbox.resume("1")


def test_audiences(store_backend: Backend) -> None:
    with store_backend.open() as stores:
        for user in (1, 2, 3):
            stores.subscribers.subscribe(user, user, source="test")
        stores.subscribers.unsubscribe(2)
        stores.users.set_language(3, "en")
        assert resolve_audience(stores, Audience("subscribers")) == [
            Recipient(1, "id"),
            Recipient(3, "en"),
        ]
        base = {
            "full_name": "Siti",
            "phone": "+6281234567890",
            "kelurahan": "karundang",
            "programmes": ["korea_work"],
        }
        stores.registrations.save(
            2, 2, {**base, "nik": "3673014101990001", "kecamatan": "serang"}, actor=2
        )
        stores.registrations.save(
            4, 4, {**base, "nik": "3673014101990002", "kecamatan": "serang"}, actor=4
        )
        stores.registrations.save(
            5, 5, {**base, "nik": "3673014101990003", "kecamatan": "kasemen"}, actor=5
        )
        reg5 = stores.registrations.get_by_user(5)
        assert reg5 is not None
        stores.registrations.set_status(reg5["reg_no"], "tidak_lanjut", actor=9, reason="pindah")

        chats = [r.chat_id for r in resolve_audience(stores, Audience("registered"))]
        assert chats == [4], "2 unsubscribed (opt-out wins), 5 is closed"
        by_kecamatan = resolve_audience(stores, Audience("kecamatan", "serang"))
        assert [r.chat_id for r in by_kecamatan] == [4]
        closed = resolve_audience(stores, Audience("status", "tidak_lanjut"))
        assert [r.chat_id for r in closed] == [5]
        assert resolve_audience(stores, Audience("programme", "japan_work")) == []

    with pytest.raises(ValueError):
        Audience("everyone")
    with pytest.raises(ValueError):
        Audience("outcome")
    with pytest.raises(ValueError):
        Pace(rate_per_second=31)


def test_parse_local_time() -> None:
    assert parse_local_time("28-11-2026 09:00", WIB) == datetime(2026, 11, 28, 9, 0, tzinfo=WIB)
    assert parse_local_time(" 1-2-2027 7.30 ", WIB) == datetime(2027, 2, 1, 7, 30, tzinfo=WIB)
    for bad in ("31-02-2026 09:00", "2026-11-28 09:00", "28-11-2026", "besok", "28-11-2026 25:00"):
        assert parse_local_time(bad, WIB) is None
