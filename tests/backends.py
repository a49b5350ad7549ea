"""The two storage backends for the contract tests: ``store_backend`` runs a test once on the
embedded files and once on PostgreSQL (a fresh, migrated database per test, on the session's
throwaway server from ``tests/pgcluster.py``). A PostgreSQL test fails, never skips, when no
server can be had."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from store import Stores
from store.pg import migrate
from tests import pgcluster

BACKENDS = ("embedded", "postgresql")
_numbers = itertools.count(1)


@dataclass
class PgServer:
    """The session's server and its migrated template database."""

    server: pgcluster.Server
    template: str

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.server.base_url, autocommit=True)

    def create(self, *, migrated: bool = True) -> str:
        """A new database (a copy of the migrated template, or empty); its URL."""
        name = f"serang_{os.getpid()}_{next(_numbers)}"
        with self.admin() as conn:
            if migrated:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(self.template)
                    )
                )
            else:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.server.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = pgcluster.start()  # raises when there is none: the tests using it fail
    found = PgServer(server, f"serang_template_{os.getpid()}")
    try:
        with found.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(found.template)))
        migrate(server.url(found.template))
        yield found
    finally:
        try:
            found.drop(server.url(found.template))
        finally:
            server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database at the latest schema."""
    url = pg_server.create()
    yield url
    pg_server.drop(url)


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh database without any migration."""
    url = pg_server.create(migrated=False)
    yield url
    pg_server.drop(url)


@dataclass
class Backend:
    """Where a test's stores live: ``open()`` them, or give ``env`` to the bot's config."""

    kind: str
    data_dir: Path
    url: str | None = None

    def open(self, **options: Any) -> Stores:
        return Stores.open(self.data_dir, database_url=self.url, **options)

    @property
    def env(self) -> dict[str, str]:
        return {"BOT_DATABASE_URL": self.url} if self.url else {}


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return Backend(request.param, tmp_path / "data", url)
