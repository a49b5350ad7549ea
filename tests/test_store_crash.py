"""SIGKILL a process that is saving registrations, at random moments, many times: after every
kill the store opens and holds every registration the child had seen acknowledged.

Three independent data directories are exercised side by side to keep the test short; in each,
the writer is killed eight times, so 24 kills in all.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from store import Stores

ROOT = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).with_name("crash_writer.py")
LANES = 3
KILLS_PER_LANE = 8
TIME_BUDGET = 20.0  # seconds, for the whole test
START_TIMEOUT = 10.0


def read_some(fd: int, timeout: float) -> bytes:
    """Bytes available on ``fd`` within ``timeout`` (b"" at end of file)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    assert ready, "the writer printed nothing in time"
    return os.read(fd, 65536)


def run_and_kill(
    data_dir: Path, first_user_id: int, rng: random.Random, startup: bool
) -> dict[str, int]:
    """Start the writer and SIGKILL it; return the registrations it printed as acknowledged.

    ``startup``: kill at a random instant soon after launch (import, recovery of the previous
    kill); otherwise at a random instant after its first acknowledged write.
    """
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), str(first_user_id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None and child.stderr is not None
    out = b""
    if startup:
        time.sleep(rng.uniform(0.0, 0.3))
    else:
        while b"\n" not in out:
            chunk = read_some(child.stdout.fileno(), START_TIMEOUT)
            assert chunk, child.stderr.read().decode()
            out += chunk
        time.sleep(rng.uniform(0.0, 0.25))
    child.send_signal(signal.SIGKILL)
    while chunk := read_some(child.stdout.fileno(), START_TIMEOUT):
        out += chunk
    child.wait(timeout=START_TIMEOUT)
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()
    child.stdout.close()
    child.stderr.close()
    acknowledged = {}
    for line in out.decode().splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was not seen by anyone
            reg_no, user_id = line.split()
            acknowledged[reg_no] = int(user_id)
    return acknowledged


def lane(data_dir: Path, seed: int) -> int:
    """Kill the writer ``KILLS_PER_LANE`` times, checking the store after each kill."""
    rng = random.Random(seed)
    acknowledged: dict[str, int] = {}
    for kill in range(KILLS_PER_LANE):
        first_user_id = (seed * 100 + kill + 1) * 1_000_000
        acknowledged |= run_and_kill(data_dir, first_user_id, rng, startup=kill % 4 == 3)
        with Stores.open(data_dir) as stores:
            registrations = stores.registrations
            missing = [
                reg_no
                for reg_no, user_id in acknowledged.items()
                if (registrations.get(reg_no) or {}).get("user_id") != user_id
            ]
            assert missing == [], f"{data_dir}, after kill {kill + 1}: lost {missing[:5]}"
            # At most one write per kill can be durable without having been acknowledged.
            assert len(acknowledged) <= len(registrations) <= len(acknowledged) + kill + 1
            numbers = [r["reg_no"] for r in registrations.iter_all()]
            assert len(set(numbers)) == len(numbers)
    return len(acknowledged)


def test_every_acknowledged_registration_survives_sigkill(tmp_path: Path) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(LANES) as pool:
        futures = [pool.submit(lane, tmp_path / f"data{n}", n + 1) for n in range(LANES)]
        acknowledged = [future.result() for future in futures]
    assert LANES * KILLS_PER_LANE >= 20
    assert all(count >= KILLS_PER_LANE for count in acknowledged)
    assert time.monotonic() - started < TIME_BUDGET


def compact_and_kill(
    data_dir: Path, first_user_id: int, kill_at: int
) -> tuple[dict[str, int], str]:
    """Run the writer in ``--compact`` mode: writes go on in a thread while the registrations
    store compacts, killed just before step ``kill_at`` of the compaction."""
    child = subprocess.run(
        [
            sys.executable,
            str(WRITER),
            "--compact",
            str(data_dir),
            str(first_user_id),
            str(kill_at),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    acknowledged, steps = {}, ""
    for line in child.stdout.splitlines(keepends=True):
        if line.startswith("steps"):
            steps = line
        elif line.endswith("\n"):
            reg_no, user_id = line.split()
            acknowledged[reg_no] = int(user_id)
    return acknowledged, steps


def test_a_kill_at_every_step_of_a_compaction_beside_writes_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acknowledged, steps = compact_and_kill(data_dir, 1_000_000, 10**9)
    total = int(steps.split()[1])
    assert total >= 8  # link, new journal, rename, fsyncs, snapshot write, replace, unlink...
    for kill_at in range(1, total + 1):
        found, steps = compact_and_kill(data_dir, (kill_at + 1) * 1_000_000, kill_at)
        assert steps == "", f"step {kill_at} was not reached"
        acknowledged |= found
        with Stores.open(data_dir) as stores:
            registrations = stores.registrations
            missing = [
                reg_no
                for reg_no, user_id in acknowledged.items()
                if (registrations.get(reg_no) or {}).get("user_id") != user_id
            ]
            assert missing == [], f"killed before compaction step {kill_at}: lost {missing[:5]}"
            files = sorted(
                path.name for path in data_dir.iterdir() if "registrations" in path.name
            )
            assert not [name for name in files if name.endswith((".tmp", ".new"))], files
