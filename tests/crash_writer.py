"""Child process of the crash tests. Three modes:

``python tests/crash_writer.py DATA_DIR FIRST_USER_ID``
    Saves registrations in a loop, printing each acknowledged one as ``<reg_no> <user_id>``,
    until it is killed (forcing a compaction every ``COMPACT_EVERY`` writes).
``python tests/crash_writer.py --compact DATA_DIR FIRST_USER_ID KILL_AT``
    The same writes in a thread, while the main thread compacts the registrations store and
    SIGKILLs the process just before the KILL_AT-th file-system step of that compaction
    (prints ``steps N`` if the compaction finished first).
``python tests/crash_writer.py --erase DATA_DIR USER_ID KILL_AT``
    Erases USER_ID (``Stores.delete_user``, with the ``tickets`` deleter registered) and
    SIGKILLs the process just before the KILL_AT-th file-system step of the erasure (prints
    ``steps N`` if the erasure finished first).

A "file-system step" is one call of a ``store.fs`` function that writes, syncs, links, renames
or removes: every point at which a kill leaves a different set of bytes on disk.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from store import Stores, fs
from store.durable import Database

#: Force a compaction this often, so that kills also land in the middle of one.
COMPACT_EVERY = 20
_OUTPUT = threading.Lock()
STEPS = ("write_all", "sync_data", "fsync_dir", "link", "replace", "unlink", "open_private")


def say(line: str) -> None:
    """One whole line on stdout (two threads print)."""
    with _OUTPUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class KillSwitch:
    """Counts file-system steps taken by the armed thread and SIGKILLs before step ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.count = 0
        self.local = threading.local()
        for name in STEPS:
            setattr(fs, name, self._wrap(getattr(fs, name)))

    def _wrap(self, step: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(step)
        def counted(*args: Any, **kwargs: Any) -> Any:
            if getattr(self.local, "armed", False):
                self.count += 1
                if self.count == self.at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return step(*args, **kwargs)

        return counted

    def run(self, action: Callable[[], object]) -> None:
        self.local.armed = True
        try:
            action()
        finally:
            self.local.armed = False
        say(f"steps {self.count}")


def tickets_deleter(database: Database) -> Callable[[int], int]:
    """The deleter of the fake handoff store the erasure tests fill (``tickets`` store)."""
    table = database.table("tickets", indexes=("user_id",))

    def delete(user_id: int) -> int:
        return table.delete_many(doc["id"] for doc in table.find_by("user_id", user_id))

    return delete


def save_forever(stores: Stores, first_user_id: int, compact: bool) -> None:
    registrations = stores.registrations
    user_id = first_user_id
    while True:
        record, _ = registrations.save(
            user_id,
            user_id,
            {
                "full_name": f"Warga {user_id}",
                "nik": f"3673{user_id:012d}",
                "phone": f"+628{user_id:010d}",
                "kecamatan": "cipocok_jaya",
                "kelurahan": "karundang",
                "programmes": ["korea_work", "scholarship"],
                "training_willing": True,
                "screening": {"eps_korea": "eligible"},
            },
            actor=user_id,
        )
        say(f"{record['reg_no']} {user_id}")
        if compact and user_id % COMPACT_EVERY == 0:
            registrations.database.compact()
        user_id += 1


def main(argv: list[str]) -> None:
    if argv[0] == "--erase":
        data_dir, user_id, kill_at = Path(argv[1]), int(argv[2]), int(argv[3])
        stores = Stores.open(data_dir)
        stores.register_user_deleter("tickets", tickets_deleter(stores.database("tickets")))
        KillSwitch(kill_at).run(lambda: stores.delete_user(user_id))
        stores.close()
    elif argv[0] == "--compact":
        data_dir, first_user_id, kill_at = Path(argv[1]), int(argv[2]), int(argv[3])
        stores = Stores.open(data_dir)
        switch = KillSwitch(kill_at)
        writer = threading.Thread(target=save_forever, args=(stores, first_user_id, False))
        writer.daemon = True
        writer.start()
        database = stores.registrations.database
        start = database.seq
        while database.seq < start + 5:  # the journal has lines, and writes are going on
            threading.Event().wait(0.001)
        switch.run(database.compact)
        os.kill(os.getpid(), signal.SIGKILL)  # the writer never stops by itself
    else:
        save_forever(Stores.open(Path(argv[0])), int(argv[1]), compact=True)


if __name__ == "__main__":
    main(sys.argv[1:])
