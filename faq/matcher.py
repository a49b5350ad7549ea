"""Matching a free-text question to FAQ entries: answer, suggest a few, or fall back.

Two scorers read every entry's texts, a gate decides what the citizen is told, and a third
model (:mod:`faq.second`) may overrule the gate.

1. A naive Bayes classifier (:mod:`faq.classifier`) over character 2-5-grams and words,
   trained at start-up on each entry's question, phrasings and keywords (both languages), the
   sentences of its answer and detail (at a lower weight: the answer's vocabulary is what
   citizens echo, "kerja di pabrik", "tiket pesawat"), the phrasings staff taught it
   (:mod:`faq.learning`) and an explicit *off-topic* class (``faq/data/off_topic.yaml`` plus
   what staff marked off-topic). It generalises to wordings no phrasing has.
2. The fuzzy scorer it replaced, kept as a second opinion: ``token_set_ratio``, ``QRatio`` and
   IDF-weighted word coverage against the entries' own texts (:class:`FuzzyScorer`).

A message is normalised (:mod:`faq.normalize`); when it is long, its sentences and clauses are
scored too and compete with the whole message, so a three-sentence story is judged by its best
part. Per entry the confidence is the classifier's probability (a softmax whose temperature
falls with the message's length), raised when the fuzzy scorer's best entry is the same one;
the score shown (0-100) is that confidence. Then, in order:

- nothing but greetings, thanks and function words: ``smalltalk`` (never an entry);
- ``fallback`` when an off-topic example is the likeliest class, or the message is close to one
  (cosine of n-grams >= :data:`OFF_SIMILARITY`) and no entry is sure, or most of its content
  words are unknown to the knowledge base and at most one is known (``"harga tiket konser"``):
  never an answer on one shared keyword;
- one or two topical words ("syarat", "gaji"): a fuzzy match against the entries' own
  questions and keywords decides, with the same threshold and margin, unless the classifier is
  :data:`SHORT_VETO` sure of another entry (then both are offered);
- best score at least ``threshold``, ahead of the runner-up by more than ``margin`` and picked
  by both scorers (or by the classifier alone, at least :data:`SURE_ALONE` sure): ``answer``;
  picked by the classifier alone and less sure: ``suggest``;
- best score at least :data:`SUGGEST_FLOOR`: ``suggest`` the entries close to the best (up to
  ``max_suggestions``, one or more; "Maksud Anda…?");
- otherwise ``fallback``.

Last, the second opinion (a linear SVM on the classifier's features, :mod:`faq.second`): an
``answer`` it clearly doubts becomes ``suggest`` with both picks, and a ``suggest`` whose first
entry it clearly confirms becomes that ``answer``.

The constants were chosen on the tuning sets (``tests/data/faq_regression.yaml`` and the
writers' batches in ``tests/data/faq_tuning.yaml``; batches 9-14 there were never turned into
phrasings, so they served as the calibration set), never on ``tests/data/faq_unseen.yaml`` or
``faq_unseen3.yaml``; the figures are in the comments next to them and ``bench/faq_match.py``
prints them.

Staff teaching (``Matcher.learn``) retrains in place: the new state is built aside and swapped
in with one assignment, so a concurrent ``match`` sees the old or the new model, never half.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process, utils

from faq import classifier, second
from faq.model import Entry, KnowledgeBase, plain_text
from faq.normalize import Normalized, Normalizer

MatchKind = Literal["answer", "suggest", "fallback", "smalltalk"]

OFF_TOPIC = "__off_topic__"

# --- the fuzzy second opinion (the previous matcher, unchanged in substance) ------------------
SCORERS = ((fuzz.token_set_ratio, 0.5), (fuzz.QRatio, 0.3))
COVERAGE_WEIGHT = 0.2
MAX_CANDIDATES = 256

# --- the classifier and the gate ---------------------------------------------------------------
# Weight of an answer/detail sentence against a phrasing (1.0).
ANSWER_WEIGHT = 0.3
# Temperature applied to the naive Bayes log scores before the softmax: NB is over-confident
# (its log scores sum evidence as if n-grams were independent), this spreads it to usable odds.
TEMPERATURE = 2.0
# Content words above which a message's temperature falls (see Matcher._score): 6 scored
# 82% right / 1.7% wrong on batches 1-3, none 78% / 1.7%, 4 79% / 4.2%, 9 80% / 0.8%.
LENGTH_UNIT = 6.0
# The confidence gained when the fuzzy scorer's best entry agrees with the classifier's.
AGREEMENT_BONUS = 0.3
# A message whose known content words are at most this many and under KNOWN_SHARE of its
# content words is never answered: it shares a keyword with the base but is about something else.
MAX_LONE_KNOWN = 1
KNOWN_SHARE = 0.5
# A direct answer needs both scorers to pick the same entry, or the classifier this sure alone;
# otherwise the citizen chooses from the close entries. On the tuning batches (560 questions,
# with the paraphrases, 2026-12-03): never alone 86.6% right / 2.5% confidently wrong; alone at
# 0.95 87.0 / 2.5; 0.8 88.4 / 2.5; 0.75 88.8 / 3.0; 0.7 88.9 / 3.2 (the regression set: 95.2 /
# 0.2 never, 95.4 / 0.2 at 0.8, 95.6 / 0.6 at 0.7).
SURE_ALONE = 0.8
# A message this close (cosine of TF-IDF n-grams, 0-1) to an off-topic example falls back
# unless the classifier is SURE of an entry. On the regression set 99% of questions stay under
# 0.54 from every off-topic example; off-topic messages in batches 1-2 reached 0.72-0.79.
OFF_SIMILARITY = 0.6
SURE = 0.9
# A message using a word that only the off-topic examples use ("prakerja", "konser", "mudik"),
# and this close to one of them, falls back however sure the classifier is: the entry it
# picked shares the message's other words, not its subject ("pelatihan kartu prakerja
# gelombang baru kapan dibuka" is not the city's training timeline; batch 6). On the 560 tuning
# questions: 0.5 88.4% right / 2.5% confidently wrong, 0.3 88.6 / 2.3, 0.2 88.2 / 2.3. With the
# 320 off-topic examples of 2026-12-03 (more words only they use), on batches 9-14 (on-topic
# right, off-topic right of 36): 0.3 153 / 35, 0.4 155 / 35, 0.5 156 / 33.
OFF_WORD_SIMILARITY = 0.4
# A message this close to an off-topic example (cosine of n-grams) is that example in other
# spelling: the fallback, before anything else decides (a short message staff marked off-topic).
SAME_AS_OFF_TOPIC = 0.9
# Messages of at most this many content words, all known, are decided by the entries' own
# questions and keywords (a fuzzy scorer over those alone: a short message is a subset of many
# long phrasings, "age limit" of a story that mentions one, which gives token_set_ratio 100),
SHORT = 2
# unless the classifier is at least this sure of another entry: then both are offered. With
# the keyword scorer, on the tuning set: 0.5 89.6% right / 2.1% confidently wrong, 0.7 89.6 /
# 2.1, 0.9 89.6 / 2.3, no veto 89.6 / 2.3 (the regression set 96.0 / 0.2 at 0.5, 96.4 / 0.2
# from 0.7); the fuzzy scorer over every text and no veto gave 90.0 / 2.5 and 95.4 / 0.6.
SHORT_VETO = 0.7
# Scores from SUGGEST_FLOOR up to the threshold offer "Maksud Anda…?" instead of an answer.
SUGGEST_FLOOR = 55.0
# Entries within this many points of the best are offered with it.
SUGGEST_BAND = 25.0
# A message longer than this many words is also scored sentence by sentence, clause by clause.
LONG_MESSAGE = 9
# 75: see config.yaml's faq.threshold (chosen on batches 9-14: 70 gave 80.0% / 4.2%, 75 79.6% /
# 3.3%, 80 77.9% / 2.9% right / confidently wrong).
DEFAULT_THRESHOLD = 75.0
DEFAULT_MARGIN = 2.0

_SENTENCE_WITH_END = re.compile(r"[^.!?;\n]+[.!?;\n]*")
_CLAUSE = re.compile(r",|\b(?:tapi|tetapi|terus|trus|trs|lalu|soalnya|karena|but|because)\b")


@dataclass(frozen=True)
class Match:
    """What the matcher decided for one message."""

    kind: MatchKind
    entry: Entry | None  # set for "answer"
    score: float  # the best entry's score, 0-100
    suggestions: tuple[Entry, ...]  # 1 to max_suggestions entries for "suggest", () otherwise
    normalized: str  # the normalised query (for logs and debugging)


@dataclass(frozen=True)
class Taught:
    """Extra training texts: phrasings per entry id and off-topic examples (see faq.learning)."""

    phrasings: tuple[tuple[str, str], ...] = ()  # (entry id, text)
    off_topic: tuple[str, ...] = ()


class FuzzyScorer:
    """Per entry 0-100: fuzzy similarity to its texts plus IDF-weighted word coverage."""

    def __init__(self, size: int, texts: Iterable[tuple[int, Normalized]]) -> None:
        """``size`` entries; ``texts``: each entry's normalised texts (question, phrasings...)."""
        choices: list[str] = []
        owners: list[int] = []
        entries_with: dict[str, set[int]] = {}
        by_entry: dict[int, set[str]] = {}
        for index, norm in texts:
            choice = utils.default_process(norm.text)
            if choice:
                by_entry.setdefault(index, set()).add(choice)
            for word in _words(norm.content_text):
                entries_with.setdefault(word, set()).add(index)
        for index in sorted(by_entry):
            ordered = sorted(by_entry[index])
            choices.extend(ordered)
            owners.extend([index] * len(ordered))
        choices_with: dict[str, list[int]] = {}
        for position, choice in enumerate(choices):
            for word in set(choice.split()):
                choices_with.setdefault(word, []).append(position)
        count = size
        self.size = count
        self.choices = choices
        self.owner = np.array(owners, dtype=np.intp)
        self.entries_with = {w: np.array(sorted(ids)) for w, ids in entries_with.items()}
        self.choices_with = {w: np.array(ids) for w, ids in choices_with.items()}
        self.idf = {w: math.log((count + 1) / (len(ids) + 0.5)) for w, ids in entries_with.items()}
        self.unknown_idf = math.log((count + 1) / 0.5)

    def scores(self, norm: Normalized) -> np.ndarray:
        """Each entry's score (0-100) for a normalised query, in knowledge-base order."""
        words = set(_words(norm.content_text))
        scores = COVERAGE_WEIGHT * 100 * self._coverage(words)
        candidates = self._candidates(words)
        if not candidates.size:
            return scores
        query = utils.default_process(norm.text)
        texts = [self.choices[i] for i in candidates]
        owners = self.owner[candidates]
        for scorer, weight in SCORERS:
            row = process.cdist([query], texts, scorer=scorer, dtype=np.float32)[0]
            best = np.zeros(len(scores))
            np.maximum.at(best, owners, row)
            scores += weight * best
        return scores

    def _candidates(self, words: set[str]) -> np.ndarray:
        """The choices sharing a content word with the query, the rarest-sharing ones first."""
        weight = np.zeros(len(self.choices))
        for word in words & self.choices_with.keys():
            weight[self.choices_with[word]] += self.idf.get(word, self.unknown_idf)
        candidates = np.flatnonzero(weight)
        if len(candidates) > MAX_CANDIDATES:
            keep = np.argpartition(-weight[candidates], MAX_CANDIDATES)[:MAX_CANDIDATES]
            candidates = np.sort(candidates[keep])
        return candidates

    def _coverage(self, words: set[str]) -> np.ndarray:
        coverage = np.zeros(self.size)
        total = sum(self.idf.get(w, self.unknown_idf) for w in words)
        for word in words & self.entries_with.keys():
            coverage[self.entries_with[word]] += self.idf[word]
        return coverage / total if total else coverage


