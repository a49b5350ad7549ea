"""The shared inbox on PostgreSQL (``store/pg_inbox.py``) as several workers use it: stored once
fleet-wide, each update claimed by one worker only, one chat's updates one at a time and in
order, a dead claimer's lease running out; and the instance lock that lets webhook workers
share a database while a polling bot or a CLI keeps it to itself."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Stores
from store.errors import DatabaseLockedError
from store.inbox import NewUpdate
from store.pg_inbox import PgInbox


@pytest.fixture
def fleet(pg_url: str, tmp_path: Path) -> Iterator[list[Stores]]:
    """Two workers' stores on one database (each as its own process would open them)."""
    opened = [Stores.open(tmp_path / f"w{n}", database_url=pg_url, shared=True) for n in range(2)]
    try:
        yield opened
    finally:
        for stores in opened:
            stores.close()


def inbox(stores: Stores) -> PgInbox:
    found = stores.inbox
    assert isinstance(found, PgInbox)
    return found


def update(update_id: int, chat: int) -> NewUpdate:
    payload = {"update_id": update_id, "message": {"chat": {"id": chat}, "text": str(update_id)}}
    return NewUpdate(update_id, payload, "message", chat, chat)


def test_a_duplicate_is_dropped_fleet_wide(fleet: list[Stores]) -> None:
    first, second = (inbox(s) for s in fleet)
    assert first.put_many([update(1, 10), update(2, 11), update(1, 10)]) == [True, True, False]
    assert second.put_many([update(2, 11), update(3, 12)]) == [False, True]
    first.mark_done(2)
    assert second.put_many([update(2, 11)]) == [False], "a done update is still known"
    assert second.backlog() == 2 and len(first) == 3


def test_one_chats_updates_are_handed_out_one_at_a_time_in_order(fleet: list[Stores]) -> None:
    first, second = (inbox(s) for s in fleet)
    first.put_many([update(n, 10) for n in (5, 6, 7)] + [update(8, 20)])
    claimed = first.claim("a")
    assert [c.update_id for c in claimed] == [5, 8], "the oldest of each chat only"
    assert second.claim("b") == [], "the chat's next update waits for the one before"
    first.mark_done_many([5])
    assert [c.update_id for c in second.claim("b")] == [6]
    assert first.claim("a") == []
    second.mark_done(6)
    assert [c.update_id for c in first.claim("a")] == [7]


def test_two_claimers_never_get_the_same_update(fleet: list[Stores]) -> None:
    """Two workers claim and finish 400 updates of 40 chats as fast as they can: every update
    is processed once, and one chat's updates strictly one after another, in order."""
    first, second = (inbox(s) for s in fleet)
    first.put_many([update(n, 100 + n % 40) for n in range(1, 401)])
    processed: list[tuple[int, str]] = []
    spans: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(box: PgInbox, name: str) -> None:
        try:
            idle = 0
            while idle < 3:
                claimed = box.claim(name, limit=8)
                if not claimed:
                    idle += 1
                    time.sleep(0.01)
                    continue
                idle = 0
                for item in claimed:
                    started = time.monotonic()
                    time.sleep(0.0005)  # "processing"
                    with lock:
                        processed.append((item.update_id, name))
                        chat = item.update["message"]["chat"]["id"]
                        spans[chat].append((started, time.monotonic(), item.update_id))
                    box.mark_done(item.update_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(box, name))
        for box, name in ((first, "a"), (second, "b"), (first, "c"), (second, "d"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    ids = [update_id for update_id, _ in processed]
    assert sorted(ids) == list(range(1, 401)), "every update once, none twice"
    assert len({name for _, name in processed}) > 1, "both workers took part"
    for chat, chat_spans in spans.items():
        chat_spans.sort()
        assert [s[2] for s in chat_spans] == sorted(s[2] for s in chat_spans), chat
        for (_, end, _), (start, _, _) in itertools.pairwise(chat_spans):
            assert start >= end, f"chat {chat}: two of its updates ran at once"
    assert first.backlog() == 0


def test_a_dead_claimers_lease_runs_out_and_the_update_starts_from_its_first_state(
    fleet: list[Stores],
) -> None:
    first, second = (inbox(s) for s in fleet)
    first.lease_seconds = second.lease_seconds = 0.5
    first.put_many([update(1, 10), update(2, 10)])
    [claimed] = first.claim("dead")
    first.save_before(1, {"user": {"flow": {"name": "registration", "state": {"step": "nik"}}}})
    first.save_before(1, {"user": "overwritten?"})  # the first attempt's state is kept
    assert second.claim("alive") == [], "leased: not claimable"
    assert second.renew("alive", [1]) == 0, "only the holder renews"
    time.sleep(0.7)
    [again] = second.claim("alive")
    assert (again.update_id, again.attempts) == (1, 2)
    assert again.before == {"user": {"flow": {"name": "registration", "state": {"step": "nik"}}}}
    assert first.renew("dead", [1]) == 0, "the dead claimer's lease is gone"
    assert second.renew("alive", [1]) == 1
    second.mark_done(1)
    assert [c.update_id for c in first.claim("dead")] == [2]
    assert claimed.attempts == 1


def test_given_back_updates_are_claimable_at_once(fleet: list[Stores]) -> None:
    first, second = (inbox(s) for s in fleet)
    first.put_many([update(1, 10)])
    assert [c.update_id for c in first.claim("a")] == [1]
    assert first.release("a", [1]) == 1
    assert [c.update_id for c in second.claim("b")] == [1]


def test_an_erased_users_pending_updates_lose_their_payload(fleet: list[Stores]) -> None:
    first, _ = fleet
    box = inbox(first)
    box.put_many([update(1, 10), update(2, 11)])
    counts = first.delete_user(10)
    assert counts["inbox"] == 1
    assert [item.update_id for item in box.pending()] == [2]


def test_workers_share_the_database_a_polling_bot_or_the_cli_does_not(
    pg_url: str, tmp_path: Path
) -> None:
    with (
        Stores.open(tmp_path / "a", database_url=pg_url, shared=True) as one,
        Stores.open(tmp_path / "b", database_url=pg_url, shared=True) as two,
    ):
        assert one.shared and two.shared
        with pytest.raises(DatabaseLockedError):
            Stores.open(tmp_path / "c", database_url=pg_url)  # a poller, a CLI command
    with Stores.open(tmp_path / "c", database_url=pg_url) as alone:
        assert not alone.shared
        with pytest.raises(DatabaseLockedError):
            Stores.open(tmp_path / "a", database_url=pg_url, shared=True)


def test_the_heartbeat_counts_live_workers_and_names_the_leader(fleet: list[Stores]) -> None:
    first, second = (s.workers for s in fleet)
    first.beat("a")
    second.beat("b", leads=True)
    assert first.live(5.0) == 2 and first.leader(5.0) == "b"
    second.leave("b")
    assert first.live(5.0) == 1 and first.leader(5.0) is None
