"""The PostgreSQL backups of docs/DEPLOY.md, on real servers: the daily logical backup
(``python -m bot pg-backup``: ``pg_dump -Fc``, read back, the last N kept; restored with
``pg_restore`` into a new database and checked with ``migrate --status`` and ``pg-verify``),
and point-in-time recovery (WAL archiving, ``pg_basebackup``, ``restore_command`` with a
named restore point and with a time) in a cluster of its own, started as pgcluster starts
one. The documents are written and read back through the bot's own stores."""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from bot import cli
from store import Stores
from store.pg import migrate
from tests import pgcluster
from tests.backends import PgServer
from tests.harness import REPO

Contents = dict[str, dict[str, list[tuple[str, dict[str, object]]]]]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_CONFIG", str(REPO / "config.yaml"))
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("BOT_DATABASE_URL", raising=False)


def citizen(user: int) -> dict[str, object]:
    return {
        "full_name": f"Warga {user}",
        "nik": f"36730141019{user:05d}",
        "phone": f"+62812345{user:05d}",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "programmes": ["korea_work"],
    }


def contents(stores: Stores) -> Contents:
    return {
        name: {table: db.table(table).items() for table in db.table_names()}
        for name, db in stores.databases.items()
        if db.table_names()
    }


def write(stores: Stores, users: range, tag: str) -> None:
    """Registrations, a status change, a subscriber and kv entries for ``users``."""
    for user in users:
        record, _ = stores.registrations.save(user, user, citizen(user), actor=user)
        stores.subscribers.subscribe(user, user, source="start")
        stores.kv.put("conversations:registration", f"[{user}, {user}]", {"step": tag})
    stores.registrations.set_status(record["reg_no"], "dihubungi", actor=42)
    stores.kv.put("teaching", f"status-{tag}", {"text": f"Pendaftaran {tag} dibuka"})


