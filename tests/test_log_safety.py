"""A NIK and a phone number typed by a citizen never reach the logs, at DEBUG, through a whole
registration, including a crash inside a handler whose message holds them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Texts
from bot.logging_setup import RedactingFilter, setup_logging
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, make_config
from tests.test_registration import CITIZEN, NIK, NIK_TYPED, PHONE, after_phone, last, to_nik_step

TEXTS = Texts.load()
# Every form in which the NIK or the phone number could show up in a log line.
LEAKS = (NIK, NIK_TYPED, PHONE, "081234567890", "+6281234567890", "6281234567890")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Give the rest of the suite its logging back: handlers, level, record factory."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    httpx_level = logging.getLogger("httpx").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    logging.getLogger("httpx").setLevel(httpx_level)


async def test_nik_and_phone_never_reach_the_logs(
    emu: BotAPIEmulator,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    setup_logging(logging.DEBUG)  # the real stderr handler, as `python -m bot` sets it up
    # pytest's handler, without any filter of ours, sees each record before our handler does.
    logging.getLogger().handlers.insert(0, caplog.handler)
    caplog.set_level(logging.DEBUG)
    bot = BotHarness(emu, make_config(emu, data_dir))
    await bot.start()
    try:
        await to_nik_step(bot, CITIZEN)
        assert bot.app is not None
        repo = bot.app.bot_data["services"].stores.registrations

        def broken_lookup(nik: str) -> Any:
            raise RuntimeError(f"index trouble looking up NIK {nik} (HP {PHONE})")

        lookup, repo.get_by_nik = repo.get_by_nik, broken_lookup
        error = last(await bot.send(CITIZEN, NIK_TYPED))
        assert error.text == TEXTS.get("error", "id"), "the citizen is told kindly"
        repo.get_by_nik = lookup
        await bot.send(CITIZEN, NIK_TYPED)
        summary = await after_phone(bot, CITIZEN)
        done = last(await bot.press(CITIZEN, summary, "Kirim"))
        assert re.search(r"SRG-\d{4}-\d{6}", done.text)
    finally:
        await bot.stop()
    assert emu.rejected == []

    stderr = capsys.readouterr().err
    for name, text in (("caplog", caplog.text), ("stderr", stderr)):
        assert "Calling Bot API endpoint" in text, f"{name}: PTB's DEBUG lines were logged"
        assert "RuntimeError: index trouble looking up NIK 3673********0001" in text, name
        for leak in LEAKS:
            assert leak not in text, f"{name} holds {leak!r}"
    records = [r for r in caplog.records if r.exc_info]
    assert records and all(NIK not in (r.exc_text or "") for r in records)


def test_the_filter_masks_arguments_tracebacks_and_bad_formats() -> None:
    flt = RedactingFilter()
    try:
        raise ValueError(f"NIK {NIK} HP {PHONE}")
    except ValueError as exc:
        exc_info = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", (NIK,), exc_info)
    flt.filter(record)
    assert record.getMessage() == "got 3673********0001"
    assert record.exc_text is not None and NIK not in record.exc_text
    assert PHONE not in record.exc_text

    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "%d and %d", (NIK,), None)
    flt.filter(broken)
    assert NIK not in broken.getMessage()
