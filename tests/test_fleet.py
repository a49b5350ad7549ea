"""Two bot processes on one PostgreSQL database in webhook mode, the emulator spreading
Telegram's deliveries over both (``tests/fleet_harness.py``), and one of them killed with SIGKILL
in the middle of a registration and in the middle of an announcement (while other citizens ask
questions): no update lost or handled twice, the registration completes on the other, each
recipient gets the announcement at most once (once unless its send was in flight at the kill),
and the messages of both processes together never exceed the fleet's send budget."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from desk.outbox import DONE
from store import Stores
from tests.emulator import BotAPIEmulator
from tests.fleet_harness import (
    RECIPIENTS,
    FleetRig,
    announcement_with_a_kill,
    answers_to_askers,
    max_rate,
    message_times,
)
from tests.harness import Reply
from tests.test_registration import MASKED, NIK, NIK_TYPED, PHONE, last, text_of

CITIZEN = 7801
BUDGET = 10


@pytest.fixture
async def rig(emu: BotAPIEmulator, pg_url: str, tmp_path: Path) -> AsyncIterator[FleetRig]:
    fleet = FleetRig(emu, pg_url, tmp_path / "fleet", {"BOT_SEND_BUDGET": str(BUDGET)})
    await asyncio.gather(fleet.start_worker(), fleet.start_worker())
    try:
        yield fleet
    finally:
        emu.release()
        codes = await fleet.stop()
        logs = "\n".join(w.log_tail() for w in fleet.workers)
        assert all(code in (0, -9) for code in codes), logs
        assert "Traceback" not in logs, logs
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


def no_step_twice(steps: list[list[Reply]]) -> None:
    """Within one update's replies, no message was sent twice (a second handling would)."""
    for replies in steps:
        sent = Counter((r.method, r.text) for r in replies if r.method == "sendMessage")
        assert all(n == 1 for n in sent.values()), sent


