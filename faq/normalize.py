"""Normalisation of informal Indonesian and English chat messages for FAQ matching.

The same steps run on every FAQ phrasing and on every incoming question, so both sides meet in
one spelling: "Gmn cara daftar G2G korsel kak??? 🙏" becomes ``bagaimana cara daftar g to g
korea selatan`` and its content words ``cara daftar g to g korea selatan``. The vocabulary
(abbreviations, address words, stop-words) is data, in ``faq/lexicon.yaml``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from screening.identity import redact

LEXICON_FILE = Path(__file__).parent / "lexicon.yaml"
# libyaml when present (as faq.model): the same safe loading, faster.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ZERO_WIDTH = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_NON_WORD = re.compile(r"[\W_]+")  # anything but letters and digits, in any script
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")  # three or more of the same letter
_REDUPLICATION = re.compile(r"([^\W\d_]{2,})2")  # "syarat2" is "syarat-syarat"
# An amount glued to its unit ("10jt", "100rb", "150cm") is two words: the number and the unit.
_AMOUNT = re.compile(r"(\d+)(jt|juta|rb|ribu|k|thn|th|tahun|bln|bulan|cm|kg)")
# A letter and a number written apart are one code: "E-7", "e 7" and "E7" are all ``e7``, "S-1"
# is ``s1``, "N 4" is ``n4``; "G-2-G" and "g 2 g" are ``g2g`` (the lexicon expands it).
_G2G = re.compile(r"(?<![^\W\d_])g\s*-?\s*(?:2|to)\s*-?\s*g(?![^\W\d_])")
# Apart by a space only for the letters of such codes, so "a 2-year contract" keeps its "a".
_CODE = re.compile(r"(?<![^\W_])(?:([^\W\d_])-|([desn])\s+)(\d{1,2})(?![\d.,]\d)(?!\d)")
_NYA = "nya"  # the possessive/definite suffix: "biayanya" is "biaya" + "nya"
_MIN_NYA_STEM = 3
# A query word unknown to the knowledge base is replaced by a known word this similar (0-100),
# which turns typos such as "pelatihn" into exact token matches. At 85 "presiden" became
# "resident"; 88 keeps the regression set's typos fixed without that.
_SPELLING_CUTOFF = 88.0
# Shorter words are left alone: at four letters one added letter is already 89% similar, which
# turned "over" into "cover" and "pick" into "picks".
_MIN_SPELLING_LENGTH = 5
# Before any fuzzy search, an unknown word is tried without one of these endings (and prefixes):
# "factories" is "factory", "negotiated" "negotiate", "dipungut" "pungut". Only a form the
# knowledge base uses is taken, so a stem never invents a word.
_SUFFIXES = (
    ("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
    ("kan", ""), ("an", ""), ("i", ""),
    # Sundanese and Javanese possessive/definite endings: "syaratna", "pendaftarane", "ujianne"
    ("na", ""), ("ne", ""), ("e", ""), ("ipun", ""),
)  # fmt: skip
# Indonesian, and the Sundanese "nga-"/Javanese "n-" verb prefixes ("ngahapus", "ndaftar").
_PREFIXES = ("di", "ber", "ter", "ke", "nga", "ng", "n")
_MIN_STEM = 4
# fuzz.ratio is 200 * matches / (len(a) + len(b)), so a word of length n can only reach the
# cutoff against words of length n / _LENGTH_SPAN to n * _LENGTH_SPAN: the rest are never read.
_LENGTH_SPAN = (200 - _SPELLING_CUTOFF) / _SPELLING_CUTOFF
_MAX_CORRECTIONS = 10_000


@dataclass(frozen=True)
class Lexicon:
    """The vocabulary of the normaliser, loaded from ``lexicon.yaml``."""

    abbreviations: Mapping[str, tuple[str, ...]]
    noise: frozenset[str]
    stopwords: frozenset[str]
    stop_phrases: Mapping[str, tuple[tuple[str, ...], ...]]  # first word -> longest first
    keep_phrases: tuple[tuple[str, ...], ...]
    # words that make a sentence a question when it has no "?" (after expansion: "brp" is
    # "berapa"); a long message is judged by such sentences (see faq.matcher)
    question_words: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path = LEXICON_FILE) -> Lexicon:
        """Read a lexicon file; raise ``ValueError`` naming the file if it is malformed."""
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        try:
            abbreviations = {
                _word(key): tuple(_word(w) for w in value.split())
                for key, value in data["abbreviations"].items()
            }
            noise = frozenset(_word(w) for w in data["noise"])
            stop = [tuple(_word(w) for w in phrase.split()) for phrase in data["stopwords"]]
            keep = tuple(tuple(_word(w) for w in p.split()) for p in data["keep_phrases"])
            asking = frozenset(_word(w) for w in data.get("question_words") or ())
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{path}: malformed lexicon ({exc!r})") from exc
        abbreviations = _resolved(abbreviations)
        phrases: dict[str, list[tuple[str, ...]]] = {}
        for phrase in stop:
            if len(phrase) > 1:
                phrases.setdefault(phrase[0], []).append(phrase)
        return cls(
            abbreviations=abbreviations,
            noise=noise,
            stopwords=frozenset(p[0] for p in stop if len(p) == 1),
            stop_phrases={k: tuple(sorted(v, key=len, reverse=True)) for k, v in phrases.items()},
            keep_phrases=keep,
            question_words=asking,
        )


def _word(value: object) -> str:
    """A lexicon word: a non-empty lower-case string of letters and digits."""
    if not isinstance(value, str) or not value or _NON_WORD.sub("", value) != value.lower():
        raise ValueError(f"not a plain lower-case word: {value!r}")
    return value


@dataclass(frozen=True)
class Normalized:
    """A message after normalisation."""

    words: tuple[str, ...]  # every word kept: expanded, noise (address words) dropped
    content: tuple[str, ...]  # the words that carry a topic (stop-words removed)

    @property
    def text(self) -> str:
        """All kept words, space-separated (what logs show)."""
        return " ".join(self.words)

    @property
    def content_text(self) -> str:
        """The topic-carrying words, space-separated (what the matcher scores)."""
        return " ".join(self.content)

    @property
    def is_smalltalk(self) -> bool:
        """Nothing but greetings, thanks, address and function words."""
        return not self.content


class Normalizer:
    """Turns a message into :class:`Normalized` words.

    ``vocabulary`` (the content words of the knowledge base) enables spelling correction: a
    query word it does not contain is replaced by its closest member when that is close enough.
    """

    def __init__(self, lexicon: Lexicon | None = None, vocabulary: Iterable[str] = ()) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.vocabulary = sorted(set(vocabulary))
        self._known = frozenset(self.vocabulary)
        self._by_length: dict[int, list[str]] = {}
        for word in self.vocabulary:
            self._by_length.setdefault(len(word), []).append(word)
        self._windows: dict[int, list[str]] = {}  # word length -> the words worth comparing
        self._corrections: dict[str, str] = {}
        self._expanded: dict[str, tuple[str, ...]] = {}  # token -> its words (tokens repeat)

    def __call__(self, text: str) -> Normalized:
        words = tuple(w for token in _tokens(text) for w in self._expanded_token(token))
        return Normalized(words=words, content=self._content(words))

    def _expanded_token(self, token: str) -> tuple[str, ...]:
        words = self._expanded.get(token)
        if words is None:
            if len(self._expanded) > _MAX_CORRECTIONS:  # unbounded input: keep it small
                self._expanded.clear()
            words = self._expanded[token] = self._expand(token)
        return words

    def _expand(self, token: str) -> tuple[str, ...]:
        """One raw token as zero or more normal words."""
        lex = self.lexicon
        token = _REPEATS.sub(r"\1", token)
        if token in lex.noise:
            return ()
        if token in lex.abbreviations:
            return lex.abbreviations[token]
        if (match := _REDUPLICATION.fullmatch(token)) is not None:
            return self._expand(match[1])
        if token.endswith(_NYA) and len(token) - len(_NYA) >= _MIN_NYA_STEM:
            return self._expand(token[: -len(_NYA)])
        if (match := _AMOUNT.fullmatch(token)) is not None:
            return (match[1], *self._expand(match[2]))
        return (self._correct(token),)

    def _correct(self, word: str) -> str:
        """The vocabulary word closest to an unknown ``word``, or ``word`` itself."""
        lex = self.lexicon
        if (
            not self.vocabulary
            or word in self._known
            or word in lex.stopwords
            or word in lex.stop_phrases  # "selamat" (pagi) is no misspelt "selama"
            or len(word) < _MIN_SPELLING_LENGTH
            or not word.isalpha()
        ):
            return word
        if word not in self._corrections:
            if len(self._corrections) > _MAX_CORRECTIONS:  # unbounded input: keep it small
                self._corrections.clear()
            self._corrections[word] = self._known_stem(word) or self._closest(word)
        return self._corrections[word]

    def _closest(self, word: str) -> str:
        """The vocabulary word most similar to ``word`` above the cutoff, or ``word``."""
        best = process.extractOne(
            word,
            self._similar_lengths(len(word)),
            scorer=fuzz.ratio,
            score_cutoff=_SPELLING_CUTOFF,
        )
        return best[0] if best else word

    def _known_stem(self, word: str) -> str | None:
        """``word`` without an ending or a prefix, if the vocabulary has that form."""
        for suffix, replacement in _SUFFIXES:
            stem = word[: -len(suffix)] + replacement
            if word.endswith(suffix) and len(stem) >= _MIN_STEM and stem in self._known:
                return stem
        for prefix in _PREFIXES:
            stem = word[len(prefix) :]
            if word.startswith(prefix) and len(stem) >= _MIN_STEM and stem in self._known:
                return stem
        return None

    def _similar_lengths(self, length: int) -> list[str]:
        """The vocabulary words long enough and short enough to be a close spelling."""
        if length not in self._windows:
            shortest = math.ceil(length / _LENGTH_SPAN - 1e-9)  # the tolerance keeps exact ends
            longest = math.floor(length * _LENGTH_SPAN + 1e-9)
            self._windows[length] = [
                w for n in range(shortest, longest + 1) for w in self._by_length.get(n, ())
            ]
        return self._windows[length]

    def _content(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """``words`` without stop-words and stop-phrases, keeping protected phrases whole."""
        lex = self.lexicon
        protected = [False] * len(words)
        present = set(words)
        for phrase in lex.keep_phrases:
            if phrase[0] not in present:
                continue
            for start in range(len(words) - len(phrase) + 1):
                if words[start : start + len(phrase)] == phrase:
                    protected[start : start + len(phrase)] = [True] * len(phrase)
        content: list[str] = []
        i = 0
        while i < len(words):
            if not protected[i]:
                skip = next(
                    (
                        len(p)
                        for p in lex.stop_phrases.get(words[i], ())
                        if words[i : i + len(p)] == p and not any(protected[i : i + len(p)])
                    ),
                    1 if words[i] in lex.stopwords else 0,
                )
                if skip:
                    i += skip
                    continue
            content.append(words[i])
            i += 1
        return tuple(content)


def _tokens(text: str) -> list[str]:
    """Lower-case words of letters and digits; punctuation, emoji and zero-width marks gone."""
    text = _ZERO_WIDTH.sub("", _without_accents(unicodedata.normalize("NFKC", text).casefold()))
    text = _CODE.sub(lambda m: (m[1] or m[2]) + m[3], _G2G.sub(" g2g ", text))
    return _NON_WORD.sub(" ", text).split()


def _resolved(abbreviations: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each expansion with its own words expanded too: "ujiane" -> "ujian" -> "tes".

    The lexicon lists words as people write them; one that stands for another listed word
    ends where that word ends. A word standing for itself ("sehat: sehat") stays; a cycle stops
    at the second visit.
    """

    def expand(word: str, seen: frozenset[str]) -> tuple[str, ...]:
        target = abbreviations.get(word)
        if target is None or word in seen or target == (word,):
            return (word,)
        return tuple(w for t in target for w in expand(t, seen | {word}))

    return {
        key: tuple(w for t in value for w in expand(t, frozenset({key})))
        for key, value in abbreviations.items()
    }


def _without_accents(text: str) -> str:
    """Latin letters without their accents: Sundanese "béja énggal" is typed "beja enggal" too.

    Only combining marks are dropped and the rest is composed again, so Hangul and other
    scripts that decompose come back whole.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", kept)


@cache
def default_lexicon() -> Lexicon:
    """The package's lexicon, read once."""
    return Lexicon.load()


@cache
def _default_normalizer() -> Normalizer:
    return Normalizer()


def normalize(text: str) -> str:
    """The normal form of ``text`` with the package lexicon (no spelling correction)."""
    return _default_normalizer()(text).text


# --- masking personal numbers in stored questions ----------------------------------------------

PHONE_MASK = "[TELEPON]"


def mask_personal_numbers(text: str) -> str:
    """``text`` with NIK-like numbers shown as ``3673********0001`` and phones as [TELEPON].

    The masker of ``screening.identity``, built on its parsers: every form they accept is masked.
    """
    return redact(text, phone_mask=PHONE_MASK)
