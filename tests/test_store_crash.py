"""SIGKILL a process that is saving registrations, at random moments, many times: after every
kill the store opens and holds every registration the child had seen acknowledged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import Stores

ROOT = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 24
TIME_BUDGET = 20.0  # seconds, for the whole test


def run_and_kill(data_dir: Path, first_user_id: int, delay: float) -> dict[str, int]:
    """Start the writer, SIGKILL it after ``delay`` seconds; return what it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), str(first_user_id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL, err.decode()
    acknowledged = {}
    for line in out.decode().splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was not seen by anyone
            reg_no, user_id = line.split()
            acknowledged[reg_no] = int(user_id)
    return acknowledged


def test_every_acknowledged_registration_survives_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(20260101)
    started = time.monotonic()
    acknowledged: dict[str, int] = {}
    killed_while_writing = 0

    for kill in range(KILLS):
        # Mostly while writing; sometimes during start-up and recovery of the previous kill.
        delay = rng.uniform(0.0, 0.15) if kill % 4 == 0 else rng.uniform(0.25, 0.5)
        seen = run_and_kill(data_dir, first_user_id=(kill + 1) * 1_000_000, delay=delay)
        killed_while_writing += bool(seen)
        acknowledged.update(seen)

        with Stores.open(data_dir) as stores:
            registrations = stores.registrations
            missing = [
                reg_no
                for reg_no, user_id in acknowledged.items()
                if (registrations.get(reg_no) or {}).get("user_id") != user_id
            ]
            assert missing == [], f"after kill {kill + 1}: lost {missing[:5]}"
            # At most one write per kill can be durable without having been acknowledged.
            assert len(acknowledged) <= len(registrations) <= len(acknowledged) + kill + 1
            numbers = [r["reg_no"] for r in registrations.iter_all()]
            assert len(set(numbers)) == len(numbers)

    assert killed_while_writing >= KILLS // 2
    assert len(acknowledged) > 1_000
    assert time.monotonic() - started < TIME_BUDGET