async def test_a_registration_survives_the_kills_of_the_workers_handling_it(
    rig: FleetRig, emu: BotAPIEmulator, tmp_path: Path
) -> None:
    steps: list[list[Reply]] = []
    steps.append(await rig.send(CITIZEN, "/daftar"))
    [consent] = steps[-1]
    assert consent.text == text_of("reg_consent", days=730)
    steps.append(await rig.press(CITIZEN, consent, "Setuju"))
    steps.append(await rig.send(CITIZEN, "Siti Aminah"))
    assert last(steps[-1]).text == text_of("reg_ask_nik")

    # The NIK: its worker is killed half-way (the NIK deleted from the chat is held unanswered).
    emu.hold("deleteMessage", "sendMessage")
    before = len(emu.calls)
    nik = emu.send_text(CITIZEN, NIK_TYPED)
    claimer = rig.worker_of(await rig.claimed_by(nik["update_id"]))
    await emu.wait_until(lambda: emu.holding > 0, 30)  # the handler is in the middle of it
    await rig.kill(claimer)
    await asyncio.sleep(0.3)  # the emulator sees the dead worker's held request go away
    emu.release()
    await rig.done(nik["update_id"])
    steps.append(rig.replies(CITIZEN, before))
    [survivor] = rig.live()
    assert survivor is not claimer
    [[attempts, finished_by]] = await rig.query(
        "SELECT attempts, claimed_by FROM inbox WHERE update_id = %s", (nik["update_id"],)
    )
    assert attempts == 2 and rig.worker_of(finished_by) is survivor
    deleted = [c for c in emu.calls[before:] if c.method == "deleteMessage" and c.ok]
    assert len(deleted) == 1, "the NIK left the chat once"
    acks = [r for r in steps[-1] if MASKED in r.text]
    assert len(acks) == 1, f"the step was handled once: {steps[-1]}"
    assert text_of("reg_ask_phone") in last(steps[-1]).text

    # The rest of the registration, on the worker that is left.
    steps.append(await rig.send(CITIZEN, PHONE))
    kecamatan = last(steps[-1])
    steps.append(await rig.press(CITIZEN, kecamatan, "Cipocok Jaya"))
    steps.append(await rig.press(CITIZEN, last(steps[-1]), "Karundang"))
    programmes = last(steps[-1])
    if not programmes.buttons[0][0].startswith("✅"):
        steps.append(await rig.press(CITIZEN, programmes, "Korea"))
        programmes = last(steps[-1])
    steps.append(await rig.press(CITIZEN, programmes, "Lanjut"))
    steps.append(await rig.press(CITIZEN, last(steps[-1]), "bersedia"))
    steps.append(await rig.send(CITIZEN, "siti@example.com"))

    # "Kirim": a new worker has joined; the one that claims the press is killed after the
    # registration is saved and the flow ended, before the confirmation leaves. The retry
    # starts from the state the press first started with, so it confirms (once) instead of
    # finding no registration in progress.
    await rig.start_worker()
    summary = last(steps[-1])
    assert summary.message_id is not None
    emu.hold("sendMessage", "editMessageText")
    before = len(emu.calls)
    submit = emu.press(CITIZEN, summary.message_id, summary.button("Kirim"))
    claimer = rig.worker_of(await rig.claimed_by(submit["update_id"]))
    await emu.wait_until(lambda: emu.holding > 0, 30)
    await rig.kill(claimer)
    await asyncio.sleep(0.3)
    emu.release()
    await rig.done(submit["update_id"])
    steps.append(rig.replies(CITIZEN, before))
    # The killed worker had answered the button press (that call was not held); the retry
    # answers it again and Telegram refuses the second answer, which the bot shrugs off.
    query_id = submit["callback_query"]["id"]
    again = [c for c in emu.rejected if c.params.get("callback_query_id") == query_id]
    assert [c.method for c in again] == ["answerCallbackQuery"]
    emu.rejected[:] = [c for c in emu.rejected if c not in again]
    confirmations = [r for r in steps[-1] if re.search(r"SRG-\d{4}-\d{6}", r.text)]
    assert len(confirmations) == 1, steps[-1]
    reg_no = re.search(r"SRG-\d{4}-\d{6}", confirmations[0].text)
    assert reg_no is not None
    no_step_twice(steps)

    with Stores.open(tmp_path / "check", database_url=rig.db_url, shared=True) as stores:
        record = stores.registrations.get_by_user(CITIZEN)
        assert record is not None and record["reg_no"] == reg_no.group()
        assert (record["nik"], record["phone"], record["full_name"]) == (
            NIK,
            "+6281234567890",
            "Siti Aminah",
        )
    rows = await rig.query("SELECT count(*), count(done_at), max(attempts) FROM inbox")
    assert rows == [(len(emu.webhook_accepted_by), len(emu.webhook_accepted_by), 2)]
    retried = await rig.query("SELECT update_id FROM inbox WHERE attempts > 1 ORDER BY 1")
    assert retried == [(nik["update_id"],), (submit["update_id"],)], "the killed ones only"
    assert max_rate(message_times(emu)) <= BUDGET


async def test_an_announcement_survives_the_kill_of_its_sender(
    rig: FleetRig, emu: BotAPIEmulator, tmp_path: Path
) -> None:
    run = await announcement_with_a_kill(rig, emu, tmp_path)
    assert run.killed_at < len(RECIPIENTS)
    assert run.new_leader is not run.leader
    final = run.final
    assert final is not None and final["state"] == DONE, final
    for user, answered in answers_to_askers(emu).items():
        assert answered == 1, f"citizen {user} answered once, not {answered} times"
    figures = final["figures"]
    counts = run.received
    assert max(counts.values()) == 1, f"no recipient got it twice: {counts}"
    missing = [chat for chat in RECIPIENTS if chat not in counts]
    # A recipient whose send was in flight at the kill is "unknown": never sent again.
    assert len(missing) <= figures["unknown"] <= 4, (missing, figures)
    assert figures["sent"] + figures["unknown"] == len(RECIPIENTS), figures
    assert figures["sent"] <= len(counts)
    assert max_rate(message_times(emu)) <= BUDGET, "the fleet kept its send budget"
