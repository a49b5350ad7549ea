"""A search index over the registrations, kept in step with every write (not a scan per query).

What staff type to find a lead (``/cari``): a registration number (``SRG-2026-000123`` or its last
digits), a NIK (16 digits, or its last 4–6), a phone in any form (``0812…``, ``62812…``,
``+62 812-…``), or a name fragment, tolerant of case, accents and small typos. The index holds:

- the registration numbers by their number without leading zeros (``123`` finds ``…-000123``);
- NIKs whole and by their last 4–6 digits; phones by their national number (``8…``);
- name words, folded (lower case, no accents), with a sorted list for prefixes and rapidfuzz for
  typos over the distinct words only (a few thousand at 100k leads, not the records).

It is built from the collection on the first search and then maintained by
:class:`IndexedCollection`, the registrations' collection seen through the index: every put and
delete updates it, so an erased or anonymised registration leaves it at once (its name, NIK and
phone are personal data). It lives in the memory of the process that writes (the embedded store
has one); it holds nothing that is not in the store already.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

#: What a query was taken for; the results say which key matched.
REG_NO, NIK, PHONE, NAME = "reg_no", "nik", "phone", "name"
_REG_NO = re.compile(r"SRG-(\d{4})-(\d{6})", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\s().\-\u00a0]")
_WORD = re.compile(r"[a-z0-9]+")
#: A word within this rapidfuzz ratio of a name word is a typo of it.
TYPO_RATIO = 80
#: Words shorter than this are matched whole (a prefix of two letters matches half the city).
PREFIX_MIN = 3
NIK_SUFFIXES = (4, 5, 6)
#: A key held by one registration keeps its number as a plain string; a set only once shared
#: (most keys are unique, and a set costs ten times a string).
Bucket = str | set[str]


def fold(text: str) -> str:
    """Lower case without accents: ``"Siti Nurhalizá"`` → ``"siti nurhaliza"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_words(name: str) -> list[str]:
    return _WORD.findall(fold(name))


def national_number(text: str) -> str | None:
    """The national part of an Indonesian phone typed any way (``8…``), or None."""
    compact = _PHONE_CHARS.sub("", text)
    if compact.startswith("+"):
        compact = compact[1:]
        if not compact.startswith("62"):
            return None
    if not compact.isdigit():
        return None
    if compact.startswith("62"):
        compact = compact[2:]
    elif compact.startswith("0"):
        compact = compact[1:]
    return compact if 7 <= len(compact) <= 13 else None


@dataclass(frozen=True)
class Hit:
    reg_no: str
    key: str  # REG_NO, NIK, PHONE or NAME: what the query matched
    score: float  # higher is better (100 = exact)


