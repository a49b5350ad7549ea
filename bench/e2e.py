"""End-to-end reply latency and throughput: citizens -> emulator -> real Application -> emulator.

Latency is measured from injecting an update into the emulator until the bot's reply to that chat
arrives there: long polling, matching, storage and HTTP included.

* open loop: many citizens send questions at a fixed total rate, as real traffic arrives; the
  reply latency at that load is what a citizen feels.
* closed loop: every citizen sends the next question as soon as the previous reply arrives,
  with the rate limiter off, to find the processing capacity (updates per second).

Run: .venv/bin/python bench/e2e.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_application
from bot.processing import PerChatUpdateProcessor
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, make_config

QUESTIONS = [
    "syarat umur berapa",
    "gaji di korea brp",
    "berangkat gratis gak",
    "beasiswa ke korea gmn",
    "kapan pelatihan dimulai",
    "apa itu eps topik",
    "ada calo minta uang",
    "what are the requirements",
]


async def ask(bot: BotHarness, user_id: int, text: str) -> float:
    since = len(bot.emu.calls)
    start = time.perf_counter()
    bot.emu.send_text(user_id, text)
    await bot.emu.wait_for_call(
        lambda c: c.method == "sendMessage" and c.chat_id == user_id, timeout=30, since=since
    )
    return (time.perf_counter() - start) * 1000


class Harness(BotHarness):
    """The harness with the rate limiter optionally off, for the capacity measurement."""

    def __init__(self, *args: object, rate_limiter: bool) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.rate_limiter = rate_limiter

    async def start(self) -> BotHarness:
        processor = PerChatUpdateProcessor(on_done=self._on_done)
        self.app = build_application(
            self.config, update_processor=processor, rate_limiter=self.rate_limiter
        )
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0, timeout=1)
        return self


async def with_bot(rate_limiter: bool, body):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        async with BotAPIEmulator() as emu:
            bot = Harness(emu, make_config(emu, Path(tmp) / "data"), rate_limiter=rate_limiter)
            await bot.start()
            try:
                for i in range(5):  # warm-up
                    await ask(bot, 1, QUESTIONS[i])
                return await body(bot)
            finally:
                await bot.stop()


async def open_loop(users: int, rate: float, seconds: float) -> list[float]:
    async def body(bot: BotHarness) -> list[float]:
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            user = 1000 + i % users
            tasks.append(asyncio.create_task(ask(bot, user, QUESTIONS[i % len(QUESTIONS)])))
        return list(await asyncio.gather(*tasks))

    return await with_bot(True, body)  # type: ignore[no-any-return]


async def closed_loop(users: int, rounds: int) -> tuple[list[float], float]:
    async def citizen(bot: BotHarness, user: int, out: list[float]) -> None:
        for i in range(rounds):
            out.append(await ask(bot, user, QUESTIONS[(user + i) % len(QUESTIONS)]))

    async def body(bot: BotHarness) -> tuple[list[float], float]:
        latencies: list[float] = []
        start = time.perf_counter()
        await asyncio.gather(*(citizen(bot, 1000 + u, latencies) for u in range(users)))
        return latencies, len(latencies) / (time.perf_counter() - start)

    return await with_bot(False, body)  # type: ignore[no-any-return]


def row(label: str, latencies: list[float], rate: float) -> str:
    latencies = sorted(latencies)
    p = lambda q: latencies[max(0, int(len(latencies) * q) - 1)]  # noqa: E731
    return (
        f"{label:<34} {len(latencies):>6} {statistics.median(latencies):>8.1f} "
        f"{p(0.95):>8.1f} {p(0.99):>8.1f} {rate:>10.1f}"
    )


async def main() -> None:
    print("End-to-end reply latency through the local Bot API emulator (HTTP, long polling)")
    print(
        f"{'scenario':<34} {'msgs':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'updates/s':>10}"
    )
    for users, rate in ((1, 5.0), (50, 10.0), (200, 20.0)):
        latencies = await open_loop(users, rate, seconds=8)
        print(row(f"open loop: {users} users, {rate:g}/s", latencies, rate))
    for users, rounds in ((10, 30), (100, 5)):
        latencies, achieved = await closed_loop(users, rounds)
        print(row(f"capacity: {users} users, no limiter", latencies, achieved))


if __name__ == "__main__":
    asyncio.run(main())
