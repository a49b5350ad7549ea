"""PostgreSQL only: the interface is complete, the schema has every index the repositories ask
for, migrations (``migrate``, the start-up check), ``copy-data``, physical erasure (no row
left), one process at a time, the store lock across connections, and the bot itself on
PostgreSQL (transcript tests of the registration and data-rights areas run here again).

The repository contract itself runs on both backends in ``tests/test_store_repos.py`` and
``tests/test_broadcast_core.py`` (the ``store_backend`` fixture)."""

from __future__ import annotations

import io
import threading
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import psycopg
import pytest

from bot import cli
from desk.broadcast import Outbox
from store import Collection, Database, Stores
from store.durable import Batch
from store.errors import (
    EXIT_LOCKED,
    EXIT_SCHEMA,
    DatabaseLockedError,
    StoreSchemaError,
    StoreUnreachableError,
)
from store.pg import (
    PgBackend,
    PgCollection,
    PgDatabase,
    check_schema,
    describe,
    latest_version,
    migrate,
    migrations,
    schema_version,
)
from store.registrations import RegistrationRepo
from tests import pgcluster
from tests.backends import Backend
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness, make_config
from tests.test_data_rights import (  # noqa: F401  (run again here, on PostgreSQL)
    test_delete_everything_then_nothing_is_left,
    test_my_data_shows_everything_masked,
)
from tests.test_registration import (  # noqa: F401  (run again here, on PostgreSQL)
    CITIZEN,
    NIK,
    register,
    stores_of,
    test_a_nik_of_another_account_is_refused_with_a_way_to_staff,
    test_full_registration,
    test_registering_again_updates_the_same_registration,
    test_the_flow_survives_a_restart,
)

NIK_A = "3673014101990001"
NIK_B = "3673014101990002"


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Backend:
    return Backend("postgresql", tmp_path / "data", pg_url)


@pytest.fixture
async def bot(emu: BotAPIEmulator, pg: Backend) -> AsyncIterator[BotHarness]:
    """The real bot on PostgreSQL (the tests imported above use this one)."""
    harness = BotHarness(emu, make_config(emu, pg.data_dir, **pg.env))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BOT_CONFIG", str(REPO / "config.yaml"))
    monkeypatch.setenv("BOT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("BOT_DATABASE_URL", raising=False)
    return data_dir


def citizen(nik: str, **fields: object) -> dict[str, object]:
    return {
        "full_name": "Siti Aminah",
        "nik": nik,
        "phone": "+6281234567890",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "programmes": ["korea_work"],
        **fields,
    }


# -- the interface -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("embedded", "postgres"), [(Database, PgDatabase), (Collection, PgCollection)]
)
def test_every_public_method_of_the_embedded_store_is_implemented(
    embedded: type, postgres: type
) -> None:
    """A method added to the embedded store must be written for PostgreSQL too: an inherited
    one would reach for the embedded store's files and memory."""
    public = {
        name
        for name in vars(embedded)
        if (not name.startswith("_") or name in ("__contains__", "__iter__", "__len__"))
        and (callable(getattr(embedded, name)) or isinstance(vars(embedded)[name], property))
    }
    assert public, embedded
    assert sorted(name for name in public if name not in vars(postgres)) == []


def test_every_index_the_repositories_ask_for_is_in_the_schema(pg: Backend) -> None:
    with pg.open() as stores:
        Outbox(stores.database("broadcasts"))
        backend = stores._backend
        assert backend is not None
        assert backend.indexed_fields >= {"user_id", "nik", "chat_id", "target"}
        assert backend.missing_indexes == set(), "add a migration with docs_by_<field>"


