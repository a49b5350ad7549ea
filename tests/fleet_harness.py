"""Several real bot processes (``python -m bot run`` in webhook mode) on one PostgreSQL database,
behind the emulator, which spreads its webhook deliveries over them as a load balancer would.

Used by ``tests/test_fleet.py`` and the benchmarks ``bench/multiworker_kill.py`` and
``bench/workers.py``. A citizen is driven as in ``tests/harness.py``: ``await rig.send(user,
text)`` queues the message and returns the bot's replies once the update is marked done in the
shared inbox, whichever worker handled it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from desk.outbox import DONE, Audience, Outbox
from store import Stores
from tests.emulator import BotAPIEmulator
from tests.emulator.factories import private_chat
from tests.harness import REPO, Reply, _reply

URL = "https://bot.serangkota.example/telegram/hook"
SECRET = "fleet-secret-for-tests"
#: Short leases and beats, so that a kill is recovered from in seconds, and a small send
#: budget, so that a broadcast and replies meet it.
FAST = {
    "BOT_INBOX_LEASE_SECONDS": "2",
    "BOT_INBOX_POLL_SECONDS": "0.1",
    "BOT_HEARTBEAT_SECONDS": "0.3",
    "BOT_LEADER_RETRY_SECONDS": "0.3",
    "BOT_SEND_BUDGET": "10",
}
#: Bot API methods that put a message in a chat (what Telegram's ~30/s counts).
MESSAGES = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    port: int
    data_dir: Path
    log: Path

    @property
    def target(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class FleetRig:
    """Workers on ``db_url`` against ``emu``; ``env`` adds to :data:`FAST`."""

    emu: BotAPIEmulator
    db_url: str | None  # None: one process on the embedded store (benchmarks compare)
    root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    _numbers: int = 0

    @property
    def settings(self) -> dict[str, str]:
        return {**FAST, **self.env}

    async def start_worker(self, *, wait: bool = True) -> Worker:
        self._numbers += 1
        port = free_port()
        data_dir = self.root / f"worker{self._numbers}"
        log = self.root / f"worker{self._numbers}.log"
        environ = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": self.emu.token,
            "TELEGRAM_API_URL": self.emu.url,
            "BOT_DATA_DIR": str(data_dir),
            "BOT_CONFIG": str(REPO / "config.yaml"),
            **({"BOT_DATABASE_URL": self.db_url} if self.db_url else {}),
            "BOT_WEBHOOK_URL": URL,
            "BOT_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
            "BOT_WEBHOOK_SECRET": SECRET,
            "PTB_TIMEDELTA": "1",
            **self.settings,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=REPO, env=environ,
                stdout=asyncio.subprocess.DEVNULL, stderr=sink,
            )  # fmt: skip
        worker = Worker(process, port, data_dir, log)
        self.workers.append(worker)
        self.emu.webhook_targets.append(worker.target)
        if wait:
            await self.joined(worker)
        return worker

    async def joined(self, worker: Worker, timeout: float = 60.0) -> None:
        """Until the worker beats in the workers table and has waited its two beats (on the
        embedded store: until its webhook is registered)."""
        deadline = time.monotonic() + timeout
        while self.db_url is None:
            if "webhook registered" in worker.log_tail(100_000):
                return
            if worker.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {worker.pid} did not start:\n{worker.log_tail()}")
            await asyncio.sleep(0.05)
        while True:
            if worker.process.returncode is not None:
                raise AssertionError(f"worker {worker.pid} exited:\n{worker.log_tail()}")
            rows = await self.query("SELECT id FROM workers")
            if any(f":{worker.pid}:" in row[0] for row in rows):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {worker.pid} never joined:\n{worker.log_tail()}")
            await asyncio.sleep(0.05)
        beat = float(self.settings["BOT_HEARTBEAT_SECONDS"])
        await asyncio.sleep(2 * beat + 0.2)

    def worker_of(self, claimed_by: str | None) -> Worker:
        for worker in self.workers:
            if claimed_by and f":{worker.pid}:" in claimed_by:
                return worker
        raise LookupError(f"no worker named {claimed_by!r}")

    async def kill(self, worker: Worker) -> None:
        """SIGKILL: no shutdown, no goodbye (its connections simply drop)."""
        worker.process.send_signal(signal.SIGKILL)
        await worker.process.wait()

    async def stop(self) -> list[int]:
        """SIGTERM every live worker; their exit codes (0: a clean stop)."""
        codes = []
        for worker in self.workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                await asyncio.wait_for(worker.process.wait(), 60)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            codes.append(worker.process.returncode or 0)
        return codes

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.process.returncode is None]

    # -- the database ------------------------------------------------------------------------

    async def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        assert self.db_url is not None, "no database: the embedded store"
        url = self.db_url

        def run() -> list[tuple[Any, ...]]:
            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute(sql.encode(), tuple(params)).fetchall()

        return await asyncio.to_thread(run)

    async def done(self, update_id: int, timeout: float = 30.0) -> None:
        """Until the update is marked done in the shared inbox."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.query(
                "SELECT done_at IS NOT NULL FROM inbox WHERE update_id = %s", (update_id,)
            )
            if rows and rows[0][0]:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(w.log_tail(1500) for w in self.workers)
                raise AssertionError(f"update {update_id} not done in {timeout} s\n{tails}")
            await asyncio.sleep(0.02)

    async def claimed_by(self, update_id: int, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.query(
                "SELECT claimed_by FROM inbox WHERE update_id = %s AND done_at IS NULL",
                (update_id,),
            )
            if rows and rows[0][0]:
                return str(rows[0][0])
            if time.monotonic() > deadline:
                raise AssertionError(f"update {update_id} never claimed")
            await asyncio.sleep(0.01)

    async def leader(self, timeout: float = 30.0) -> Worker:
        stale = 3 * float(self.settings["BOT_HEARTBEAT_SECONDS"])
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.query(
                "SELECT id FROM workers WHERE leads"
                " AND seen_at > now() - make_interval(secs => %s)",
                (stale,),
            )
            for (name,) in rows:
                for worker in self.live():
                    if f":{worker.pid}:" in name:
                        return worker
            if time.monotonic() > deadline:
                raise AssertionError("no worker leads")
            await asyncio.sleep(0.05)

    # -- a citizen ---------------------------------------------------------------------------

    async def send(self, user_id: int, text: str) -> list[Reply]:
        before = len(self.emu.calls)
        update = self.emu.send_text(user_id, text)
        await self.done(update["update_id"])
        return self.replies(user_id, before)

    async def press(self, user_id: int, reply: Reply, label: str) -> list[Reply]:
        assert reply.message_id is not None
        before = len(self.emu.calls)
        update = self.emu.press(user_id, reply.message_id, reply.button(label))
        await self.done(update["update_id"])
        return self.replies(user_id, before)

    def replies(self, chat_id: int, since: int) -> list[Reply]:
        return [
            _reply(call)
            for call in self.emu.calls[since:]
            if call.chat_id == chat_id and call.ok and call.method != "answerCallbackQuery"
        ]


#: The announcement scenario's people: who sends it, who receives it, who asks meanwhile.
ADMIN = 7800
RECIPIENTS = range(7900, 7930)
ASKERS = range(8100, 8120)


@dataclass
class AnnouncementKill:
    """What happened when the announcement's sender was killed a third of the way."""

    final: dict[str, Any] | None  # the outbox document at the end (state, figures)
    received: Counter[int]  # messages each recipient got
    killed_at: int  # messages received when the sender was killed
    asked: list[dict[str, Any]]  # the citizens' updates sent meanwhile
    leader: object  # the worker killed
    new_leader: object  # the worker that took over


async def announcement_with_a_kill(
    rig: FleetRig, emu: BotAPIEmulator, root: Path, *, wait: float = 60.0
) -> AnnouncementKill:
    """30 subscribers get an announcement while 20 citizens ask; its sender is killed a third
    of the way and the scenario waits for the next leader to finish it (the test asserts, the
    benchmark counts: tests/test_fleet.py, bench/multiworker_kill.py)."""
    for chat in (ADMIN, *RECIPIENTS):
        emu._chats.setdefault(chat, private_chat(emu.user(chat)))
    with Stores.open(root / "setup", database_url=rig.db_url, shared=True) as stores:
        for chat in RECIPIENTS:
            stores.subscribers.subscribe(chat, chat, source="fleet")
        doc = Outbox(stores.database("broadcasts")).create(
            author=ADMIN,
            chat_id=ADMIN,
            lang="id",
            content={"kind": "text", "text": "Pelatihan bahasa Korea dibuka"},
            audience=Audience("subscribers"),
        )
    leader = await rig.leader()

    def received() -> Counter[int]:
        return Counter(
            c.chat_id
            for c in emu.calls
            if c.method == "sendMessage" and c.ok and c.chat_id in RECIPIENTS
        )

    await emu.wait_until(lambda: sum(received().values()) >= 3, wait)
    asked = [emu.send_text(user, "syarat umur berapa") for user in ASKERS]  # replies compete
    await emu.wait_until(lambda: sum(received().values()) >= 10, wait)  # a third of the way
    await rig.kill(leader)
    killed_at = sum(received().values())
    new_leader = await rig.leader()
    final: dict[str, Any] | None = None
    with Stores.open(root / "check", database_url=rig.db_url, shared=True) as stores:
        outbox = Outbox(stores.database("broadcasts"))
        for _ in range(int(wait * 20)):
            final = outbox.get(doc["id"])
            if final is not None and final["state"] == DONE:
                break
            await asyncio.sleep(0.1)
    for question in asked:
        await rig.done(question["update_id"], timeout=wait * 2)
    return AnnouncementKill(final, received(), killed_at, asked, leader, new_leader)


def answers_to_askers(emu: BotAPIEmulator) -> dict[int, int]:
    """How many messages each citizen who asked during the announcement got."""
    return {
        user: sum(1 for c in emu.calls if c.method == "sendMessage" and c.chat_id == user)
        for user in ASKERS
    }


def max_rate(times: Iterable[float], window: float = 1.0) -> int:
    """The most events in any ``window`` seconds (a sliding window over their times)."""
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def message_times(emu: BotAPIEmulator) -> list[float]:
    """When each message the bot put in a chat was answered (all workers together)."""
    return [c.at for c in emu.calls if c.method in MESSAGES and c.ok and c.chat_id is not None]