class LeadIndex:
    """Registration numbers by key; see the module docstring."""

    def __init__(self) -> None:
        self._keys: dict[str, list[tuple[str, str]]] = {}  # reg_no -> its (map, key) entries
        self._maps: dict[str, dict[str, Bucket]] = {}
        self._words: list[str] = []  # the distinct name words, sorted
        self.built = False

    # -- maintenance --------------------------------------------------------------------------

    def build(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            self.put(record)
        self.built = True

    def put(self, record: Mapping[str, Any]) -> None:
        """Index ``record`` (replacing what its number had)."""
        reg_no = record["reg_no"]
        self.remove(reg_no)
        entries: list[tuple[str, str]] = []
        number = _REG_NO.fullmatch(reg_no)
        if number:
            # the number without its leading zeros: "123" and "000123" both find SRG-…-000123
            entries.append(("reg", number.group(2).lstrip("0") or "0"))
        nik = record.get("nik")
        if isinstance(nik, str) and nik:
            entries.append(("nik", nik))
            entries += [(f"nik{n}", nik[-n:]) for n in NIK_SUFFIXES]
        phone = record.get("phone")
        national = national_number(phone) if isinstance(phone, str) else None
        if national:
            entries.append(("phone", national))
        name = record.get("full_name")
        if isinstance(name, str) and name:
            entries += [("word", word) for word in dict.fromkeys(name_words(name))]
        for map_name, key in entries:
            keys = self._maps.setdefault(map_name, {})
            bucket = keys.get(key)
            if bucket is None:
                keys[key] = reg_no
                if map_name == "word":
                    bisect.insort(self._words, key)
            elif isinstance(bucket, str):
                keys[key] = {bucket, reg_no}
            else:
                bucket.add(reg_no)
        self._keys[reg_no] = entries

    def remove(self, reg_no: str) -> None:
        """Forget ``reg_no`` (erased, or about to be indexed anew)."""
        for map_name, key in self._keys.pop(reg_no, ()):
            entries = self._maps[map_name]
            bucket = entries.get(key)
            if isinstance(bucket, set):
                bucket.discard(reg_no)
                if len(bucket) == 1:
                    entries[key] = next(iter(bucket))
            elif bucket == reg_no:
                del entries[key]
                if map_name == "word":
                    self._words.pop(bisect.bisect_left(self._words, key))

    def __len__(self) -> int:
        return len(self._keys)

    # -- queries ------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[Hit]:
        """The registrations ``query`` may mean, best first (at most ``limit``)."""
        text = query.strip()
        if not text:
            return []
        whole = _REG_NO.fullmatch(text)
        if whole:
            reg_no = f"SRG-{whole.group(1)}-{whole.group(2)}"
            return [Hit(reg_no, REG_NO, 100)] if reg_no in self._keys else []
        compact = _PHONE_CHARS.sub("", text)
        if compact.lstrip("+").isdigit():
            return self._digits(compact, limit)
        return self._by_name(text, limit)

    def _get(self, map_name: str, key: str) -> Iterable[str]:
        bucket = self._maps.get(map_name, {}).get(key)
        if bucket is None:
            return ()
        return (bucket,) if isinstance(bucket, str) else bucket

    def _digits(self, compact: str, limit: int) -> list[Hit]:
        digits = compact.lstrip("+")
        hits: dict[str, Hit] = {}

        def add(reg_nos: Iterable[str], key: str, score: float) -> None:
            for reg_no in reg_nos:
                if reg_no not in hits or hits[reg_no].score < score:
                    hits[reg_no] = Hit(reg_no, key, score)

        if len(digits) == 16 and not compact.startswith("+"):
            add(self._get("nik", digits), NIK, 100)
        national = national_number(compact)
        if national and len(digits) >= 9:
            add(self._get("phone", national), PHONE, 100)
        if len(digits) <= 6:
            add(self._get("reg", digits.lstrip("0") or "0"), REG_NO, 100)
            if len(digits) in NIK_SUFFIXES:
                add(self._get(f"nik{len(digits)}", digits), NIK, 90)
        return _ranked(hits.values(), limit)

    def _by_name(self, text: str, limit: int) -> list[Hit]:
        words = name_words(text)
        if not words:
            return []
        scores: dict[str, float] | None = None
        for word in sorted(words, key=len, reverse=True):  # longer words are rarer: first
            # a one-word query with enough exact or prefix matches needs no typo search: those
            # rank first and fill the page
            found = self._word_matches(word, enough=limit if len(words) == 1 else None)
            if scores is None:
                scores = found
            else:  # every word of the query must meet a word of the name
                scores = {r: s + found[r] for r, s in scores.items() if r in found}
            if not scores:
                return []
        assert scores is not None
        hits = [Hit(reg_no, NAME, score / len(words)) for reg_no, score in scores.items()]
        return _ranked(hits, limit)

    def _word_matches(self, word: str, *, enough: int | None = None) -> dict[str, float]:
        """Registration → how well one of its name words meets ``word`` (exact, prefix, typo)."""
        found: dict[str, float] = {}

        def add(key: str, score: float) -> None:
            for reg_no in self._get("word", key):
                found[reg_no] = max(found.get(reg_no, 0.0), score)

        add(word, 100)
        if len(word) >= PREFIX_MIN and not (enough and len(found) >= enough):
            start = bisect.bisect_left(self._words, word)
            for key in self._prefixed(start, word):
                add(key, 90)
        if len(word) >= 4 and not (enough and len(found) >= enough):
            for key, ratio, _ in process.extract(
                word, self._words, scorer=fuzz.ratio, score_cutoff=TYPO_RATIO, limit=20
            ):
                add(key, 0.8 * ratio)
        return found

    def _prefixed(self, start: int, word: str) -> Iterator[str]:
        for key in self._words[start : start + 200]:
            if not key.startswith(word):
                return
            if key != word:
                yield key


def _ranked(hits: Iterable[Hit], limit: int) -> list[Hit]:
    # best score first, then the newest registration (numbers grow with time)
    return heapq.nsmallest(limit, hits, key=lambda h: (-h.score, _newest(h.reg_no)))


def _newest(reg_no: str) -> tuple[int, int]:
    number = _REG_NO.fullmatch(reg_no)
    if number is None:
        return (0, 0)
    return (-int(number.group(1)), -int(number.group(2)))


class IndexedCollection:
    """The registrations' collection, with every put and delete passed on to a :class:`LeadIndex`
    (once it is built); everything else is the collection's own."""

    def __init__(self, collection: Any, index: LeadIndex) -> None:
        self._collection = collection
        self.index = index

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def __len__(self) -> int:
        return len(self._collection)

    def __contains__(self, key: object) -> bool:
        return key in self._collection

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        self.put_many([(key, doc)])

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        items = list(items)
        self._collection.put_many(items)
        if self.index.built:
            for _, doc in items:
                self.index.put(doc)

    def delete(self, key: str) -> bool:
        return self.delete_many([key]) == 1

    def delete_many(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        removed: int = self._collection.delete_many(keys)
        for key in keys:
            self.index.remove(key)
        return removed

    def searchable(self) -> LeadIndex:
        """The index, built from the collection on first use."""
        if not self.index.built:
            self.index.build(self._collection.all())
            # The index and the store's documents are a few million long-lived objects: moved
            # out of the collector's generations, a full collection no longer walks them all
            # (bench/desk_search.py: a name query's p99 at 100k leads falls from ~200 ms to
            # ~20 ms). Reference counting still frees what is removed later.
            gc.freeze()
        return self.index