@dataclass(frozen=True)
class _State:
    """Everything trained from the knowledge base and the taught texts; replaced as a whole."""

    fuzzy: FuzzyScorer
    keywords: FuzzyScorer  # the entries' own questions and keywords: what decides short messages
    model: classifier.NaiveBayes
    normalizer: Normalizer
    known: frozenset[str]  # content words the entries use (off-topic examples excluded)
    off_words: frozenset[str]  # content words only the off-topic examples use
    taught: Taught
    off_examples: classifier.Neighbours  # group 0: the off-topic examples
    doubter: second.Pending | None  # the linear SVM that may doubt an answer (faq.second)


@dataclass(frozen=True)
class _Scored:
    confidence: np.ndarray  # per entry, 0-1
    off_topic: float  # the probability of the likeliest off-topic example
    known: int
    unknown: int
    norm: Normalized
    fuzzy: np.ndarray | None = None  # the fuzzy scorer's scores (0-100) per entry
    raw_best: float = 0.0  # the classifier's best entry probability, before agreement
    off_similarity: float = 0.0  # cosine to the nearest off-topic example
    off_word: bool = False  # the message uses a word only off-topic examples use
    agree: bool = False  # the fuzzy scorer's best entry is the classifier's
    # the whole message's feature ids and counts (the second opinion reads them)
    encoded: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.int64), np.zeros(0))


