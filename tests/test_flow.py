"""One active flow per citizen: starting a flow ends the one before, and typed text goes to the
flow that is active now (or to the staff, while a conversation with them is open)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest

from tests.harness import BotHarness, Reply, texts_of
from tests.test_handoff import CITIZEN, GROUP, desk, group_message  # noqa: F401 (fixture)

FREE_TEXT = "Halo petugas, kapan tes bahasa?"
Start = Callable[[BotHarness], Awaitable[list[Reply]]]


async def registration(bot: BotHarness) -> list[Reply]:
    return await bot.send(CITIZEN, "/daftar")


async def screening(bot: BotHarness) -> list[Reply]:
    return await bot.send(CITIZEN, "/cekkelayakan")


async def handoff(bot: BotHarness) -> list[Reply]:
    return await bot.send(CITIZEN, "/petugas")


STARTS: dict[str, Start] = {
    "registration": registration,
    "screening": screening,
    "handoff": handoff,
}


def active_flow(bot: BotHarness) -> str | None:
    assert bot.app is not None
    slot = bot.app.user_data.get(CITIZEN, {}).get("flow")
    return slot["name"] if slot else None


async def typed(bot: BotHarness) -> tuple[list[Reply], list[str]]:
    """The citizen types the free text: the bot's replies, and what reached the staff group."""
    since = len(bot.emu.calls)
    replies = await bot.send(CITIZEN, FREE_TEXT)
    relayed = [
        c.params["text"]
        for c in bot.emu.calls[since:]
        if c.chat_id == GROUP and c.ok and c.method == "sendMessage"
    ]
    return replies, relayed


def assert_went_to(flow: str, replies: list[Reply], relayed: list[str]) -> None:
    text = texts_of(replies)
    if flow == "handoff":
        assert relayed and FREE_TEXT in relayed[-1], "the message reaches the staff"
        assert "sudah diteruskan ke petugas" in text
        return
    assert not relayed, f"{flow}: the message must not reach the staff"
    if flow == "registration":  # a question typed at the consent step: answered, step re-asked
        assert "Setuju" in str([r.buttons for r in replies]), text
    else:  # the questionnaire answers it aside and shows where the citizen was
        assert any(data.startswith("scr:") for r in replies for _, data in r.buttons), text


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(STARTS, 2)))
async def test_the_second_flow_takes_the_text(desk: BotHarness, first: str, second: str) -> None:  # noqa: F811
    await STARTS[first](desk)
    assert active_flow(desk) == first
    await STARTS[second](desk)
    assert active_flow(desk) == second, f"starting {second} ends {first}"
    replies, relayed = await typed(desk)
    assert_went_to(second, replies, relayed)


async def test_after_cancelling_an_open_ticket_takes_the_text_again(desk: BotHarness) -> None:  # noqa: F811
    """Hubungi petugas, /cekkelayakan, /daftar, /batal, then a message for the staff."""
    await handoff(desk)
    await screening(desk)
    await registration(desk)
    await desk.send(CITIZEN, "/batal")
    assert active_flow(desk) is None, "no questionnaire left behind"
    since = len(desk.emu.calls)
    replies, relayed = await typed(desk)
    assert_went_to("handoff", replies, relayed)
    assert FREE_TEXT in group_message(desk, since)["text"]


async def test_a_flow_survives_a_restart(desk: BotHarness) -> None:  # noqa: F811
    await screening(desk)
    await desk.restart()
    assert active_flow(desk) == "screening"
    replies, relayed = await typed(desk)
    assert_went_to("screening", replies, relayed)


async def test_a_state_that_cannot_be_saved_is_said_so(desk: BotHarness) -> None:  # noqa: F811
    """A full disk: the citizen is told the step was not kept, never shown the next one."""
    assert desk.app is not None and desk.app.persistence is not None

    async def disk_full(user_id: int, data: object) -> None:
        raise OSError(28, "No space left on device")

    desk.app.persistence.update_user_data = disk_full  # type: ignore[method-assign]
    replies = await desk.send(CITIZEN, "/cekkelayakan")
    text = texts_of(replies)
    assert "belum tersimpan" in text and "Pertanyaan 1" not in text
