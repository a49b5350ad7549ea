"""A strict local Telegram Bot API emulator over real HTTP, for the tests.

Typical use with python-telegram-bot::

    async with BotAPIEmulator() as emu:
        app = application_builder(emu).build()
        ...
        update = emu.send_text(42, "/start")
        reply = await emu.wait_for_call(lambda c: c.method == "sendMessage")

Importing ``emulator_fixture`` (in a conftest or a test module) provides the ``emulator``
fixture: a running emulator, stopped after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from tests.emulator.html_check import check_telegram_html, utf16_len, visible_length
from tests.emulator.server import ApiError, BotAPIEmulator, Call, StoredFile
from tests.emulator.spec import ApiSpec, SpecError, Upload

if TYPE_CHECKING:
    from telegram.ext import ApplicationBuilder
    from telegram.request import HTTPXRequest

__all__ = [
    "ApiError",
    "ApiSpec",
    "BotAPIEmulator",
    "Call",
    "SpecError",
    "StoredFile",
    "Upload",
    "application_builder",
    "check_telegram_html",
    "emulator_fixture",
    "local_request",
    "utf16_len",
    "visible_length",
]


@pytest.fixture(name="emulator")
async def emulator_fixture() -> AsyncIterator[BotAPIEmulator]:
    """A running emulator, stopped after the test."""
    async with BotAPIEmulator() as emu:
        yield emu


def local_request() -> HTTPXRequest:
    """A PTB request object for the emulator's plain HTTP on 127.0.0.1.

    It skips loading the CA bundle, which costs about 0.15 s per HTTP client and would
    otherwise dominate a fast test.
    """
    from telegram.request import HTTPXRequest

    return HTTPXRequest(httpx_kwargs={"verify": False})


def application_builder(emu: BotAPIEmulator) -> ApplicationBuilder:
    """A python-telegram-bot ApplicationBuilder pointed at ``emu`` (token and both base URLs)."""
    from telegram.ext import ApplicationBuilder

    return (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(f"{emu.url}/bot")
        .base_file_url(f"{emu.url}/file/bot")
        .request(local_request())
        .get_updates_request(local_request())
    )
