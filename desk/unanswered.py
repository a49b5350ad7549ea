"""Group similar unanswered questions so staff can see which FAQ entries are missing.

Greedy single-pass clustering: each question joins the most similar group whose representative is
at least ``threshold`` similar (rapidfuzz ``token_set_ratio`` on normalised text), or starts a new
group. Identical normalised texts are merged first, so the fuzzy work grows with the number of
*distinct* questions; candidates are the groups sharing a word prefix, scored in rapidfuzz's C code
by ``process.extractOne``.

What staff see is masked: a representative goes through ``screening.identity.redact`` (NIKs and
every phone form its parsers accept), also for questions stored before the masker knew a form.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from screening.identity import redact

_NON_WORD = re.compile(r"[^\w]+")
_REPEATS = re.compile(r"(\w)\1{2,}")  # "kapannnn" -> "kapann"
_PREFIX = 3  # letters of each word used to pick candidate groups


@dataclass(frozen=True)
class Group:
    """Similar questions: one representative text, how many were asked, and by which items."""

    representative: str
    count: int
    ids: tuple[str, ...]
    last_at: str


@dataclass
class _Cluster:
    representative: str
    ids: list[str] = field(default_factory=list)
    last_at: str = ""

    def add(self, ids: Sequence[str], last_at: str) -> None:
        self.ids.extend(ids)
        self.last_at = max(self.last_at, last_at)


def normalise(question: str) -> str:
    """Casefold, strip accents and punctuation, shorten stretched letters, collapse spaces."""
    decomposed = unicodedata.normalize("NFKD", question.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = _REPEATS.sub(r"\1\1", plain)
    return _NON_WORD.sub(" ", plain).replace("_", " ").strip()


def group_questions(items: Sequence[Mapping[str, Any]], *, threshold: float = 80) -> list[Group]:
    """Group items (``{"id", "text", "lang", "at"}``) by similar text, largest groups first."""
    # 1. Merge identical normalised texts (keeping the first original wording and the ids).
    exact: dict[str, _Cluster] = {}
    for item in items:
        key = normalise(str(item["text"]))
        cluster = exact.get(key)
        if cluster is None:
            cluster = exact[key] = _Cluster(representative=str(item["text"]))
        cluster.add([str(item["id"])], str(item.get("at") or ""))

    # 2. Fuzzy-merge the distinct texts into groups, most asked first so they become the
    #    representatives. Only groups sharing a word prefix are compared (blocking): a typo
    #    rarely hits the first letters of every word, and this keeps 10k questions fast.
    groups: list[_Cluster] = []
    keys: list[str] = []
    by_prefix: defaultdict[str, list[int]] = defaultdict(list)
    for key, cluster in sorted(exact.items(), key=lambda kv: -len(kv[1].ids)):
        prefixes = {word[:_PREFIX] for word in key.split()}
        candidates = {i: keys[i] for prefix in prefixes for i in by_prefix.get(prefix, ())}
        match = process.extractOne(
            key, candidates, scorer=fuzz.token_set_ratio, score_cutoff=threshold
        )
        if match is None:
            for prefix in prefixes:
                by_prefix[prefix].append(len(groups))
            keys.append(key)
            groups.append(_Cluster(representative=cluster.representative))
            target = groups[-1]
        else:
            target = groups[match[2]]
        target.add(cluster.ids, cluster.last_at)

    result = [
        Group(
            representative=redact(group.representative),
            count=len(group.ids),
            ids=tuple(group.ids),
            last_at=group.last_at,
        )
        for group in groups
    ]
    result.sort(key=lambda group: group.last_at, reverse=True)
    result.sort(key=lambda group: group.count, reverse=True)
    return result
