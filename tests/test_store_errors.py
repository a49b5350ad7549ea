"""A data directory that cannot be used stops start-up with one line (file, problem, fix) and an
exit code per kind, no traceback, nothing overwritten; a failed compaction leaves no temp file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import Database, StoreCorruptError, Stores, fs
from store.errors import (
    EXIT_CORRUPT,
    EXIT_NOT_A_FILE,
    EXIT_PERMISSION,
    StoreNotAFileError,
    StorePermissionError,
)

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534


def run_bot(
    data_dir: Path, *args: str, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environ.update(BOT_DATA_DIR=str(data_dir), HOME=str(data_dir.parent))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input="/start\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error line; asserts it is alone on stderr and there is no traceback."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def registered(data_dir: Path, count: int = 3) -> None:
    with Stores.open(data_dir) as stores:
        for uid in range(1, count + 1):
            data = {"full_name": f"Warga {uid}", "nik": f"36730141019900{uid:02d}"}
            stores.registrations.save(uid, uid, data, actor=uid)


@pytest.mark.parametrize("command", ["chat", "purge", "stats"])
def test_flipped_byte_in_the_last_line_refuses_to_start_and_keeps_the_data(
    tmp_path: Path, command: str
) -> None:
    data_dir = tmp_path / "data"
    registered(data_dir)
    journal = data_dir / "registrations.journal"
    raw = journal.read_bytes()
    last_start = raw.rindex(b"\n", 0, len(raw) - 1) + 1
    damaged = raw[:-10] + bytes([raw[-10] ^ 0x01]) + raw[-9:]
    journal.write_bytes(damaged)

    result = run_bot(data_dir, command)

    assert result.returncode == EXIT_CORRUPT
    line = one_line(result)
    assert line.startswith(f"{journal}: line 3: byte {last_start}: ")
    assert "not an interrupted write" in line and "backup" in line
    assert journal.read_bytes() == damaged  # the acknowledged registration's bytes are all there
    assert (data_dir / "registrations.journal.damaged").read_bytes() == damaged
    assert b"Warga 3" in damaged


def test_directory_where_a_journal_should_be(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "screenings.journal").mkdir(parents=True)
    with pytest.raises(StoreNotAFileError) as caught:
        Stores.open(data_dir)
    assert str(caught.value).startswith(f"{data_dir / 'screenings.journal'}: this is a directory")
    assert "Move or remove it" in str(caught.value)
    result = run_bot(data_dir, "purge")
    assert result.returncode == EXIT_NOT_A_FILE
    assert one_line(result) == str(caught.value)


def test_directory_where_a_snapshot_should_be(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "kv.json").mkdir(parents=True)
    with pytest.raises(StoreNotAFileError, match=r"kv\.json: this is a directory"):
        Stores.open(data_dir)


def test_data_directory_that_is_a_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("not a directory")
    with pytest.raises(StoreNotAFileError) as caught:
        Stores.open(data_dir)
    assert caught.value.exit_code == EXIT_NOT_A_FILE
    assert "a file where the data directory should be" in str(caught.value)
    assert "BOT_DATA_DIR" in caught.value.message("id")
    result = run_bot(data_dir, "stats")
    assert result.returncode == EXIT_NOT_A_FILE
    assert one_line(result) == str(caught.value)
    assert data_dir.read_text() == "not a directory"


def test_journal_of_another_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    registered(data_dir, 1)
    journal = data_dir / "registrations.journal"
    before = journal.read_bytes()
    real_uid = os.geteuid()
    # The files are now someone else's: the bot runs as another uid than their owner.
    monkeypatch.setattr(os, "stat", _owned_by(os.stat, journal, real_uid + 1))
    monkeypatch.setattr(os, "fstat", _fd_owned_by(os.fstat, journal, real_uid + 1))
    with pytest.raises(StorePermissionError) as caught:
        Stores.open(data_dir)
    message = str(caught.value)
    assert message.startswith(f"{journal}: the bot may not read or write it (owner uid ")
    assert f"the bot runs as uid {real_uid}" in message and f"chown {real_uid} " in message
    assert caught.value.exit_code == EXIT_PERMISSION
    assert journal.read_bytes() == before


def _owned_by(real_stat, path: Path, uid: int):  # type: ignore[no-untyped-def]
    def fake(target, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_stat(target, *args, **kwargs)
        if Path(target) == path:
            fields = list(result)
            fields[4] = uid  # st_uid
            return os.stat_result(fields)
        return result

    return fake


def _fd_owned_by(real_fstat, path: Path, uid: int):  # type: ignore[no-untyped-def]
    def fake(fd: int):  # type: ignore[no-untyped-def]
        result = real_fstat(fd)
        if (result.st_dev, result.st_ino) == (path.stat().st_dev, path.stat().st_ino):
            fields = list(result)
            fields[4] = uid
            return os.stat_result(fields)
        return result

    return fake


def test_journal_with_mode_000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    registered(data_dir, 1)
    journal = data_dir / "registrations.journal"
    os.chmod(journal, 0)
    if os.geteuid() == 0:  # root reads any file: do what the kernel does for the bot's user
        real_open = os.open

        def unprivileged_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
            if os.path.exists(path) and not os.stat(path).st_mode & 0o600:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", unprivileged_open)
    with pytest.raises(StorePermissionError) as caught:
        Stores.open(data_dir)
    message = str(caught.value)
    assert message.startswith(f"{journal}: the bot may not read or write it (owner uid ")
    assert "mode 0000" in message and "chmod 600" in message
    assert caught.value.exit_code == EXIT_PERMISSION
    assert os.stat(journal).st_mode & 0o777 == 0


def test_foreign_journal_exits_with_the_permission_code(tmp_path: Path) -> None:
    """Through the command line: a journal of another owner (as root), or mode 000."""
    data_dir = tmp_path / "data"
    registered(data_dir, 1)
    journal = data_dir / "registrations.journal"
    if os.geteuid() == 0:
        os.chown(journal, NOBODY, NOBODY)
    else:
        os.chmod(journal, 0)
    result = run_bot(data_dir, "purge")
    assert result.returncode == EXIT_PERMISSION, result.stderr
    line = one_line(result)
    assert line.startswith(f"{journal}: the bot may not read or write it (owner uid ")
    assert f"the bot runs as uid {os.geteuid()}" in line


def test_failed_compaction_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(tmp_path / "data", "things")
    for n in range(5):
        db.table("t").put(str(n), {"n": n})
    real = fs.write_all

    def disk_full(fd: int, data: bytes) -> None:
        if data.startswith(b'{"format"'):
            real(fd, data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(fs, "write_all", disk_full)
    with pytest.raises(OSError, match="No space"):
        db.compact()
    assert not fs.temp_path(db.snapshot_path).exists()
    db.table("t").put("5", {"n": 5})  # writes go on, into the new journal
    monkeypatch.undo()
    db.close()
    db = Database(tmp_path / "data", "things")  # the switched-out journal is replayed
    assert db.table("t").keys() == ["0", "1", "2", "3", "4", "5"]
    db.compact()
    assert sorted(p.name for p in db.directory.iterdir()) == ["things.journal", "things.json"]
    db.close()


def test_failed_background_compaction_is_logged_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(tmp_path / "data", "busy", compact_min_bytes=500)
    real = fs.write_all

    def disk_full(fd: int, data: bytes) -> None:
        if data.startswith(b'{"format"'):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(fs, "write_all", disk_full)
    for n in range(40):
        db.table("t").put(str(n), {"n": n, "pad": "x" * 40})  # crosses the threshold
    db.close()  # waits for the background compaction
    assert "compaction failed" in caplog.text
    assert not fs.temp_path(db.snapshot_path).exists()
    monkeypatch.undo()
    db = Database(tmp_path / "data", "busy")
    assert len(db.table("t")) == 40
    db.close()


def test_corrupt_error_names_the_byte_offset_of_a_damaged_middle_line(tmp_path: Path) -> None:
    db = Database(tmp_path / "data", "things")
    for n in range(3):
        db.table("t").put(str(n), {"v": n})
    db.close()
    lines = db.journal_path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"v":1', b'"v":7')
    db.journal_path.write_bytes(b"\n".join(lines))
    with pytest.raises(StoreCorruptError) as caught:
        Database(db.directory, db.name)
    assert str(caught.value).startswith(f"{db.journal_path}: line 2: byte {len(lines[0]) + 1}: ")
