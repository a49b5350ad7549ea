"""`python -m bot backup` / `restore`: a backup taken while the bot writes (and compacts) is one
consistent state; a restore verifies the archive first, refuses while a bot runs on the data
directory, keeps the previous files, and the restored store opens with the same counts."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from store import StoreLockedError, Stores
from store.backup import RESTORE_MARKER, read_store, restore_backup, verify_backup, write_backup
from store.errors import BackupInvalidError, RestoreUnfinishedError
from tests.harness import REPO


def new_data(n: int) -> dict[str, object]:
    """What the bot saves for a new citizen (made-up numbers)."""
    return {
        "full_name": f"Warga Kota Serang {n}",
        "nik": f"3673{n:012d}",
        "phone": f"+628{n:010d}",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "domicile_confirmed": True,
        "programmes": ["korea_work"],
        "training_willing": True,
        "email": None,
        "screening": None,
    }


def run_bot(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_CONFIG": str(REPO / "config.yaml"),
    }
    environ.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def fill(data_dir: Path, count: int) -> None:
    with Stores.open(data_dir) as stores:
        for n in range(1, count + 1):
            stores.registrations.save(10_000_000 + n, 10_000_000 + n, new_data(n), actor=0)
        stores.subscribers.subscribe(5, 5, source="test")


def test_backup_while_writing_is_one_consistent_state(tmp_path: Path) -> None:
    data_dir, archive = tmp_path / "data", tmp_path / "backup.tar.gz"
    # the "bot": holds the locks, writes registrations back to back, compacts often
    stores = Stores.open(data_dir, compact_min_bytes=64 * 1024)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            stores.registrations.save(10_000_000 + n, 10_000_000 + n, new_data(n), actor=0)
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 200:  # some data, several compactions behind
            time.sleep(0.01)
        result = run_bot("backup", str(archive), data_dir=data_dir)
    finally:
        stop.set()
        thread.join()
        stores.close()
    assert result.returncode == 0, result.stderr
    assert archive.stat().st_mode & 0o777 == 0o600
    manifest, _ = verify_backup(archive)
    count = manifest.counts()["registrations"]["registrations"]
    assert 200 <= count <= len(written)

    restored = tmp_path / "restored"
    result = run_bot("restore", str(archive), data_dir=restored)
    assert result.returncode == 0, result.stderr
    assert "counts verified" in result.stdout
    with Stores.open(restored) as again:
        numbers = sorted(r["reg_no"] for r in again.registrations.iter_all())
        # one state of a sequential writer: exactly the first `count` registrations, whole
        assert numbers == [f"SRG-2026-{n:06d}" for n in range(1, count + 1)]
        assert len(again.registrations) == count
        assert again.registrations.get_by_user(10_000_001)["nik"] == new_data(1)["nik"]


def test_restore_replaces_the_data_and_keeps_the_previous_files(tmp_path: Path) -> None:
    source, target, archive = tmp_path / "a", tmp_path / "b", tmp_path / "x.tar.gz"
    fill(source, 30)
    write_backup(source, archive)
    fill(target, 5)  # other data, to be replaced
    with Stores.open(target) as stores:
        stores.database("extra").table("t").put("k", {"v": 1})  # a store not in the backup
    manifest, aside = restore_backup(archive, target)
    assert aside is not None and aside.parent == target and aside.stat().st_mode & 0o777 == 0o700
    assert read_store(aside.parent / aside.name, "registrations")["registrations"]
    with Stores.open(target) as stores:
        assert len(stores.registrations) == 30
        assert stores.subscribers.count_active() == 1
        assert len(stores.database("extra").table("t")) == 0, "not in the backup: empty now"
    assert manifest.counts()["registrations"]["registrations"] == 30


def test_restore_refuses_while_the_bot_runs(tmp_path: Path) -> None:
    source, target, archive = tmp_path / "a", tmp_path / "b", tmp_path / "x.tar.gz"
    fill(source, 3)
    write_backup(source, archive)
    fill(target, 7)
    with Stores.open(target):  # the running bot
        result = run_bot("restore", str(archive), data_dir=target)
        assert result.returncode == 4, result.stderr
        assert "in use by another process" in result.stderr
    with Stores.open(target) as stores:
        assert len(stores.registrations) == 7, "untouched"
    assert not (target / RESTORE_MARKER).exists()


def test_a_damaged_archive_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    source, target, archive = tmp_path / "a", tmp_path / "b", tmp_path / "x.tar.gz"
    fill(source, 3)
    fill(target, 7)
    write_backup(source, archive)
    # change one document but keep the archive well-formed: only the checksum can tell
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(bad, "w:gz") as out:
        for member in tar:
            handle = tar.extractfile(member)
            assert handle is not None
            payload = handle.read()
            if member.name == "stores/registrations.json":
                payload = payload.replace(b"Warga Kota Serang 2", b"Warga Kota Serang 9")
            member.size = len(payload)
            out.addfile(member, io.BytesIO(payload))
    with pytest.raises(BackupInvalidError, match="checksum"):
        restore_backup(bad, target)
    (tmp_path / "junk.tar.gz").write_bytes(gzip.compress(b"not a tar"))
    result = run_bot("restore", str(tmp_path / "junk.tar.gz"), data_dir=target)
    assert result.returncode == 3 and "not an intact backup" in result.stderr
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(BackupInvalidError):
        verify_backup(truncated)
    with Stores.open(target) as stores:
        assert len(stores.registrations) == 7


def test_an_interrupted_restore_is_finished_before_the_bot_may_start(tmp_path: Path) -> None:
    source, target, archive = tmp_path / "a", tmp_path / "b", tmp_path / "x.tar.gz"
    fill(source, 4)
    write_backup(source, archive)
    fill(target, 2)
    (target / RESTORE_MARKER).write_text("{}")  # as if killed in the middle
    with pytest.raises(RestoreUnfinishedError):
        Stores.open(target)
    restore_backup(archive, target)
    with Stores.open(target) as stores:
        assert len(stores.registrations) == 4


def test_backup_of_a_running_bot_needs_no_lock_and_changes_nothing(tmp_path: Path) -> None:
    data_dir, archive = tmp_path / "data", tmp_path / "x.tar.gz"
    fill(data_dir, 10)
    with Stores.open(data_dir) as stores:
        before = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
        write_backup(data_dir, archive)
        after = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
        assert before == after
        with pytest.raises(StoreLockedError):
            Stores.open(data_dir)
        assert len(stores.registrations) == 10


def test_updates_pending_at_backup_time_are_not_answered_again(tmp_path: Path) -> None:
    source, target, archive = tmp_path / "a", tmp_path / "b", tmp_path / "x.tar.gz"
    with Stores.open(source) as stores:
        stores.inbox.put(
            5, {"update_id": 5, "message": {"text": "halo"}}, kind="message", user_id=1
        )
        write_backup(source, archive)
    restore_backup(archive, target)
    with Stores.open(target) as stores:
        assert stores.inbox.pending() == [] and stores.inbox.is_done(5)
    assert b"halo" not in gzip.decompress(archive.read_bytes())
