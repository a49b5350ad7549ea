"""One and two workers on PostgreSQL against one process on the embedded store.

1. Reply latency: real ``python -m bot run`` processes in webhook mode behind the emulator
   (``tests/fleet_harness.py``; with two workers the emulator spreads the deliveries over both),
   distinct citizens asking FAQ questions open loop at 20 and 100 updates/s; latency from
   injecting the update until the reply to that chat is answered by the emulator. Telegram
   allows about 30 messages a second per bot: at 100/s every setup queues replies behind the
   budget (29/s, shared by the workers), so p95 there is the queue, not the store; the time
   the webhook takes to store an update and answer 200 is printed beside it.
2. A registration write (``RegistrationRepo.save`` of a new citizen: NIK and user checks, the
   number, one durable commit), 300 per writer: the embedded store; PostgreSQL with one writer;
   PostgreSQL with two writers at once, each on its own connection pool as two workers are.

PostgreSQL is a throwaway local cluster (``tests/pgcluster.py``) with its default durability
(fsync and synchronous_commit on), over a Unix socket, on the same machine.

Run: ``.venv/bin/python bench/workers.py [--seconds 5] [--writes 300]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from store import Stores
from store.pg import migrate
from tests import pgcluster
from tests.emulator import BotAPIEmulator
from tests.fleet_harness import FleetRig

QUESTIONS = ["syarat umur berapa", "gaji di korea brp", "beasiswa ke korea gmn", "apa itu eps"]
SETUPS = (("embedded", 1), ("postgresql", 1), ("postgresql", 2))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def create_database(server: pgcluster.Server, name: str) -> str:
    with psycopg.connect(server.base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.url(name)
    migrate(url)
    return url


async def latency(
    server: pgcluster.Server, backend: str, workers: int, rate: int, seconds: float, root: Path
) -> str:
    name = f"lat_{backend}_{workers}_{rate}"
    url = create_database(server, name) if backend == "postgresql" else None
    async with BotAPIEmulator() as emu:
        rig = FleetRig(emu, url, root / name, {"BOT_SEND_BUDGET": "29"})
        try:
            await asyncio.gather(*(rig.start_worker() for _ in range(workers)))
            results: list[float] = []

            async def ask(user_id: int, text: str) -> None:
                since = len(emu.calls)
                start = time.perf_counter()
                emu.send_text(user_id, text)
                await emu.wait_for_call(
                    lambda c: c.method == "sendMessage" and c.chat_id == user_id,
                    timeout=120,
                    since=since,
                )
                results.append((time.perf_counter() - start) * 1000)

            await asyncio.gather(*(ask(n, "halo") for n in range(1, 1 + 2 * workers)))  # warm up
            results.clear()
            emu.webhook_latencies.clear()
            total = int(rate * seconds)
            tasks = []
            started = time.perf_counter()
            for n in range(total):
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(ask(10_000 + n, QUESTIONS[n % len(QUESTIONS)])))
            await asyncio.gather(*tasks)
        finally:
            await rig.stop()
    label = f"{backend} x{workers}"
    stored = [seconds * 1000 for seconds in emu.webhook_latencies]
    return (
        f"{label:<15} {rate:4d}/s {total:4d} updates  reply p50 {pct(results, 0.5):7.1f} ms"
        f"  p95 {pct(results, 0.95):7.1f} ms  max {max(results):7.1f} ms"
        f"  | stored+200 p50 {pct(stored, 0.5):5.2f} ms p95 {pct(stored, 0.95):5.2f} ms"
    )


def citizen(n: int) -> dict[str, object]:
    return {
        "full_name": f"Warga Kota Serang {n}",
        "nik": f"3673{n:012d}",
        "phone": f"+628{n:010d}",
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
        "programmes": ["korea_work"],
        "training_willing": True,
    }


def writes(stores_list: list[Stores], per_writer: int) -> list[float]:
    """``per_writer`` new registrations through each of ``stores_list`` at once; ms each."""
    samples: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(stores: Stores, first: int) -> None:
        try:
            for user in range(first, first + per_writer):
                began = time.perf_counter()
                stores.registrations.save(user, user, citizen(user), actor=user)
                with lock:
                    samples.append((time.perf_counter() - began) * 1000)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(stores, 1_000_000 * (k + 1)))
        for k, stores in enumerate(stores_list)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    server = pgcluster.start(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            print("reply latency (FAQ questions, open loop; ms)")
            for rate in (20, 100):
                for backend, workers in SETUPS:
                    line = await latency(server, backend, workers, rate, args.seconds, root)
                    print(line, flush=True)

            print(f"\na registration write, {args.writes} per writer (ms)")
            with Stores.open(root / "embedded") as stores:
                embedded = writes([stores], args.writes)
            url = create_database(server, "writes")
            with Stores.open(root / "pg1", database_url=url, shared=True) as stores:
                one = writes([stores], args.writes)
            with (
                Stores.open(root / "pg2a", database_url=url, shared=True) as first,
                Stores.open(root / "pg2b", database_url=url, shared=True) as second,
            ):
                two = writes([first, second], args.writes)
            for label, samples in (
                ("embedded x1", embedded),
                ("postgresql x1", one),
                ("postgresql x2", two),
            ):
                print(
                    f"{label:<15} {len(samples):4d} writes  p50 {pct(samples, 0.5):7.2f} ms"
                    f"  p99 {pct(samples, 0.99):7.2f} ms  max {max(samples):7.2f} ms",
                    flush=True,
                )
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
