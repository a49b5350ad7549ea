"""A throwaway PostgreSQL server for the tests and benchmarks, from Debian's ``postgresql``
package (``make test`` installs it when missing: ``tools/ensure-postgres``).

``BOT_TEST_DATABASE_URL`` (``postgresql://user:password@host:port/db`` of a user allowed to
create databases) uses that server instead, e.g. inside ``pg_virtualenv``. Otherwise a cluster
is made with ``initdb`` in a temporary directory and started with ``pg_ctl``, listening on a
Unix socket in that directory only (no TCP port, so it never meets another server on the
machine); as root the server runs as the ``postgres`` user, as PostgreSQL requires. Nothing is
skipped when no server can be had: :func:`start` raises, so every PostgreSQL test fails.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ENV_URL = "BOT_TEST_DATABASE_URL"
INSTALL_HINT = (
    "no PostgreSQL server for the tests: install Debian's package (apt-get install -y"
    " postgresql; `make test` does it as root) or set BOT_TEST_DATABASE_URL"
)
PORT = 5432


class NoServerError(RuntimeError):
    """No PostgreSQL server could be had (the tests that need one fail with this)."""


def bindir() -> Path:
    """The directory of ``initdb`` / ``pg_ctl``: on PATH, else the newest Debian version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not versions:
        raise NoServerError(INSTALL_HINT)
    return versions[-1]


@dataclass
class Server:
    """A PostgreSQL server: ``url(db)`` addresses one of its databases."""

    base_url: str
    directory: Path | None = None  # set for a cluster this module started
    _run_as: dict[str, Any] = field(default_factory=dict)

    def url(self, database: str) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path="/" + quote(database)))

    def stop(self) -> None:
        if self.directory is None:
            return
        pg_ctl = str(bindir() / "pg_ctl")
        subprocess.run(
            [pg_ctl, "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            **self._run_as,
        )
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


def start(*, durable: bool = False) -> Server:
    """``BOT_TEST_DATABASE_URL``'s server, or a new cluster (stopped at exit). ``durable``
    keeps PostgreSQL's default fsync settings (for benchmarks); tests turn fsync off."""
    given = os.environ.get(ENV_URL)
    if given:
        return Server(given)
    tools = bindir()
    directory = Path(tempfile.mkdtemp(prefix="serang-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            hint = f"{INSTALL_HINT} (running as root needs the postgres user)"
            raise NoServerError(hint) from None
        os.chown(directory, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data = directory / "data"
    settings = {
        "port": str(PORT),
        "listen_addresses": "",
        "unix_socket_directories": str(directory),
        "max_connections": "200",
        "shared_buffers": "32MB",
    }
    if not durable:
        settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
    options = " ".join(f"-c {name}='{value}'" for name, value in settings.items())
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(directory)}
    try:
        initdb = [str(tools / "initdb"), "-D", str(data), "-U", "serang", "--auth=trust"]
        _run([*initdb, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], run_as, env)
        pg_ctl = [str(tools / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log")]
        _run([*pg_ctl, "-o", options, "-w", "-t", "60", "start"], run_as, env)
    except NoServerError:
        log_file = directory / "server.log"
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        raise NoServerError(f"the PostgreSQL test cluster did not start\n{tail}") from None
    server = Server(
        f"postgresql://serang@/postgres?host={quote(str(directory))}&port={PORT}",
        directory,
        run_as,
    )
    atexit.register(server.stop)
    return server


def _run(command: list[str], run_as: dict[str, Any], env: dict[str, str]) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, cwd="/", **run_as
    )
    if done.returncode != 0:
        raise NoServerError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")
