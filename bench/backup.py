"""Backup and restore of the embedded store at 10k registrations (and more with --sizes):
``python -m bot backup`` (its own process, start-up included) while a writer keeps saving
registrations (the running bot, holding the locks), then ``verify`` and
``restore`` into a fresh directory; archive size; the worst registration write while the
backup reads the files (a backup takes no lock, so it should not delay the bot).

Run: .venv/bin/python bench/backup.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from storage import new_data

from store import Stores
from store.backup import restore_backup, verify_backup

ROOT = Path(__file__).resolve().parent.parent


def run(size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, archive, restored = Path(tmp) / "data", Path(tmp) / "b.tar.gz", Path(tmp) / "r"
        stores = Stores.open(data)
        start = time.perf_counter()
        batch = stores.registrations
        for n in range(1, size + 1):
            batch.save(10_000_000 + n, 10_000_000 + n, new_data(n), actor=0)
        fill = time.perf_counter() - start
        stop = threading.Event()
        writes: list[float] = []

        def writer() -> None:
            n = size
            while not stop.is_set():
                n += 1
                began = time.perf_counter()
                stores.registrations.save(10_000_000 + n, 10_000_000 + n, new_data(n), actor=0)
                writes.append(time.perf_counter() - began)

        idle: list[float] = []
        for n in range(200):  # the write latency without a backup, for comparison
            began = time.perf_counter()
            stores.registrations.save(
                20_000_000 + n, 20_000_000 + n, new_data(5_000_000 + n), actor=0
            )
            idle.append(time.perf_counter() - began)
        thread = threading.Thread(target=writer)
        thread.start()
        start = time.perf_counter()
        # the real command, in its own process as an operator runs it (the bot holds the locks)
        environ = {
            **os.environ,
            "BOT_DATA_DIR": str(data),
            "BOT_CONFIG": str(ROOT / "config.yaml"),
        }
        subprocess.run(
            [sys.executable, "-m", "bot", "backup", str(archive)],
            cwd=ROOT, env=environ, check=True, capture_output=True,
        )  # fmt: skip
        backup = time.perf_counter() - start
        stop.set()
        thread.join()
        stores.close()
        start = time.perf_counter()
        manifest, _ = verify_backup(archive)
        verify = time.perf_counter() - start
        start = time.perf_counter()
        restore_backup(archive, restored)
        with Stores.open(restored) as again:
            count = len(again.registrations)
        restore = time.perf_counter() - start
        expected = manifest.counts()["registrations"]["registrations"]
        assert count == expected, (count, expected)
        idle.sort()
        writes.sort()
        print(
            f"{size:>7} registrations (filled in {fill:.1f} s): `bot backup` {backup:.2f} s while "
            f"{len(writes)} writes went on, archive {archive.stat().st_size / 1e6:.1f} MB, "
            f"verify {verify:.2f} s, restore+open {restore:.2f} s, counts equal ({count}); "
            f"write p50/max {idle[len(idle) // 2] * 1000:.1f}/{idle[-1] * 1000:.1f} ms idle, "
            f"{writes[len(writes) // 2] * 1000:.1f}/{writes[-1] * 1000:.1f} ms during the backup",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000")
    for size in parser.parse_args().sizes.split(","):
        run(int(size))


if __name__ == "__main__":
    main()
