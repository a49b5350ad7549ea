"""The webhook inbox (store/inbox.py): durable before the answer, de-duplicated by update_id,
payloads gone once handled, erased with their user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import Stores


def update(update_id: int, user_id: int, text: str) -> dict[str, object]:
    chat = {"id": user_id, "type": "private", "first_name": "Warga"}
    user = {"id": user_id, "is_bot": False, "first_name": "Warga"}
    message = {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": text}
    return {"update_id": update_id, "message": message}


def test_put_is_durable_and_once_per_update_id(tmp_path: Path) -> None:
    with Stores.open(tmp_path) as stores:
        inbox = stores.inbox
        assert inbox.put(12, update(12, 1, "b"), kind="message", user_id=1)
        assert inbox.put(11, update(11, 1, "a"), kind="message", user_id=1)
        assert not inbox.put(12, update(12, 1, "b"), kind="message", user_id=1), "a duplicate"
        assert inbox.backlog() == 2
    with Stores.open(tmp_path) as stores:  # a new process: the inbox is opened with the rest
        pending = stores.inbox.pending()
        assert [item.update_id for item in pending] == [11, 12], "oldest first"
        assert pending[0].update["message"]["text"] == "a"  # type: ignore[index]
        stores.inbox.mark_done(11)
        assert not stores.inbox.put(11, update(11, 1, "a"), kind="message", user_id=1)
        assert [item.update_id for item in stores.inbox.pending()] == [12]
        assert stores.inbox.backlog() == 1
        stores.inbox.mark_done(11)  # twice: no change
        assert stores.inbox.is_done(11) and not stores.inbox.is_done(12)


def test_handled_payloads_leave_the_disk_and_old_ids_are_forgotten(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    with Stores.open(tmp_path, clock=lambda: now[0]) as stores:
        stores.inbox.put(1, update(1, 7, "rahasia-satu"), kind="message", user_id=7)
        stores.inbox.mark_done(1)
        stores.inbox.compact()
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("inbox"))
        assert b"rahasia-satu" not in files
        now[0] += timedelta(days=2)
        stores.inbox.put(2, update(2, 7, "dua"), kind="message", user_id=7)
        stores.inbox.mark_done(2)
        assert stores.inbox.prune() == 1, "done more than a day ago"
        assert len(stores.inbox) == 1 and stores.inbox.is_done(2)


def test_an_erasure_covers_the_inbox(tmp_path: Path) -> None:
    with Stores.open(tmp_path) as stores:
        stores.inbox.put(1, update(1, 7, "nik 3673014101990001"), kind="message", user_id=7)
        stores.inbox.put(2, update(2, 8, "orang lain"), kind="message", user_id=8)
        counts = stores.delete_user(7)
        assert counts["inbox"] == 1
        assert [item.update_id for item in stores.inbox.pending()] == [2]
        assert not stores.inbox.put(1, update(1, 7, "x"), kind="message", user_id=7)
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert b"3673014101990001" not in files, "physically erased"
