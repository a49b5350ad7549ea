"""Webhook mode against long polling: reply latency through the emulator, and how long the
bot's webhook takes to store an update (fsync) and answer 200.

Open loop: distinct citizens send FAQ questions at a fixed total rate (20 and 100 updates/s;
above ~29/s every reply waits for the rate limiter: Telegram allows about 30 messages a second
per bot, so 100 questions a second cannot all be answered within the second in either mode);
latency is from injecting the update into the emulator until the bot's reply to that chat
arrives there. In webhook mode the emulator posts updates one at a time (the worst case:
Telegram itself uses up to ``max_connections`` parallel connections), so the 200 latency also
bounds the throughput.

Then a burst as Telegram sends under load: 400 updates over 40 parallel connections, straight
to the bot's webhook (the 200 latency, and how many durable writes the inbox needed).

Run: .venv/bin/python bench/webhook.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, make_config
from tests.test_webhook import WebhookHarness, settings

QUESTIONS = [
    "syarat umur berapa",
    "gaji di korea brp",
    "beasiswa ke korea gmn",
    "apa itu eps topik",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_run(mode: str, rate: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with BotAPIEmulator() as emu:
            config = make_config(emu, Path(tmp) / "data")
            bot: BotHarness = (
                WebhookHarness(emu, config, settings())
                if mode == "webhook"
                else BotHarness(emu, config)
            )
            await bot.start()
            try:
                latencies: list[float] = []

                async def ask(user_id: int, text: str) -> None:
                    since = len(emu.calls)
                    start = time.perf_counter()
                    emu.send_text(user_id, text)
                    await emu.wait_for_call(
                        lambda c: c.method == "sendMessage" and c.chat_id == user_id,
                        timeout=60,
                        since=since,
                    )
                    latencies.append((time.perf_counter() - start) * 1000)

                await ask(1, "halo")  # warm-up
                latencies.clear()
                emu.webhook_latencies.clear()
                tasks = []
                total = int(rate * seconds)
                started = time.perf_counter()
                for n in range(total):
                    await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                    tasks.append(
                        asyncio.create_task(ask(10_000 + n, QUESTIONS[n % len(QUESTIONS)]))
                    )
                await asyncio.gather(*tasks)
                line = (
                    f"{mode:8} {rate:4d}/s  {total:4d} updates"
                    f"  reply p50 {pct(latencies, 0.5):7.1f} ms"
                    f"  p95 {pct(latencies, 0.95):7.1f} ms  max {max(latencies):7.1f} ms"
                )
                if emu.webhook_latencies:
                    answers = [s * 1000 for s in emu.webhook_latencies]
                    line += (
                        f"  | store+200 p50 {statistics.median(answers):5.2f} ms"
                        f"  p95 {pct(answers, 0.95):5.2f} ms"
                    )
                print(line, flush=True)
            finally:
                await bot.stop()


async def burst(total: int = 400, connections: int = 40) -> None:
    """Telegram's way under load: up to ``connections`` posts at once; the 200 latency and how
    many durable inbox writes the updates needed (coalesced while one is written)."""
    import aiohttp

    from bot.webhook import SECRET_HEADER
    from tests.test_webhook import SECRET, inbox_writes

    with tempfile.TemporaryDirectory() as tmp:
        async with BotAPIEmulator() as emu:
            bot = WebhookHarness(emu, make_config(emu, Path(tmp) / "data"), settings())
            await bot.start()
            try:
                assert bot.server is not None
                updates = [emu.send_text(20_000 + n, QUESTIONS[n % 4]) for n in range(total)]
                emu._updates.clear()  # posted below by this "Telegram", not by the emulator
                before = inbox_writes((await bot.server.metrics.render()).decode())
                gate = asyncio.Semaphore(connections)
                answers: list[float] = []
                headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
                url = bot.base + "/telegram/hook"
                connector = aiohttp.TCPConnector(limit=connections)
                async with aiohttp.ClientSession(connector=connector) as session:

                    async def deliver(update: dict[str, object]) -> None:
                        async with gate:
                            began = time.perf_counter()
                            async with session.post(url, json=update, headers=headers) as r:
                                assert r.status == 200
                            answers.append((time.perf_counter() - began) * 1000)

                    started = time.perf_counter()
                    await asyncio.gather(*(deliver(u) for u in updates))
                    stored = time.perf_counter() - started
                for update in updates:
                    await bot.processed(int(update["update_id"]))  # type: ignore[call-overload]
                handled = time.perf_counter() - started
                await bot.server.idle()
                after = inbox_writes((await bot.server.metrics.render()).decode())
                print(
                    f"burst    {total} updates over {connections} connections: all stored in "
                    f"{stored:.2f} s ({total / stored:.0f}/s), handled in {handled:.2f} s; "
                    f"200 p50 {statistics.median(answers):.1f} ms p95 {pct(answers, 0.95):.1f} ms;"
                    f" {after - before:.0f} inbox writes for {2 * total} puts and dones",
                    flush=True,
                )
            finally:
                await bot.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for rate in (20, 100):
        for mode in ("polling", "webhook"):
            await one_run(mode, rate, args.seconds)
    await burst()


if __name__ == "__main__":
    asyncio.run(main())