def kept(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def restore_into(pg_server: PgServer, dump: Path) -> str:
    """As docs/DEPLOY.md says: a new, empty database owned by an ordinary role (not a
    superuser, like the bot's own), ``pg_restore --no-owner`` into it as that role; its URL.
    (On a BOT_TEST_DATABASE_URL server: that URL's role.)"""
    name = f"serang_pulih_{os.getpid()}_{time.monotonic_ns()}"
    url = pg_server.server.url(name)
    with pg_server.admin() as conn:
        owner = sql.SQL("CURRENT_USER")
        if pg_server.server.directory is not None:  # our own cluster: an ordinary role
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'pulih'").fetchone() is None:
                conn.execute("CREATE ROLE pulih LOGIN NOSUPERUSER NOCREATEDB")
            owner = sql.Identifier("pulih")
            url = url.replace("postgresql://serang@", "postgresql://pulih@", 1)
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), owner))
    done = subprocess.run(
        [cli._pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", url, str(dump)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return url


# -- the daily logical backup ----------------------------------------------------------------


def test_pg_backup_dumps_reads_back_keeps_the_last_and_restores_the_same_documents(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with Stores.open(data_dir, database_url=pg_url) as stores:
        write(stores, range(1, 13), "a")
        stores.audit.record(42, "export", None, {"rows": 12})
        before = contents(stores)
    assert len(before["registrations"]["registrations"]) == 12

    backups = tmp_path / "pg-backups"
    backups.mkdir(mode=0o700)
    older = ["serang-bot-20260101T013000Z", "serang-bot-20260102T013000Z"]
    for name in older:  # yesterday's dumps: only the newest --keep stay
        (backups / f"{name}.dump").write_bytes(b"old")
        (backups / f"{name}.json").write_text("{}")
    (backups / "README").write_text("not a dump")
    (backups / ".serang-bot-20260102T013000Z.partial").write_bytes(b"killed midway")

    started = time.perf_counter()
    code, out, err = run_cli("pg-backup", str(backups), "--keep", "2", "--database-url", pg_url)
    seconds = time.perf_counter() - started
    assert (code, err) == (0, ""), err
    assert "read back ok" in out and "2 dump(s) kept, at most 2" in out and seconds < 20
    dumps = sorted(backups.glob("serang-bot-*.dump"))
    assert len(dumps) == 2 and dumps[0].stem == older[1]
    dump = dumps[1]
    assert kept(backups) == sorted(
        ["README", f"{older[1]}.dump", f"{older[1]}.json", dump.name, f"{dump.stem}.json"]
    )
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(dump.with_suffix(".json").stat().st_mode) == 0o600
    manifest = json.loads(dump.with_suffix(".json").read_text())
    assert manifest["counts"]["registrations/registrations"] == 12
    assert manifest["counts"] == {
        f"{name}/{table}": len(items)
        for name, tables in before.items()
        for table, items in tables.items()
        if items
    }
    assert "TABLE DATA public docs" in (cli._pg_list(dump) or "")

    with Stores.open(data_dir, database_url=pg_url) as stores:  # after the dump: not in it
        write(stores, range(13, 15), "b")

    restored = restore_into(pg_server, dump)
    try:
        code, out, err = run_cli("migrate", "--status", "--database-url", restored)
        assert (code, err) == (0, "") and "schema version" in out
        code, out, err = run_cli("pg-verify", str(dump), "--database-url", restored)
        assert (code, err) == (0, ""), err
        assert "12 registrations" in out and "verified" in out
        with Stores.open(data_dir, database_url=restored) as stores:
            assert contents(stores) == before  # every document, in the same order
            assert stores.registrations.get_by_nik("3673014101900005")["user_id"] == 5  # type: ignore[index]
            assert stores.kv.get("teaching", "status-a") == {"text": "Pendaftaran a dibuka"}
            assert stores.kv.get("teaching", "status-b") is None
            new, _ = stores.registrations.save(99, 99, citizen(99), actor=99)
            assert new["reg_no"].endswith("-000013")  # the numbering goes on from the dump
    finally:
        pg_server.drop(restored)

    # the source has moved on since the dump: pg-verify says which collections differ
    code, _, err = run_cli("pg-verify", str(dump), "--database-url", pg_url)
    assert code == 1 and "registrations/registrations: 12 in the dump, 14 here" in err

    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    shutil.copy(dump.with_suffix(".json"), damaged.with_suffix(".json"))
    code, _, err = run_cli("pg-verify", str(damaged), "--database-url", pg_url)
    assert code == 1 and "damaged" in err


def test_pg_backup_refuses_a_directory_others_can_read_a_dead_server_and_no_pg_dump(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    code, _, err = run_cli("pg-backup", str(open_dir), "--database-url", pg_url)
    assert code == 1 and "chmod 0700" in err and list(open_dir.iterdir()) == []

    new_dir = tmp_path / "new" / "pg-backups"  # created 0700 when missing
    nowhere = f"postgresql://serang:RAHASIA-123@/x?host={quote(str(tmp_path))}&port=1"
    code, _, err = run_cli("pg-backup", str(new_dir), "--database-url", nowhere)
    assert code == 7 and "RAHASIA" not in err
    assert stat.S_IMODE(new_dir.stat().st_mode) == 0o700 and list(new_dir.iterdir()) == []

    monkeypatch.setattr(cli, "_pg_tool", lambda name: str(tmp_path / "no" / name))
    code, _, err = run_cli("pg-backup", str(new_dir), "--database-url", pg_url)
    assert code == 1 and "postgresql-client" in err and list(new_dir.iterdir()) == []


# -- point-in-time recovery --------------------------------------------------------------------


class Cluster:
    """A cluster of this test's own: WAL archived into ``archive``, as docs/DEPLOY.md sets it."""

    def __init__(self, top: Path, run_as: dict[str, Any]) -> None:
        self.top = top
        self.run_as = run_as
        self.archive = top / "wal-archive"
        self.env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(top)}
        self.started: list[Path] = []

    def tool(self, name: str) -> str:
        """Beside the real ``initdb`` (a symlink on PATH may stand for initdb alone)."""
        return str((pgcluster.bindir() / "initdb").resolve().parent / name)

    def run(self, *command: str) -> None:
        pgcluster._run(list(command), self.run_as, self.env)

    def mkdir(self, path: Path) -> None:
        path.mkdir(mode=0o700)
        if self.run_as:
            os.chown(path, self.run_as["user"], self.run_as["group"])

    def start(self, data: Path, port: int, **settings: str) -> None:
        options = {
            "port": str(port),
            "listen_addresses": "",
            "unix_socket_directories": str(self.top),
            "fsync": "off",
            **settings,
        }
        line = " ".join(f"-c {name}='{value}'" for name, value in options.items())
        log = f"{data}.log"
        self.started.append(data)
        self.run(self.tool("pg_ctl"), "-D", str(data), "-l", log, "-o", line, "-w", "start")

    def stop(self, data: Path, mode: str = "fast") -> None:
        self.run(self.tool("pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop")
        self.started.remove(data)

    def url(self, port: int, database: str) -> str:
        return f"postgresql://serang@/{database}?host={quote(str(self.top))}&port={port}"

    def close(self) -> None:
        for data in list(self.started):
            subprocess.run(
                [self.tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
                **self.run_as,
            )
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    top = Path(tempfile.mkdtemp(prefix="serang-pitr-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root, as in tests/pgcluster.py
        account = pwd.getpwnam("postgres")
        os.chown(top, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    found = Cluster(top, run_as)
    try:
        yield found
    finally:
        found.close()


def wait_until_promoted(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and not row[0]:
            return
        assert time.monotonic() < deadline, "the restored server never finished its recovery"
        time.sleep(0.1)


def test_point_in_time_recovery_from_a_base_backup_and_the_wal_archive(
    cluster: Cluster, tmp_path: Path
) -> None:
    started = time.perf_counter()
    primary = cluster.top / "primary"
    cluster.run(
        cluster.tool("initdb"), "-D", str(primary), "-U", "serang", "--auth=trust",
        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    )  # fmt: skip
    cluster.mkdir(cluster.archive)
    archive_command = f"test ! -f {cluster.archive}/%f && cp %p {cluster.archive}/%f"
    cluster.start(
        primary, 5432, wal_level="replica", archive_mode="on", archive_command=archive_command
    )
    with psycopg.connect(cluster.url(5432, "postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE serang")
    url = cluster.url(5432, "serang")
    migrate(url)
    data_dir = tmp_path / "data"
    with Stores.open(data_dir, database_url=url) as stores:
        write(stores, range(1, 4), "0")  # before the base backup

    base = cluster.top / "base"
    cluster.run(
        cluster.tool("pg_basebackup"), "-d", f"host={cluster.top} port=5432 user=serang",
        "-D", str(base), "-Fp", "-X", "stream", "-c", "fast",
    )  # fmt: skip

    with Stores.open(data_dir, database_url=url) as stores:
        write(stores, range(4, 8), "a")  # set A: after the base backup, in the WAL only
        wanted = contents(stores)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_create_restore_point('sebelum-b')")
        time.sleep(0.05)  # the clock moves on: commits of set B are later than this time
        row = conn.execute("SELECT clock_timestamp()::text").fetchone()
        assert row is not None
        point_in_time = row[0]
        time.sleep(0.05)
    with Stores.open(data_dir, database_url=url) as stores:
        write(stores, range(8, 12), "b")  # set B: the mistake to go back before
        assert len(stores.registrations) == 11
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        last = row[0]
        deadline = time.monotonic() + 20
        while not (cluster.archive / last).exists():  # archived: the primary may be lost now
            assert time.monotonic() < deadline, f"{last} was never archived"
            time.sleep(0.05)
    cluster.stop(primary, "immediate")  # the machine is gone; the archive and base remain

    restore_command = f"cp {cluster.archive}/%f %p"
    targets = {
        "recovery_target_name": "sebelum-b",
        "recovery_target_time": point_in_time,
        "": "",  # no target: the whole archive, set B too (so the archive does hold it)
    }
    for port, (setting, value) in enumerate(targets.items(), start=5433):
        restored = cluster.top / f"restored-{port}"
        shutil.copytree(base, restored)  # a fresh copy of the base backup each time
        if cluster.run_as:
            for path in [restored, *restored.rglob("*")]:
                os.lchown(path, cluster.run_as["user"], cluster.run_as["group"])
        with (restored / "postgresql.conf").open("a") as conf:
            conf.write(f"restore_command = '{restore_command}'\n")
            if setting:
                conf.write(f"{setting} = '{value}'\nrecovery_target_action = 'promote'\n")
        (restored / "recovery.signal").touch()
        if cluster.run_as:
            os.chown(restored / "recovery.signal", cluster.run_as["user"], cluster.run_as["group"])
        cluster.start(restored, port, archive_mode="off")
        restored_url = cluster.url(port, "serang")
        wait_until_promoted(restored_url)
        assert not (restored / "recovery.signal").exists(), setting  # recovery is over
        with Stores.open(data_dir, database_url=restored_url) as stores:
            if not setting:
                assert len(stores.registrations) == 11
                assert stores.kv.get("teaching", "status-b") == {"text": "Pendaftaran b dibuka"}
                cluster.stop(restored)
                continue
            assert contents(stores) == wanted, setting  # set 0 and set A, exactly
            assert len(stores.registrations) == 7
            assert stores.kv.get("teaching", "status-a") == {"text": "Pendaftaran a dibuka"}
            assert stores.kv.get("teaching", "status-b") is None
            assert stores.registrations.get_by_nik(str(citizen(8)["nik"])) is None
            new, _ = stores.registrations.save(8, 8, citizen(8), actor=8)  # writable again
            assert new["reg_no"].endswith("-000008")
        cluster.stop(restored)
    assert time.perf_counter() - started < 60


def test_the_systemd_unit_runs_pg_backup_into_the_directory_it_may_write() -> None:
    unit = (REPO / "deploy" / "serang-bot-pg-backup.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    argv = settings["ExecStart"].split()
    assert argv[:3] == ["/opt/serang-bot/.venv/bin/python", "-m", "bot"]
    args = cli.build_parser().parse_args(argv[3:])
    assert args.func is cli.cmd_pg_backup and args.keep == 14
    assert Path(args.directory).is_relative_to(settings["ReadWritePaths"])
    assert settings["UMask"] == "0077" and settings["User"] == "serangbot"
    timer = (REPO / "deploy" / "serang-bot-pg-backup.timer").read_text()
    assert "OnCalendar=*-*-* 01:15:00" in timer and "Persistent=true" in timer
