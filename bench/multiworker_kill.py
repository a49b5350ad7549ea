"""Two workers on one PostgreSQL database, one killed with SIGKILL, again and again: in the
middle of a registration step (the NIK, or the final "Kirim") and in the middle of an
announcement to 30 subscribers while 20 other citizens ask something. Each round has a fresh
database, emulator and pair of workers (``tests/fleet_harness.py``; ``BOT_SEND_BUDGET`` 10).

Counted per round, then in total:
* lost: an update accepted (200) and never done; a registration not stored; a citizen never
  answered; a recipient neither sent to nor counted ``unknown``;
* duplicated: an update's reply sent twice; a NIK deleted twice; a recipient sent to twice;
* unknown: recipients whose send was in flight at the kill (received or not, never resent);
* the most messages of both workers together in any one second, against the budget.

Run: ``.venv/bin/python bench/multiworker_kill.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from desk.outbox import DONE
from store import Stores
from store.pg import migrate
from tests import pgcluster
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
from tests.test_registration import MASKED, NIK_TYPED, PHONE, last

BUDGET = 10


@dataclass
class Round:
    lost: int = 0
    duplicated: int = 0
    unknown: int = 0
    missing: int = 0  # recipients not reached (each counted unknown: in flight at the kill)
    max_rate: int = 0
    seconds: float = 0.0


def duplicates(steps: list[list[Reply]]) -> int:
    count = 0
    for replies in steps:
        sent = Counter((r.method, r.text) for r in replies if r.method == "sendMessage")
        count += sum(n - 1 for n in sent.values())
    return count


async def registration(rig: FleetRig, emu: BotAPIEmulator, user: int, kill_at: str) -> Round:
    """A registration whose worker is killed at the NIK step or at the final "Kirim"."""
    result = Round()
    steps: list[list[Reply]] = []

    async def killed(update: dict[str, Any]) -> list[Reply]:
        before = len(emu.calls)
        claimer = rig.worker_of(await rig.claimed_by(update["update_id"]))
        await emu.wait_until(lambda: emu.holding > 0, 30)
        await rig.kill(claimer)
        await asyncio.sleep(0.3)
        emu.release()
        await rig.done(update["update_id"])
        return rig.replies(user, before)

    steps.append(await rig.send(user, "/daftar"))
    steps.append(await rig.press(user, last(steps[-1]), "Setuju"))
    steps.append(await rig.send(user, "Siti Aminah"))
    if kill_at == "nik":
        emu.hold("deleteMessage", "sendMessage")
        deletes = len(emu.calls_for("deleteMessage"))
        steps.append(await killed(emu.send_text(user, NIK_TYPED)))
        result.duplicated += max(0, len(emu.calls_for("deleteMessage")) - deletes - 1)
        if sum(MASKED in r.text for r in steps[-1]) != 1:
            result.lost += 1
        await rig.start_worker()
    else:
        steps.append(await rig.send(user, NIK_TYPED))
    steps.append(await rig.send(user, PHONE))
    steps.append(await rig.press(user, last(steps[-1]), "Cipocok Jaya"))
    steps.append(await rig.press(user, last(steps[-1]), "Karundang"))
    programmes = last(steps[-1])
    if not programmes.buttons[0][0].startswith("✅"):
        steps.append(await rig.press(user, programmes, "Korea"))
        programmes = last(steps[-1])
    steps.append(await rig.press(user, programmes, "Lanjut"))
    steps.append(await rig.press(user, last(steps[-1]), "bersedia"))
    steps.append(await rig.send(user, "siti@example.com"))
    summary = last(steps[-1])
    if kill_at == "submit":
        emu.hold("sendMessage", "editMessageText")
        assert summary.message_id is not None
        press = emu.press(user, summary.message_id, summary.button("Kirim"))
        steps.append(await killed(press))
        await rig.start_worker()
    else:
        steps.append(await rig.press(user, summary, "Kirim"))
    confirmations = [r for r in steps[-1] if re.search(r"SRG-\d{4}-\d{6}", r.text)]
    result.duplicated += duplicates(steps) + max(0, len(confirmations) - 1)
    with Stores.open(rig.root / "check", database_url=rig.db_url, shared=True) as stores:
        if stores.registrations.get_by_user(user) is None or not confirmations:
            result.lost += 1
    return result


async def announcement(rig: FleetRig, emu: BotAPIEmulator) -> Round:
    """30 recipients; 20 citizens ask meanwhile; the sender is killed a third of the way."""
    result = Round()
    run = await announcement_with_a_kill(rig, emu, rig.root, wait=60.0)
    final = run.final
    assert final is not None
    figures = final["figures"]
    result.duplicated += sum(n - 1 for n in run.received.values() if n > 1)
    missing = sum(1 for chat in RECIPIENTS if chat not in run.received)
    result.unknown = int(figures["unknown"])
    result.missing = missing
    result.lost += max(0, missing - result.unknown) + (0 if final["state"] == DONE else 1)
    for answered in answers_to_askers(emu).values():
        result.lost += 0 if answered else 1
        result.duplicated += max(0, answered - 1)
    return result


async def one_round(server: pgcluster.Server, template: str, number: int, root: Path) -> Round:
    name = f"kill_{number}"
    with psycopg.connect(server.base_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    started = time.perf_counter()
    total = Round()
    async with BotAPIEmulator() as emu:
        rig = FleetRig(emu, server.url(name), root / name, {"BOT_SEND_BUDGET": str(BUDGET)})
        try:
            await asyncio.gather(rig.start_worker(), rig.start_worker())
            kill_at = "nik" if number % 2 else "submit"
            for part in (
                await registration(rig, emu, 7000 + number, kill_at),
                await announcement(rig, emu),
            ):
                total.lost += part.lost
                total.duplicated += part.duplicated
                total.unknown += part.unknown
                total.missing += part.missing
            lost_updates = await rig.query("SELECT count(*) FROM inbox WHERE done_at IS NULL")
            total.lost += int(lost_updates[0][0])
            total.max_rate = max_rate(message_times(emu))
        finally:
            emu.release()
            await rig.stop()
    total.seconds = time.perf_counter() - started
    print(
        f"round {number:2d} (registration killed at {kill_at:6}, announcement killed):"
        f" lost {total.lost}  duplicated {total.duplicated}  unknown {total.unknown}"
        f" (not reached {total.missing})  max {total.max_rate}/s (budget {BUDGET}/s)"
        f"  {total.seconds:.1f} s",
        flush=True,
    )
    return total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    server = pgcluster.start()
    template = "kill_template"
    try:
        with psycopg.connect(server.base_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
        migrate(server.url(template))
        with tempfile.TemporaryDirectory() as tmp:
            rounds = [
                await one_round(server, template, n, Path(tmp)) for n in range(1, args.rounds + 1)
            ]
    finally:
        server.stop()
    print(
        f"\n{len(rounds)} rounds, 2 kills each: lost {sum(r.lost for r in rounds)},"
        f" duplicated {sum(r.duplicated for r in rounds)},"
        f" unknown (in flight at the kill) {sum(r.unknown for r in rounds)},"
        f" of which not reached {sum(r.missing for r in rounds)};"
        f" max send rate {max(r.max_rate for r in rounds)}/s against a budget of {BUDGET}/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
