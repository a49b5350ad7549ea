"""A table of a :class:`~store.durable.Database`: reads (copies), writes, TinyDB queries, indexes.

Part of the durable store: a collection holds no data of its own. It reads the database's
in-memory tables under the database's lock and writes through ``Database.batch()`` (one journal
line, one fsync), so it reaches into the database's internals on purpose.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from tinydb.queries import QueryLike

from store.fileformat import Doc, clone

if TYPE_CHECKING:
    from store.durable import Database

Predicate = Callable[[Mapping[str, Any]], bool]


class Collection:
    """A table of JSON documents under string keys; reads return independent copies."""

    def __init__(self, database: Database, name: str) -> None:
        self.database = database
        self.name = name
        self._indexes: dict[str, dict[object, dict[str, None]]] = {}
        self._tinydb_table = database._tinydb.table(name, cache_size=0)

    @property
    def _docs(self) -> dict[str, Doc]:
        return self.database._tables.get(self.name, {})

    def get(self, key: str) -> Doc | None:
        """The document under ``key``, or None."""
        with self.database._lock:
            doc = self._docs.get(key)
            return None if doc is None else clone(doc)

    def __contains__(self, key: object) -> bool:
        with self.database._lock:
            return key in self._docs

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace; durable when it returns."""
        self.put_many([(key, doc)])

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Insert or replace several documents with one fsync, all or nothing."""
        with self.database.batch() as batch:
            for key, doc in items:
                batch.put(self.name, key, doc)

    def delete(self, key: str) -> bool:
        """Remove ``key``; False (and no write) if it was absent."""
        return self.delete_many([key]) == 1

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove the present ``keys`` with one fsync; returns how many were removed."""
        with self.database.batch() as batch:
            for key in dict.fromkeys(keys):
                if key in self._docs:
                    batch.delete(self.name, key)
            return len(batch)

    def find(self, predicate: Predicate) -> list[Doc]:
        """Documents matching a TinyDB ``Query`` or any callable taking the document."""
        with self.database._lock:
            found = self._tinydb_table.search(cast("QueryLike", predicate))
            return [clone(doc) for doc in found]

    def find_by(self, field: str, value: object) -> list[Doc]:
        """Documents whose ``field`` equals ``value``, in insertion order (O(1) if indexed)."""
        with self.database._lock:
            index = self._indexes.get(field)
            if index is None:
                return [clone(d) for d in self._docs.values() if d.get(field) == value]
            if not indexable(value):
                return []
            docs = self._docs
            return [clone(docs[key]) for key in index.get(value, ())]

    def all(self) -> list[Doc]:
        """Every document, in insertion order."""
        with self.database._lock:
            return [clone(doc) for doc in self._docs.values()]

    def items(self) -> list[tuple[str, Doc]]:
        """Every ``(key, document)`` pair, in insertion order."""
        with self.database._lock:
            return [(key, clone(doc)) for key, doc in self._docs.items()]

    def keys(self) -> list[str]:
        """Every key, in insertion order."""
        with self.database._lock:
            return list(self._docs)

    def __iter__(self) -> Iterator[str]:
        """The keys (a copy taken under the lock, so writers may go on meanwhile)."""
        return iter(self.keys())

    def __len__(self) -> int:
        with self.database._lock:
            return len(self._docs)

    def _add_index(self, field: str) -> None:
        if field in self._indexes:
            return
        index: dict[object, dict[str, None]] = {}
        with gc_paused():
            for key, doc in self._docs.items():
                value = doc.get(field)
                if indexable(value):
                    index.setdefault(value, {})[key] = None
        self._indexes[field] = index

    def _reindex(self, key: str, old: Doc | None, new: Doc | None) -> None:
        for field in self._indexes:
            self._reindex_field(field, key, old, new)

    def _reindex_field(self, field: str, key: str, old: Doc | None, new: Doc | None) -> None:
        index = self._indexes[field]
        old_value = None if old is None else old.get(field)
        new_value = None if new is None else new.get(field)
        if old_value == new_value and type(old_value) is type(new_value) and new is not None:
            return
        if indexable(old_value):
            keys = index.get(old_value)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del index[old_value]
        if indexable(new_value):
            index.setdefault(new_value, {})[key] = None

    def __repr__(self) -> str:
        return f"Collection({self.database.name!r}, {self.name!r})"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of acyclic objects (30% faster loads)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def indexable(value: object) -> bool:
    """Index only strings and integers (not booleans, which equal 0 and 1)."""
    return isinstance(value, str | int) and not isinstance(value, bool)
