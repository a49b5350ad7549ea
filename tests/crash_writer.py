"""Child process of the crash test: saves registrations in a loop and prints each acknowledged
one as ``<reg_no> <user_id>`` until it is killed.

Usage: ``python tests/crash_writer.py DATA_DIR FIRST_USER_ID``
"""

from __future__ import annotations

import sys
from pathlib import Path

from store import Stores

#: Force a compaction this often, so that kills also land in the middle of one.
COMPACT_EVERY = 20


def main(data_dir: Path, first_user_id: int) -> None:
    stores = Stores.open(data_dir)
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
        print(record["reg_no"], user_id, flush=True)
        if user_id % COMPACT_EVERY == 0:
            registrations.database.compact()
        user_id += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