def test_an_indexed_lookup_uses_its_index(pg: Backend) -> None:
    with pg.open() as stores:
        stores.registrations.save(1, 1, citizen(NIK_A), actor=1)
        with psycopg.connect(pg.url or "", autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")  # a tiny table: ask whether it *can*
            plan = conn.execute(
                "EXPLAIN SELECT doc FROM docs WHERE store = 'registrations'"
                " AND coll = 'registrations' AND doc ? 'nik' AND doc -> 'nik' = '\"x\"'::jsonb"
            ).fetchall()
    assert "docs_by_nik" in " ".join(row[0] for row in plan)


def test_documents_round_trip_in_order_with_types_and_a_nul(pg: Backend) -> None:
    with pg.open() as stores:
        things = stores.database("things").table("things", indexes=("user_id",))
        doc = {"user_id": 7, "f": 0.1, "big": 2**62, "t": True, "n": None, "s": "é😀", "l": [1]}
        things.put("b", doc)
        things.put("a", {"user_id": "7"})
        things.put("c", {"text": "a\x00b"})
        things.put("b", {**doc, "f": 1.5})  # replaced: keeps its place
        assert things.keys() == ["b", "a", "c"]
        assert things.get("b") == {**doc, "f": 1.5}
        assert [d["user_id"] for d in things.find_by("user_id", 7)] == [7]  # not "7"
        assert things.find_by("user_id", True) == []  # as the embedded index
        assert things.get("c") == {"text": "a\ufffdb"}  # jsonb cannot hold U+0000
        with pytest.raises(ValueError):
            things.put("x", {"nan": float("nan")})
        assert things.delete("a") and not things.delete("a")
        things.put("a", {})
        assert things.keys() == ["b", "c", "a"]  # deleted and written again: at the end


# -- migrations and the start-up check --------------------------------------------------------


def test_migrations_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "init" and latest_version() == len(found)


def test_an_unmigrated_database_is_refused_then_migrate_applies_once(
    pg_empty_url: str, tmp_path: Path, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreSchemaError) as caught:
        Stores.open(tmp_path / "data", database_url=pg_empty_url)
    assert caught.value.exit_code == EXIT_SCHEMA == 9
    assert "python -m bot migrate" in str(caught.value)
    assert "Jalankan: python -m bot migrate" in caught.value.message("id")

    monkeypatch.setenv("BOT_DATABASE_URL", pg_empty_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")  # never reached: refused before
    code, _, err = run_cli("run")
    assert code == 9 and f"at version 0; this bot needs version {latest_version()}" in err
    assert run_cli("migrate", "--status")[0] == 9

    code, out, _ = run_cli("migrate")
    assert code == 0 and "applied 0001_init" in out
    code, out, _ = run_cli("migrate")  # nothing left to apply
    assert code == 0 and "applied" not in out and f"version {latest_version()}" in out
    code, out, _ = run_cli("migrate", "--status")
    assert code == 0 and f"schema version {latest_version()}, this bot needs" in out
    Stores.open(tmp_path / "data", database_url=pg_empty_url).close()


def test_a_schema_behind_or_ahead_of_the_code_is_refused(
    pg_empty_url: str, tmp_path: Path
) -> None:
    first = tmp_path / "migrations"
    first.mkdir()
    known = migrations()
    for migration in known:
        (first / migration.path.name).write_text(migration.text())
    latest = known[-1].version
    assert migrate(pg_empty_url, first) == (0, migrations(first))
    later = first / f"{latest + 1:04d}_more.sql"
    later.write_text("CREATE INDEX docs_by_email ON docs (store, coll, (doc -> 'email'));")
    behind = pytest.raises(
        StoreSchemaError, match=f"at version {latest}; this bot needs version {latest + 1}"
    )
    with psycopg.connect(pg_empty_url, autocommit=True) as conn, behind:
        check_schema(conn, describe(pg_empty_url), later.parent)
    before, applied = migrate(pg_empty_url, first)
    assert before == latest and [m.version for m in applied] == [latest + 1]
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:
        assert schema_version(conn) == latest + 1
    with pytest.raises(StoreSchemaError, match=f"newer than version {latest}"):
        Stores.open(tmp_path / "data", database_url=pg_empty_url)  # the code knows less


def test_a_broken_migration_leaves_nothing_half_done(pg_empty_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_init.sql").write_text("CREATE TABLE a (x int); SELECT * FROM nowhere;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate(pg_empty_url, directory)
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:
        assert schema_version(conn) == 0
        assert conn.execute("SELECT to_regclass('a')").fetchone() == (None,)


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://bot:s3cret-pw@/nowhere?host={tmp_path}&port=1"
    with pytest.raises(StoreUnreachableError) as caught:
        Stores.open(tmp_path / "data", database_url=url)
    assert "s3cret-pw" not in str(caught.value) and caught.value.exit_code == 7
    assert describe(url) == f"postgresql://bot@/nowhere?host={tmp_path}&port=1"


# -- one process, and the lock across connections -------------------------------------------


def test_a_second_process_on_the_database_is_refused(pg: Backend) -> None:
    with pg.open():
        with pytest.raises(DatabaseLockedError) as caught:
            pg.open()
        assert caught.value.exit_code == EXIT_LOCKED
    pg.open().close()  # released with the first


def test_read_check_writes_from_many_connections_never_interleave(pg: Backend) -> None:
    """Two backends are as two processes: registration numbers stay unique and gapless and
    one NIK is taken once, with every save racing on its own connection."""
    assert pg.url is not None
    pg.open().close()  # creates the stores
    backends = [PgBackend(pg.url, exclusive=False) for _ in range(2)]
    repos = [RegistrationRepo(PgDatabase(backend, "registrations")) for backend in backends]
    taken: list[int] = []
    errors: list[BaseException] = []

    def work(repo: RegistrationRepo, first: int) -> None:
        try:
            for user in range(first, first + 15):
                repo.save(user, user, citizen(f"36730141019{user:05d}"), actor=user)
                try:
                    repo.save(user, user, citizen(NIK_A), actor=user)
                    taken.append(user)
                except Exception as error:  # NikTakenError for every user but one
                    assert type(error).__name__ == "NikTakenError"
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(repo, first))
        for repo, first in zip(repos * 2, (1000, 2000, 3000, 4000), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(int(r["reg_no"][-6:]) for r in repos[0].iter_all())
    assert numbers == list(range(1, 61))
    assert len(taken) == 1 and repos[1].get_by_nik(NIK_A)["user_id"] == taken[0]  # type: ignore[index]
    for backend in backends:
        backend.close()


def test_a_failed_batch_changes_nothing(pg: Backend) -> None:
    with pg.open() as stores:
        database = stores.database("things")
        table = database.table("t")
        table.put("kept", {"v": 1})
        seq = database.seq
        batch = Batch()
        batch.put("t", "new", {"v": 2})
        batch.put("t", "kept", {"v": 3})
        batch.delete("t", "other")  # the puts above are sent before this delete
        batch._effects.append(("t", "bad", {"v": "\udc80"}))  # not encodable: the server refuses
        with pytest.raises(UnicodeEncodeError):
            database.commit(batch)
        assert table.items() == [("kept", {"v": 1})] and database.seq == seq


# -- erasure ---------------------------------------------------------------------------------


def rows_holding(url: str, needles: list[str]) -> list[tuple[str, str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT store, coll, key, doc::text FROM docs").fetchall()
    return [(s, c, k) for s, c, k, text in rows if any(n in text or n in k for n in needles)]


def test_delete_user_leaves_no_row_of_the_citizen(pg: Backend) -> None:
    assert pg.url is not None
    with pg.open() as stores:
        uid = 424242
        stores.registrations.save(uid, uid, citizen(NIK_A), actor=uid)
        stores.registrations.save(7, 7, citizen(NIK_B, full_name="Budi"), actor=7)
        stores.screenings.save(uid, {"tb": "no"}, {"eps_korea": "eligible"}, True)
        stores.consents.record(uid, "screening_health", "v1", True)
        stores.users.set_language(uid, "id")
        stores.subscribers.subscribe(uid, uid, source="start")
        stores.unanswered.log("Siti Aminah tanya", "id", user_id=uid)
        stores.kv.put("user_data", str(uid), {"draft": {"full_name": "Siti Aminah"}})
        ticket, _ = stores.handoff.open(uid, uid, None, "id")
        stores.handoff.link(-100, 5, ticket["id"])
        assert rows_holding(pg.url, [NIK_A, "Siti Aminah", str(uid)])

        counts = stores.delete_user(uid)
        assert counts["registrations"] == 1 and counts["kv"] == 1 and counts["handoff"] == 1
        # The staff-side link names only a ticket id and a staff chat, as in the embedded store.
        assert rows_holding(pg.url, [NIK_A, "Siti Aminah", str(uid)]) == []
        assert [r[:2] for r in rows_holding(pg.url, [NIK_B])] == [
            ("registrations", "registrations")
        ]
        assert stores.pending_erasures() == []


# -- copy-data -------------------------------------------------------------------------------


def fill_embedded(data_dir: Path) -> dict[str, dict[str, list[tuple[str, dict[str, object]]]]]:
    with Stores.open(data_dir) as stores:
        for user in range(1, 31):
            stores.registrations.save(user, user, citizen(f"36730141019{user:05d}"), actor=user)
            stores.subscribers.subscribe(user, user, source="start")
        stores.registrations.set_status("SRG-2026-000003", "dihubungi", actor=42)
        stores.unanswered.log("kapan dibuka?", "id", user_id=3)
        stores.kv.put("conversations:registration", "[5, 5]", 2)
        stores.audit.record(42, "export", None, {"rows": 30})
        stores.database("broadcasts").table("outbox").put("b1", {"state": "done"})
        return contents(stores)


def contents(stores: Stores) -> dict[str, dict[str, list[tuple[str, dict[str, object]]]]]:
    return {
        name: {table: db.table(table).items() for table in db.table_names()}
        for name, db in stores.databases.items()
        if db.table_names()
    }


def counted(out: str) -> dict[str, tuple[int, int]]:
    """``copy-data``'s lines ``store/collection  source  target  ok``."""
    rows = [line.split() for line in out.splitlines()]
    return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) == 4 and r[3] == "ok"}


def test_copy_data_moves_everything_verifies_and_refuses_a_non_empty_target(
    cli_env: Path, pg_url: str, pg_empty_url: str
) -> None:
    before = fill_embedded(cli_env)
    code, out, err = run_cli("copy-data", "--to", pg_url)
    assert (code, err) == (0, "")
    expected = {
        f"{name}/{table}": (len(items), len(items))
        for name, tables in before.items()
        for table, items in tables.items()
    }
    assert counted(out) == expected
    assert expected["registrations/registrations"] == (30, 30)
    assert expected["broadcasts/outbox"] == (1, 1) and "kv/conversations:registration" in expected
    with Stores.open(cli_env, database_url=pg_url) as moved:
        assert contents(moved) == before  # every document, in the same order
        assert moved.registrations.get_by_nik("3673014101900004")["user_id"] == 4  # type: ignore[index]
        new, _ = moved.registrations.save(99, 99, citizen(NIK_B), actor=99)
        assert new["reg_no"] == "SRG-2026-000031"  # the numbering goes on

    code, _, err = run_cli("copy-data", "--to", pg_url)
    assert code == 1 and "already holds" in err and "--force" in err
    code, out, _ = run_cli("copy-data", "--to", pg_url, "--force")
    assert code == 0 and counted(out) == expected
    with Stores.open(cli_env, database_url=pg_url) as moved:
        assert contents(moved) == before  # replaced: the registration made since is gone

    assert run_cli("copy-data", "--to", pg_empty_url)[0] == EXIT_SCHEMA
    with Stores.open(cli_env):  # the embedded store is in use: refused, nothing copied
        assert run_cli("copy-data", "--to", pg_url, "--force")[0] == EXIT_LOCKED
    with Stores.open(cli_env, database_url=pg_url):  # a bot runs on the target
        assert run_cli("copy-data", "--to", pg_url, "--force")[0] == EXIT_LOCKED


# -- the bot on PostgreSQL -------------------------------------------------------------------


async def test_the_bot_keeps_its_data_in_postgresql(bot: BotHarness, pg: Backend) -> None:
    await register(bot, CITIZEN)
    stores = stores_of(bot)
    assert stores.backend == "postgresql"
    assert stores.registrations.get_by_nik(NIK)["user_id"] == CITIZEN  # type: ignore[index]
    assert not pg.data_dir.exists() or not any(pg.data_dir.glob("*.journal"))


def test_without_a_server_the_postgresql_tests_fail_and_say_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pgcluster.ENV_URL, raising=False)
    monkeypatch.setattr(pgcluster.shutil, "which", lambda name: None)
    monkeypatch.setattr(pgcluster.glob, "glob", lambda pattern: [])
    with pytest.raises(pgcluster.NoServerError, match="apt-get install -y postgresql"):
        pgcluster.start()
