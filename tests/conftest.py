"""Fixtures: the Bot API emulator and the real bot Application talking to it over HTTP."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import pg_empty_url, pg_server, pg_url, store_backend
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, make_config

# python-telegram-bot 22 warns when RetryAfter.retry_after is read as seconds; the bot works with
# timedelta (set by `python -m bot` too), and warnings are errors in this suite.
os.environ.setdefault("PTB_TIMEDELTA", "1")

__all__ = ["pg_empty_url", "pg_server", "pg_url", "store_backend"]  # fixtures for every test


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def bot(
    emu: BotAPIEmulator, data_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[BotHarness]:
    paced = request.node.get_closest_marker("unpaced") is None
    harness = BotHarness(emu, make_config(emu, data_dir), paced=paced)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


@pytest.fixture
async def desk(emu: BotAPIEmulator, data_dir: Path) -> AsyncIterator[BotHarness]:
    """The bot with an admin, a staff member and the staff desk (tests/test_staff_bot.py)."""
    from tests.test_staff_bot import staff_config

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    harness = BotHarness(emu, staff_config(emu, data_dir))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


@pytest.fixture(autouse=True)
def _quiet_third_party_logs() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
