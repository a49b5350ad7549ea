"""Matching a free-text question to FAQ entries: answer, suggest a few, or fall back.

Every text of every entry (question, phrasings and keywords, both languages) is normalised once
into a flat list of choices. A query is normalised the same way and scored against all choices
in one ``rapidfuzz.process.cdist`` call; an entry scores its best choice. The decision:

- nothing but greetings, thanks and function words: ``smalltalk`` (never an entry);
- best score below ``threshold``: ``fallback``;
- the best entry ahead of the runner-up by more than ``margin``: ``answer``;
- otherwise the entries within ``margin`` of the best (2 to ``max_suggestions``): ``suggest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process, utils

from faq.model import Entry, KnowledgeBase
from faq.normalize import Normalized, Normalizer

MatchKind = Literal["answer", "suggest", "fallback", "smalltalk"]

# token_set_ratio scores the words two texts share, so a short question ("biaya berangkat")
# still scores high against a longer phrasing that contains it, and word order does not matter.
# On the regression set it beat WRatio, token_sort_ratio and QRatio (see bench/faq_match.py).
SCORER = fuzz.token_set_ratio
DEFAULT_THRESHOLD = 72.0
DEFAULT_MARGIN = 6.0


@dataclass(frozen=True)
class Match:
    """What the matcher decided for one message."""

    kind: MatchKind
    entry: Entry | None  # set for "answer"
    score: float  # the best entry's score, 0-100
    suggestions: tuple[Entry, ...]  # 2 to max_suggestions entries for "suggest", () otherwise
    normalized: str  # the normalised query (for logs and debugging)


class Matcher:
    """Scores questions against a knowledge base; build once, call :meth:`match` per message."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        max_suggestions: int = 3,
    ) -> None:
        if not 0 <= threshold <= 100 or not 0 <= margin <= 100 or max_suggestions < 2:
            raise ValueError("threshold and margin must be within 0-100, max_suggestions >= 2")
        self.kb = kb
        self.threshold = threshold
        self.margin = margin
        self.max_suggestions = max_suggestions

        plain = Normalizer()
        choices: list[str] = []
        owners: list[int] = []
        for index, entry in enumerate(kb.entries):
            texts = {utils.default_process(plain(t).content_text) for t in entry.texts_to_match()}
            for text in sorted(texts - {""}):
                choices.append(text)
                owners.append(index)
        self._choices = choices
        # cdist scores choices in entry order: each entry's block starts at one of these offsets
        self._starts = np.flatnonzero(np.diff(owners, prepend=-1))
        self._owners = np.unique(owners)
        self._normalizer = Normalizer(
            plain.lexicon, vocabulary=(w for c in choices for w in c.split())
        )

    def normalize(self, text: str) -> Normalized:
        """The query as the matcher sees it (with spelling corrected to the KB's words)."""
        return self._normalizer(text)

    def scores(self, text: str) -> list[tuple[Entry, float]]:
        """Every entry with its score for ``text``, best first (ties in knowledge-base order)."""
        return self._ranked(self.normalize(text).content_text)

    def match(self, text: str) -> Match:
        """Decide how to answer one message."""
        norm = self.normalize(text)
        if norm.is_smalltalk:
            return Match("smalltalk", None, 0.0, (), norm.text)
        ranked = self._ranked(norm.content_text)
        best = ranked[0][1] if ranked else 0.0
        if best < self.threshold:
            return Match("fallback", None, best, (), norm.text)
        close = [e for e, score in ranked[: self.max_suggestions] if best - score <= self.margin]
        if len(close) == 1:
            return Match("answer", close[0], best, (), norm.text)
        return Match("suggest", None, best, tuple(close), norm.text)

    def _ranked(self, query: str) -> list[tuple[Entry, float]]:
        query = utils.default_process(query)
        if not query or not self._choices:
            return []
        row = process.cdist([query], self._choices, scorer=SCORER, dtype=np.float32)[0]
        best = np.maximum.reduceat(row, self._starts)
        order = np.argsort(-best, kind="stable")
        entries = self.kb.entries
        return [(entries[self._owners[i]], float(best[i])) for i in order]
