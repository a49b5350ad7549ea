"""The bytes of a store's files: the journal line, the snapshot text, and their checks.

A journal line is ``<crc32 hex> {"s": N, "ops": [...]}``; a snapshot is
``{"format": 1, "seq": S, "tables": {table: {key: doc}}}`` with one document a line. How and
when they are written (fsync, atomic replace, compaction) is ``store/durable.py``.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

SNAPSHOT_FORMAT = 1
#: Documents serialised between two offers of the GIL while a snapshot is written.
SNAPSHOT_GROUP = 256

Doc = dict[str, Any]


def dumps(value: object) -> str:
    """Compact JSON, UTF-8 kept readable; refuses NaN and non-JSON types."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def clone(doc: Mapping[str, Any]) -> Doc:
    """A deep, independent copy of a stored document (the store never hands out its own)."""
    copied: Doc = json.loads(dumps(doc))
    return copied


def snapshot_chunks(seq: int, tables: Mapping[str, Mapping[str, Doc]]) -> Iterator[str]:
    """The snapshot text, one document a line (readable, and cheap to stream). Between groups
    of documents the GIL is offered to the writing threads, so a long snapshot written in the
    background delays a write by one group's worth of work at most."""
    yield f'{{"format":{SNAPSHOT_FORMAT},"seq":{seq},"tables":{{'
    for number, (table, docs) in enumerate(tables.items()):
        yield f"{',' if number else ''}\n{dumps(table)}:{{"
        first = True
        group: list[str] = []
        for key, doc in docs.items():
            group.append(f"{'' if first else ','}\n{dumps(key)}:{dumps(doc)}")
            first = False
            if len(group) == SNAPSHOT_GROUP:
                yield "".join(group)
                group = []
                time.sleep(0)
        yield "".join(group)
        yield "}"
    yield "\n}}\n"


def decode_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """A journal line as a record, or None and the problem."""
    crc, _, payload = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(payload):
            return None, "checksum"
        record = json.loads(payload)
    except ValueError as error:
        return None, short(error)
    if not isinstance(record, dict) or not isinstance(record.get("s"), int):
        return None, "shape"
    ops = record.get("ops")
    if not isinstance(ops, list) or not all(_valid_op(op) for op in ops):
        return None, "shape"
    return record, ""


def _valid_op(op: object) -> bool:
    """True for ``{"t": table, "op": "put", "k": key, "d": {...}}`` or a ``"del"`` op."""
    if not isinstance(op, dict) or not isinstance(op.get("t"), str):
        return False
    if not isinstance(op.get("k"), str):
        return False
    return op.get("op") == "del" or (op.get("op") == "put" and isinstance(op.get("d"), dict))


def snapshot_problem(data: object) -> str:
    """What is wrong with a parsed snapshot, or an empty string."""
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        return f"expected format {SNAPSHOT_FORMAT}"
    if not isinstance(data.get("seq"), int) or data["seq"] < 0:
        return "seq"
    tables = data.get("tables")
    if not isinstance(tables, dict):
        return "tables"
    for name, docs in tables.items():
        if not isinstance(docs, dict) or not all(isinstance(d, dict) for d in docs.values()):
            return f"table {name}"
    return ""


def short(error: Exception) -> str:
    return str(error).splitlines()[0][:120]
