"""Press every button the bot shows, and run the real `python -m bot run` against the emulator.

A crawler starts at /start and presses each distinct button once (breadth first, on the message
that shows it), as a strict client would: every press must be answered and nothing the bot sends
may be rejected by the emulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import deque
from pathlib import Path

import pytest

from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness

CITIZEN = 7001
MAX_PRESSES = 600


# Hundreds of presses in one chat: at Telegram's pace (the limiter's 29 requests in any second)
# that is two thirds of this test's time spent waiting, and pace is what test_broadcast_bot and
# test_ratelimit_jitter check, not this crawl (the emulator enforces no limits here).
@pytest.mark.unpaced
async def test_every_reachable_button_is_answered(bot: BotHarness) -> None:
    """Breadth first over button paths from /start; each distinct button is pressed at least once.

    Screens are edited in place, so a button is reached again by replaying its path from a fresh
    /start, exactly as a citizen would tap through.
    """
    paths: deque[tuple[str, ...]] = deque([()])
    seen: set[str] = set()
    presses = 0
    while paths and presses < MAX_PRESSES:
        path = paths.popleft()
        replies = await bot.send(CITIZEN, "/start")
        for data in path:
            message_id = _showing(bot, data)
            if message_id is None:  # a stateful flow took another turn on replay
                break
            replies = await bot.press(CITIZEN, message_id, data)  # asserts it was answered
            presses += 1
        for reply in replies:
            for _, data in reply.buttons:
                if data and not data.startswith("http") and data not in seen:
                    seen.add(data)
                    paths.append((*path, data))
    assert len(seen) >= 60, f"only {len(seen)} distinct buttons reached"
    assert bot.emu.rejected == []


def _showing(bot: BotHarness, data: str) -> int | None:
    """The newest message in the chat that currently shows a button with ``data``."""
    message = bot.emu.newest_sent(CITIZEN, lambda m: data in {d for _, d in bot.emu.buttons(m)})
    return None if message is None else int(message["message_id"])


async def test_python_m_bot_run_against_the_emulator(tmp_path: Path) -> None:
    """The real entry point: long polling, replies, clean stop on SIGINT, no token in output."""
    async with BotAPIEmulator() as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=emu.token,
            TELEGRAM_API_URL=emu.url,
            BOT_DATA_DIR=str(tmp_path / "data"),
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--verbose",
            "run",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await emu.wait_until_polling(timeout=60)
            for text in ("/start", "syarat umur", "<b>&", "x" * 5000, "/unknown"):
                since = len(emu.calls)
                emu.send_text(CITIZEN, text)
                await emu.wait_for_call(
                    lambda c: c.method == "sendMessage" and c.chat_id == CITIZEN,
                    timeout=30,
                    since=since,
                )
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = await asyncio.wait_for(process.communicate(), 60)
        log = output.decode()
        assert process.returncode == 0, log
        assert emu.token not in log
        assert emu.token.split(":")[1] not in log
        assert "Traceback" not in log
        assert emu.rejected == []


async def test_an_unreachable_bot_api_is_retried_until_it_answers(tmp_path: Path) -> None:
    """`python -m bot run` with the Bot API down: it logs and retries, no crash, and serves once
    the API is up."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    token = "123456:TEST-token"
    env.update(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{port}",
        BOT_DATA_DIR=str(tmp_path / "data"),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    seen = b""
    while b"retrying" not in seen:
        seen += await asyncio.wait_for(process.stdout.readline(), 60)
    assert process.returncode is None, "still running"
    async with BotAPIEmulator(port=port) as emu:
        try:
            await emu.wait_until_polling(timeout=60)
            since = len(emu.calls)
            emu.send_text(CITIZEN, "/start")
            await emu.wait_for_call(
                lambda c: c.method == "sendMessage" and c.chat_id == CITIZEN,
                timeout=30,
                since=since,
            )
        finally:
            process.send_signal(signal.SIGINT)
            rest, _ = await asyncio.wait_for(process.communicate(), 60)
    log = (seen + rest).decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log and token not in log
