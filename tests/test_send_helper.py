"""The one send/edit helper: an unchanged screen is never edited again, lengths are counted as
Telegram counts them (UTF-16), and a rejected token never reaches the output."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.telegram_html import clip, rendered_text, utf16_len
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness
from tests.test_broadcast_bot import STAFF, desk  # noqa: F401 (fixture)
from tests.test_handoff import CITIZEN, group_message
from tests.test_handoff import desk as handoff_desk  # noqa: F401 (fixture)


def test_clip_counts_utf16_units() -> None:
    emoji = "😀" * 3000  # 6,000 UTF-16 units
    assert utf16_len(clip(emoji, 3500)) == 3500
    assert clip("abc", 10) == "abc"
    assert utf16_len(clip("a😀", 2)) == 1, "never half a surrogate pair"


def test_rendered_text_is_what_telegram_shows() -> None:
    assert rendered_text("  <b>Halo</b> &amp; <i>selamat</i>\n") == "Halo & selamat"


async def test_refreshing_an_unchanged_list_sends_no_edit(desk: BotHarness) -> None:  # noqa: F811
    [listing] = await desk.send(STAFF, "/siaran")
    since = len(desk.emu.calls)
    await desk.press(STAFF, listing, "Perbarui")
    edits = [c for c in desk.emu.calls[since:] if c.method.startswith("editMessage")]
    assert edits == [], "the list did not change: no edit reaches Telegram"


async def test_a_relay_of_emoji_fits_telegram(handoff_desk: BotHarness) -> None:  # noqa: F811
    await handoff_desk.send(CITIZEN, "/petugas")
    since = len(handoff_desk.emu.calls)
    [ack] = await handoff_desk.send(CITIZEN, "🙏" * 3000)
    assert "sudah diteruskan ke petugas" in ack.text
    relayed = group_message(handoff_desk, since)["text"]
    assert utf16_len(relayed) <= 4096 and "🙏" in relayed


async def test_a_rejected_token_is_not_printed(emu: BotAPIEmulator, tmp_path: Path) -> None:
    token = "999999:not-the-right-token-XYZ"
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": emu.url,
        "BOT_DATA_DIR": str(tmp_path / "data"),
        "BOT_CONFIG": str(REPO / "config.yaml"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=REPO,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    output = (out + err).decode()
    assert process.returncode == 3, output
    assert "TELEGRAM_BOT_TOKEN" in output
    assert token not in output and "not-the-right-token" not in output