class Matcher:
    """Scores questions against a knowledge base; build once, call :meth:`match` per message."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        max_suggestions: int = 3,
        taught: Taught | None = None,
        second_opinion: bool = True,
    ) -> None:
        """``second_opinion=False`` answers on the classifier and the gate alone (no
        :mod:`faq.second`): for a knowledge base far larger than a city's, whose thousands of
        one-against-the-rest SVMs would take minutes to train."""
        if not 0 <= threshold <= 100 or not 0 <= margin <= 100 or max_suggestions < 2:
            raise ValueError("threshold and margin must be within 0-100, max_suggestions >= 2")
        self.kb = kb
        self.threshold = threshold
        self.margin = margin
        self.max_suggestions = max_suggestions
        self.second_opinion = second_opinion
        self._ids = {e.id: i for i, e in enumerate(kb.entries)}
        self._state = self._train(taught or Taught())

    # --- public API ---

    @property
    def choice_count(self) -> int:
        """How many normalised texts the knowledge base offers to match against."""
        return len(self._state.fuzzy.choices)

    @property
    def taught(self) -> Taught:
        """The staff-taught texts the current model was trained with."""
        return self._state.taught

    def normalize(self, text: str) -> Normalized:
        """The query as the matcher sees it (with spelling corrected to the KB's words)."""
        return self._state.normalizer(text)

    def ready(self) -> None:
        """Wait until the second opinion is trained (a few seconds after construction; at once
        when it already is). An application calls it off its event loop before it serves, so
        that no answer blocks the loop waiting for it."""
        state = self._state
        if state.doubter is not None:
            state.doubter.result()

    def learn(self, taught: Taught) -> None:
        """Retrain with these taught texts (replacing earlier ones); takes effect at once.

        The new state, its second opinion included, is trained before it replaces the old one
        (a few seconds: call it off the event loop), so answers meanwhile never wait for it."""
        unknown = {entry_id for entry_id, _ in taught.phrasings} - self._ids.keys()
        if unknown:
            raise KeyError(f"unknown entry id(s): {', '.join(sorted(unknown))}")
        state = self._train(taught)
        if state.doubter is not None:
            state.doubter.result()
        self._state = state

    def scores(self, text: str) -> list[tuple[Entry, float]]:
        """Every entry with its score for ``text``, best first (ties in knowledge-base order)."""
        scored = self._best_piece(self._state, text)
        scores = 100 * scored.confidence
        return [(self.kb.entries[i], float(scores[i])) for i in _best_first(scores)]

    def match(self, text: str) -> Match:
        """Decide how to answer one message."""
        state = self._state
        scored = self._best_piece(state, text)
        decided = self._decide(state, scored)
        if decided.kind == "suggest" and len(scored.confidence):
            return self._confirmed(state, scored, int(np.argmax(scored.confidence)), decided)
        return decided

    def _decide(self, state: _State, scored: _Scored) -> Match:
        """The gate's decision on a scored message (see the module docstring)."""
        norm = scored.norm
        if norm.is_smalltalk:
            return Match("smalltalk", None, 0.0, (), norm.text)
        scores = 100 * scored.confidence
        order = _best_first(scores)
        best = float(scores[order[0]]) if len(order) else 0.0
        top = self.kb.entries[order[0]] if len(order) else None
        if top is None or scored.off_topic >= scored.raw_best or self._mostly_unknown(scored):
            return Match("fallback", None, best, (), norm.text)
        if scored.off_similarity >= SAME_AS_OFF_TOPIC:  # what staff marked off-topic, say
            return Match("fallback", None, best, (), norm.text)
        if len(norm.content) <= SHORT and not scored.unknown and scored.fuzzy is not None:
            # One or two topical words ("syarat", "syarat umur"): the keywords decide
            # (tests/test_faq_regression.py ONE_WORD); the classifier spreads such messages thin.
            short = state.keywords.scores(norm)
            lone = _best_first(short)
            lead = short[lone[0]] - (short[lone[1]] if len(lone) > 1 else 0.0)
            if short[lone[0]] >= self.threshold:
                if lead > self.margin and (lone[0] == order[0] or scored.raw_best < SHORT_VETO):
                    return self._answer(state, scored, int(lone[0]), best)
                if lead > self.margin:  # the classifier is fairly sure of another entry
                    pair = (self.kb.entries[lone[0]], self.kb.entries[order[0]])
                    return Match("suggest", None, best, pair, norm.text)
                tied = lone[: self.max_suggestions]
                near = [i for i in tied if short[lone[0]] - short[i] <= self.margin]
                entries = tuple(self.kb.entries[i] for i in near)
                return Match("suggest", None, best, entries, norm.text)
        if self._off_topic(scored):
            return Match("fallback", None, best, (), norm.text)
        close = [
            self.kb.entries[i]
            for i in order[: self.max_suggestions]
            if best - scores[i] <= SUGGEST_BAND and scores[i] >= SUGGEST_FLOOR
        ]
        runner_up = float(scores[order[1]]) if len(order) > 1 else 0.0
        if best >= self.threshold and best - runner_up > self.margin:
            if scored.agree or scored.raw_best >= SURE_ALONE:
                return self._answer(state, scored, int(order[0]), best)
            # the two scorers disagree and the classifier is not sure: let the citizen choose
            return Match("suggest", None, best, tuple(close) or (top,), norm.text)
        if best >= self.threshold:  # a near-tie at the top: let the citizen choose
            tie = [self.kb.entries[i] for i in order[: self.max_suggestions]]
            tie = [e for e, i in zip(tie, order, strict=False) if best - scores[i] <= self.margin]
            return Match("suggest", None, best, tuple(tie), norm.text)
        if best >= SUGGEST_FLOOR:
            return Match("suggest", None, best, tuple(close), norm.text)
        return Match("fallback", None, best, (), norm.text)

    # --- internals ---

    @staticmethod
    def _second_opinion(state: _State, scored: _Scored) -> second.Reading | None:
        """The second opinion on the whole message; None when it is off or failed to train."""
        opinion = state.doubter.result() if state.doubter is not None else None
        ids, counts = scored.encoded
        if opinion is None or not len(ids):
            return None
        return opinion.read((ids, state.model.unit_weights(ids, counts)))

    def _confirmed(self, state: _State, scored: _Scored, index: int, offered: Match) -> Match:
        """A "Maksud Anda…?" becomes the answer when the second opinion picks the classifier's
        entry too, and clearly (its best class at least second.AGREE above its next)."""
        reading = self._second_opinion(state, scored)
        if reading is not None and reading.confirms(index):
            return Match("answer", self.kb.entries[index], offered.score, (), scored.norm.text)
        return offered

    def _answer(self, state: _State, scored: _Scored, index: int, best: float) -> Match:
        """The answer with this entry, unless the second opinion clearly doubts it: then the
        citizen chooses between the two picks ("Maksud Anda…?")."""
        norm = scored.norm
        reading = self._second_opinion(state, scored)
        if reading is None or reading.doubt(index) < second.DOUBT:
            return Match("answer", self.kb.entries[index], best, (), norm.text)
        other = reading.best
        offered = [self.kb.entries[index]]
        if other != second.OFF_TOPIC and other != index:
            offered.append(self.kb.entries[other])
        return Match("suggest", None, best, tuple(offered), norm.text)

    @staticmethod
    def _off_topic(scored: _Scored) -> bool:
        """An off-topic example is the likeliest class, or is this close and no entry is sure."""
        if scored.off_topic >= scored.raw_best:
            return True
        if scored.off_word and scored.off_similarity >= OFF_WORD_SIMILARITY:
            return True
        return scored.off_similarity >= OFF_SIMILARITY and scored.raw_best < SURE

    @staticmethod
    def _mostly_unknown(scored: _Scored) -> bool:
        total = scored.known + scored.unknown
        lone = scored.known <= MAX_LONE_KNOWN
        return bool(total) and lone and scored.known < KNOWN_SHARE * total

    def _train(self, taught: Taught) -> _State:
        kb = self.kb
        plain = Normalizer()
        extra = [(self._ids[entry_id], text) for entry_id, text in taught.phrasings]
        own = [(i, plain(t)) for i, e in enumerate(kb.entries) for t in e.texts_to_match()]
        own.extend((index, plain(text)) for index, text in extra)
        fuzzy = FuzzyScorer(len(kb.entries), own)
        # what staff taught counts as keywords too: they attached these very questions
        keywords = FuzzyScorer(
            len(kb.entries),
            [
                *(
                    (i, plain(t))
                    for i, e in enumerate(kb.entries)
                    for lang in ("id", "en")
                    for t in (e.question.get(lang), *e.keywords.get(lang))
                ),
                *((index, plain(text)) for index, text in extra),
            ],
        )
        off = len(kb.entries)
        rows: list[tuple[Normalized, int, float]] = [(n, i, 1.0) for i, n in own]
        for index, entry in enumerate(kb.entries):
            for lang in ("id", "en"):
                detail = entry.detail.get(lang) if entry.detail else ""
                for html in (entry.answer.get(lang), detail):
                    rows.extend(
                        (plain(s), index, ANSWER_WEIGHT) for s in _sentences(plain_text(html))
                    )
        known = {w for norm, _, _ in rows for w in norm.content}
        # Each off-topic example is a class of its own: off-topic messages have nothing in
        # common but not being about the programme, and one pooled class spreads its mass so
        # thin that it never wins; as single examples each catches its near neighbours.
        offs = [*kb.off_topic, *taught.off_topic]
        rows.extend((plain(text), off + n, 1.0) for n, text in enumerate(offs))
        vocabulary = {w for norm, _, _ in rows for w in norm.words}
        model = classifier.NaiveBayes(
            ((n.words, n.content, index, weight) for n, index, weight in rows), off + len(offs)
        )
        off_rows = [n for n, index, _ in rows if index >= off]
        off_words = {w for n in off_rows for w in n.content if not w.isdigit()} - known
        neighbours = classifier.Neighbours(
            model, [[model.featurizer.encode(n.words, n.content) for n in off_rows]]
        )
        training = model.training_rows()
        pending = (
            second.train_in_background(
                training,
                [index if index < off else second.OFF_TOPIC for _, index, _ in rows],
                [weight for _, _, weight in rows],
            )
            if self.second_opinion
            else None
        )
        return _State(
            doubter=pending,
            fuzzy=fuzzy,
            keywords=keywords,
            model=model,
            normalizer=Normalizer(plain.lexicon, vocabulary=vocabulary),
            known=frozenset(known),
            off_words=frozenset(off_words),
            taught=taught,
            off_examples=neighbours,
        )

    def _best_piece(self, state: _State, text: str) -> _Scored:
        """The whole message's scores, or those of its best sentence or clause when long."""
        whole = self._score(state, state.normalizer(text))
        if len(whole.norm.words) <= LONG_MESSAGE:
            return whole
        sentences = _sentences_of(text)
        questions = [s for s in sentences if s.rstrip().endswith("?")]
        if not questions:  # "?" left out: the sentences with a question word ("brp", "gmn")
            asking = state.normalizer.lexicon.question_words
            questions = [s for s in sentences if asking.intersection(state.normalizer(s).words)]
        # The whole message competes with its pieces: judging a long message by its question
        # sentence alone ("bener ada jalur khusus gitu?") lost the story it refers to (batch 3:
        # 78% right without it, 77% with it). Question words standing in for a missing "?":
        # tuning set 89.8% right / 2.1% confidently wrong -> 90.2% / 1.8%; its 113 long
        # questions 94 right / 7 wrong -> 96 / 5. Mixing each piece's confidence with the whole
        # message's (0.5 each) gave 88.8% / 1.2%, at 0.9 for the piece 89.5% / 1.4%.
        best = whole
        for piece in _pieces(questions or sentences):
            norm = state.normalizer(piece)
            if norm.is_smalltalk or len(norm.words) == len(whole.norm.words):
                continue
            scored = self._score(state, norm)
            if scored.confidence.max() > best.confidence.max():
                best = replace(scored, norm=whole.norm, encoded=whole.encoded)
        return best

    def _score(self, state: _State, norm: Normalized) -> _Scored:
        entries = len(self.kb.entries)
        content = [w for w in norm.content if not w.isdigit()]
        known = sum(w in state.known for w in content)
        if norm.is_smalltalk:
            return _Scored(np.zeros(entries), 0.0, known, len(content) - known, norm, None)
        encoded = state.model.featurizer.encode(norm.words, norm.content)
        logs = state.model.log_scores(*encoded)
        # NB's log odds are bounded by the query's L2 norm: a long message spreads the same
        # evidence thinner, so its temperature falls with the square root of its length.
        sharpen = max(1.0, math.sqrt(len(norm.content) / LENGTH_UNIT))
        probs = classifier.softmax(logs * sharpen / TEMPERATURE)
        confidence = probs[:entries].copy()
        raw_best = float(confidence.max()) if entries else 0.0
        fuzzy = state.fuzzy.scores(norm)
        agree = False
        if len(fuzzy) and fuzzy.max() > 0:
            chosen = int(np.argmax(fuzzy))
            agree = chosen == int(np.argmax(confidence))
            if agree:
                confidence[chosen] = min(1.0, confidence[chosen] + AGREEMENT_BONUS)
        off_topic = float(probs[entries:].max()) if len(probs) > entries else 0.0
        unknown = len(content) - known
        near_off = state.off_examples.similarity(0, *encoded)
        off_word = any(w in state.off_words for w in content)
        return _Scored(
            confidence,
            off_topic,
            known,
            unknown,
            norm,
            fuzzy,
            raw_best,
            off_similarity=near_off,
            agree=agree,
            off_word=off_word,
            encoded=encoded,
        )


def _sentences(text: str) -> list[str]:
    """The sentences and bullet points of an answer worth learning from (3+ words)."""
    parts = re.split(r"[.;:!?\n•()]+", text)
    return [p.strip() for p in parts if len(p.split()) >= 3]


def _sentences_of(text: str) -> list[str]:
    """The sentences of a message, each with its closing punctuation."""
    return [m[0] for m in _SENTENCE_WITH_END.finditer(text) if m[0].strip(" .!?;\n")]


def _pieces(sentences: Sequence[str]) -> Iterable[str]:
    """Sentences, and the clauses of each.

    A long message is judged by its questions when it has any: "I'm 29, a welder. My wife
    agrees. Which documents do I need?" is about documents.
    """
    for sentence in sentences:
        yield sentence
        clauses = [c for c in _CLAUSE.split(sentence) if c and c.strip()]
        if len(clauses) > 1:
            yield from clauses


def _words(text: str) -> list[str]:
    return utils.default_process(text).split()


def _best_first(scores: np.ndarray) -> np.ndarray:
    """Entry indices by descending score; ties keep knowledge-base order."""
    return np.argsort(-scores, kind="stable")
