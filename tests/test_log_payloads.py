"""At DEBUG (``-v``) the logs describe updates and Bot API calls without their content: what a
citizen answered (health, criminal record) or was told never reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Update

from bot.logging_setup import describe_update, setup_logging
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, make_config

SECRET_ANSWER = "saya pernah dirawat karena TBC dan pernah dipenjara"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    httpx_level = logging.getLogger("httpx").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    logging.getLogger("httpx").setLevel(httpx_level)


def test_an_update_is_described_without_its_content() -> None:
    update = Update.de_json(
        {
            "update_id": 7,
            "message": {
                "message_id": 3,
                "date": 0,
                "chat": {"id": 5101, "type": "private"},
                "from": {"id": 5101, "is_bot": False, "first_name": "Siti"},
                "text": SECRET_ANSWER,
            },
        },
        None,
    )
    assert describe_update(update) == "<update 7: message, chat 5101, from 5101, 51 chars>"


def test_ptb_payload_lines_are_described(
    caplog: pytest.LogCaptureFixture, restored_logging: None
) -> None:
    setup_logging(logging.DEBUG)
    logging.getLogger().handlers.insert(0, caplog.handler)
    caplog.set_level(logging.DEBUG)
    bot_log = logging.getLogger("telegram.Bot")
    bot_log.debug(
        "Calling Bot API endpoint `%s` with parameters `%s`",
        "sendMessage",
        {"chat_id": 5101, "text": f"Jawaban Anda: {SECRET_ANSWER}", "parse_mode": "HTML"},
    )
    logging.getLogger("telegram.ext.Updater").debug("Webhook received data: %s", "{" + "x" * 9)
    text = caplog.text
    assert "chat_id: 5101" in text and "parse_mode: HTML" in text and "text: <" in text
    assert "TBC" not in text and "xxxxxxxxx" not in text
    # Our own lines keep their (masked) arguments.
    logging.getLogger("bot.test").info("counts %s", {"registrations": 2})
    assert "counts {'registrations': 2}" in caplog.text


async def test_a_citizens_words_never_reach_the_debug_log(
    emu: BotAPIEmulator,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    setup_logging(logging.DEBUG)
    logging.getLogger().handlers.insert(0, caplog.handler)
    caplog.set_level(logging.DEBUG)
    bot = BotHarness(emu, make_config(emu, data_dir))
    await bot.start()
    try:
        [reply] = (await bot.send(5101, SECRET_ANSWER))[-1:]
    finally:
        await bot.stop()
    stderr = capsys.readouterr().err
    for name, text in (("caplog", caplog.text), ("stderr", stderr)):
        assert "Processing update <update" in text, f"{name}: PTB's DEBUG lines were logged"
        assert "Calling Bot API endpoint" in text, name
        assert "TBC" not in text and "dipenjara" not in text, name
        assert reply.text[:40] not in text, f"{name}: the bot's answer was logged"
