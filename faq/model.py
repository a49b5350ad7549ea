"""The FAQ knowledge base: typed entries loaded from ``faq/data/*.yaml`` and checked on load.

``topics.yaml`` lists the topics in menu order; every other YAML file in the directory holds
``entries``. :func:`validate_knowledge_base` reports every defect it finds (schema, references,
sizes, Telegram HTML); :func:`load_knowledge_base` refuses to build from defective data.

Longer than ~600 lines on purpose: the types, the loader and the checker (``_Checker``, most of
the module) read the same YAML shapes, and keeping them together keeps a field's type and its
check in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import yaml

DATA_DIR = Path(__file__).parent / "data"
# libyaml's parser when present: the same safe loading, about ten times faster (the knowledge
# base is read at every start of the bot and of every `python -m bot` command).
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with :data:`SafeLoader`."""
    return yaml.load(text, Loader=SafeLoader)


TOPICS_FILE = "topics.yaml"
# Examples of messages no entry answers (the matcher's off-topic class), and what staff taught the
# bot from its traffic (see faq.learning): both optional, neither holds entries.
OFF_TOPIC_FILE = "off_topic.yaml"
LEARNED_FILE = "learned.yaml"
# More phrasings per entry, written apart from the entries so that those stay readable: citizens'
# voices (long stories, Sundanese and Javanese, English) the matcher learns from like any phrasing.
PARAPHRASES_FILE = "paraphrases.yaml"
VALUES_FILE = "values.yaml"  # texts faq.render fills in (placeholders, dated statements)
SPECIAL_FILES = frozenset(
    {TOPICS_FILE, OFF_TOPIC_FILE, LEARNED_FILE, PARAPHRASES_FILE, VALUES_FILE}
)
# Placeholders an answer or detail may hold; faq.render fills them ({timeline} from the entry's
# dated statements, the rest from the values the bot passes, e.g. its config).
PLACEHOLDERS = frozenset(
    {"timeline", "retention_days", "office_address", "office_hours", "office_phone"}
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# What a citizen must never be shown as a source: internal notes, this project's own papers,
# staging hosts, data dumps and code hosting (issue 9, item 4). `check` fails on them.
NOT_PUBLIC = re.compile(
    r"domain brief|unconfirmed|this project|bot specification|staging|\.sql\b|github|"
    r"localhost|internal",
    re.IGNORECASE,
)
# A source without a link must name an official publication (a law, regulation or notice).
OFFICIAL_PUBLICATION = re.compile(
    r"\b(?:UU|PP|Perpres|Permen\w*|Kepmen\w*|Perban|Peraturan|Pasal|Undang-Undang)\b|\bPENG\."
)
LANGUAGES = ("id", "en")

ID_PATTERN = re.compile(r"[a-z0-9-]+")
MAX_ID = 24
MAX_QUESTION = 200
MAX_ANSWER = 600
MAX_DETAIL = 2500
MIN_PHRASINGS = 4
# Telegram allows 4096 characters per message; an answer, its detail and its sources together must
# leave room for the header and buttons the bot adds around them.
MAX_RENDERED = 3800

T = TypeVar("T")


@dataclass(frozen=True)
class Localized(Generic[T]):
    """One value per language, Indonesian first."""

    id: T
    en: T

    def get(self, lang: str) -> T:
        """The value in ``lang`` (``"id"`` or ``"en"``); anything else falls back to Indonesian."""
        return self.en if lang == "en" else self.id

    def __getitem__(self, lang: str) -> T:
        """``localized["en"]``: the value in one language (``KeyError`` for unknown ones)."""
        if lang not in LANGUAGES:
            raise KeyError(lang)
        return self.get(lang)

    def values(self) -> tuple[T, T]:
        """Both values, Indonesian first."""
        return (self.id, self.en)


@dataclass(frozen=True)
class Topic:
    """A menu section of the FAQ."""

    id: str
    emoji: str
    title: Localized[str]


@dataclass(frozen=True)
class Source:
    """Where an answer's facts come from; ``url`` is ``None`` for printed or offline sources."""

    title: str
    url: str | None


@dataclass(frozen=True)
class Statement:
    """A dated statement about the timeline: what was said, when, and the date it aimed at."""

    said: date
    due: date
    text: Localized[str]


@dataclass(frozen=True)
class Entry:
    """One question with its answer; ``answer`` and ``detail`` are Telegram HTML."""

    id: str
    topic: str
    question: Localized[str]
    phrasings: Localized[tuple[str, ...]]
    keywords: Localized[tuple[str, ...]]
    answer: Localized[str]
    detail: Localized[str] | None
    sources: tuple[Source, ...]
    checked: date
    timeline: tuple[Statement, ...] = ()
    # The answer and detail as written, with {placeholders}: faq.render fills them for a given
    # day and config. ``answer``/``detail`` hold them pre-filled on the load date with neutral
    # texts, so a caller that shows ``entry.answer`` directly never shows raw braces.
    template_answer: Localized[str] | None = None
    template_detail: Localized[str] | None = None

    def texts_to_match(self) -> Iterator[str]:
        """The question and every phrasing and keyword, in both languages."""
        for lang in LANGUAGES:
            yield self.question.get(lang)
            yield from self.phrasings.get(lang)
            yield from self.keywords.get(lang)


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """Topics in menu order and entries in file order, with lookups by id."""

    topics: tuple[Topic, ...]
    entries: tuple[Entry, ...]
    off_topic: tuple[str, ...] = ()  # messages no entry answers (the matcher's off-topic class)
    by_id: Mapping[str, Entry] = field(init=False, repr=False)
    _topics_by_id: Mapping[str, Topic] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", MappingProxyType({e.id: e for e in self.entries}))
        object.__setattr__(self, "_topics_by_id", MappingProxyType({t.id: t for t in self.topics}))

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id (``KeyError`` if there is none)."""
        return self._topics_by_id[topic_id]

    def entries_in(self, topic_id: str) -> tuple[Entry, ...]:
        """The entries of one topic, in file order."""
        return tuple(e for e in self.entries if e.topic == topic_id)


@dataclass(frozen=True)
class Problem:
    """One defect in the data files."""

    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.message}"


class KnowledgeBaseError(ValueError):
    """The knowledge base files have defects; ``problems`` lists every one."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"the FAQ knowledge base has {len(self.problems)} problem(s):\n{lines}")


def load_knowledge_base(
    directory: Path | None = None,
    today: date | None = None,
    values: Mapping[str, object] | None = None,
) -> KnowledgeBase:
    """Load and validate the knowledge base (default: the package's data directory).

    Answers with placeholders are pre-filled for ``today`` (default: the current date) with
    ``values`` (e.g. ``{"retention_days": 730}``) or, where a value is missing, the neutral
    texts of ``values.yaml``; :func:`faq.render.render` fills the templates again per message.
    """
    from faq.render import prefill  # render reads this module's types

    raw_topics, raw_entries, problems = _read(directory or DATA_DIR)
    extra, learned_off, extra_problems = _extra_phrasings(
        directory or DATA_DIR, {str(e["id"]) for _, e in raw_entries}
    )
    problems += extra_problems
    if problems:
        raise KnowledgeBaseError(problems)
    topics = tuple(
        Topic(id=t["id"], emoji=t["emoji"], title=_text(t["title"])) for t in raw_topics
    )
    entries = tuple(
        prefill(_entry(e), today or date.today(), values or {}) for _, e in raw_entries
    )
    entries = tuple(
        replace(
            e,
            phrasings=Localized(
                e.phrasings.id + tuple(extra[e.id].get("id", ())),
                e.phrasings.en + tuple(extra[e.id].get("en", ())),
            ),
        )
        if e.id in extra
        else e
        for e in entries
    )
    return KnowledgeBase(
        topics=topics,
        entries=entries,
        off_topic=_off_topic(directory or DATA_DIR) + learned_off,
    )


def _learned(directory: Path) -> tuple[dict[str, dict[str, list[str]]], tuple[str, ...]]:
    """``learned.yaml`` (see faq.learning): phrasings by entry id and language, off-topic texts."""
    path = directory / LEARNED_FILE
    if not path.is_file():
        return {}, ()
    data = (safe_load(path.read_text(encoding="utf-8")) or {}).get("learned") or {}
    phrasings = {
        str(entry): {lang: [str(t) for t in texts or ()] for lang, texts in by_lang.items()}
        for entry, by_lang in (data.get("phrasings") or {}).items()
    }
    off = data.get("off_topic") or {}
    return phrasings, tuple(str(t) for lang in LANGUAGES for t in off.get(lang) or ())


def _paraphrases(directory: Path) -> dict[str, dict[str, list[str]]]:
    """``paraphrases.yaml``: more phrasings by entry id and language."""
    path = directory / PARAPHRASES_FILE
    if not path.is_file():
        return {}
    data = (safe_load(path.read_text(encoding="utf-8")) or {}).get("paraphrases") or {}
    return {
        str(entry): {lang: [str(t) for t in texts or ()] for lang, texts in by_lang.items()}
        for entry, by_lang in data.items()
    }


def _extra_phrasings(
    directory: Path, entry_ids: set[str]
) -> tuple[dict[str, dict[str, list[str]]], tuple[str, ...], list[Problem]]:
    """``learned.yaml`` and ``paraphrases.yaml`` read once: their phrasings merged by entry id
    and language, the learned off-topic texts, and the files' defects (shape, unknown ids and
    languages)."""
    merged: dict[str, dict[str, list[str]]] = {}
    off: tuple[str, ...] = ()
    problems: list[Problem] = []
    for name in (LEARNED_FILE, PARAPHRASES_FILE):
        try:
            if name == LEARNED_FILE:
                phrasings, off = _learned(directory)
            else:
                phrasings = _paraphrases(directory)
        except (yaml.YAMLError, AttributeError, TypeError) as exc:
            problems.append(Problem(name, "-", f"malformed: {exc}".replace("\n", " ")))
            continue
        problems += [
            Problem(name, entry, "phrasings for an unknown entry id")
            for entry in sorted(set(phrasings) - entry_ids)
        ]
        for entry, by_lang in phrasings.items():
            for lang in sorted(set(by_lang) - set(LANGUAGES)):
                problems.append(Problem(name, entry, f"unknown language {lang!r}"))
            for lang, texts in by_lang.items():
                merged.setdefault(entry, {}).setdefault(lang, []).extend(texts)
    return merged, off, problems


def _off_topic(directory: Path) -> tuple[str, ...]:
    """The off-topic examples of ``off_topic.yaml`` (both languages), if the file exists."""
    path = directory / OFF_TOPIC_FILE
    if not path.is_file():
        return ()
    data = safe_load(path.read_text(encoding="utf-8"))
    return tuple(str(t).strip() for lang in LANGUAGES for t in data["off_topic"].get(lang) or ())


def plain_text(html: str) -> str:
    """Telegram HTML as plain text: tags dropped, entities decoded."""
    return unescape(_TAG.sub(" ", html))


# `python -m bot check` warns about entries whose facts were last checked longer ago than this.
STALE_AFTER_DAYS = 180


def stale_entries(
    kb: KnowledgeBase, today: date, max_age_days: int = STALE_AFTER_DAYS
) -> list[Problem]:
    """Warnings (not defects) for entries whose ``checked`` date is older than the limit."""
    return [
        Problem(
            "faq",
            e.id,
            f"checked {e.checked.isoformat()}, {(today - e.checked).days} days ago "
            f"(more than {max_age_days}): re-check its facts and sources",
        )
        for e in kb.entries
        if (today - e.checked).days > max_age_days
    ]


def validate_knowledge_base(directory: Path | None = None) -> list[Problem]:
    """Every defect found in the knowledge base files; an empty list means it loads."""
    _, entries, problems = _read(directory or DATA_DIR)
    _, _, extra = _extra_phrasings(directory or DATA_DIR, {str(e["id"]) for _, e in entries})
    return problems + extra


# --- building typed objects from checked raw data -------------------------------------------


def _text(raw: Mapping[str, str]) -> Localized[str]:
    return Localized(id=raw["id"].strip(), en=raw["en"].strip())


def _texts(raw: Mapping[str, list[str | int]]) -> Localized[tuple[str, ...]]:
    return Localized(
        id=tuple(str(s).strip() for s in raw["id"]), en=tuple(str(s).strip() for s in raw["en"])
    )


def _entry(raw: Mapping[str, Any]) -> Entry:
    checked = raw["checked"]
    return Entry(
        id=raw["id"],
        topic=raw["topic"],
        question=_text(raw["question"]),
        phrasings=_texts(raw["phrasings"]),
        keywords=_texts(raw["keywords"]),
        answer=_text(raw["answer"]),
        detail=_text(raw["detail"]) if raw.get("detail") is not None else None,
        sources=tuple(Source(title=s["title"].strip(), url=s["url"]) for s in raw["sources"]),
        checked=checked if isinstance(checked, date) else date.fromisoformat(checked),
        timeline=tuple(
            Statement(said=_date(t["said"]), due=_date(t["due"]), text=_text(t))
            for t in raw.get("timeline") or ()
        ),
    )


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# --- reading and checking ---------------------------------------------------------------------

TOPIC_KEYS = {"id", "emoji", "title"}
ENTRY_REQUIRED = {
    "id",
    "topic",
    "question",
    "phrasings",
    "keywords",
    "answer",
    "sources",
    "checked",
}
ENTRY_OPTIONAL = {"detail", "timeline"}
STATEMENT_KEYS = {"said", "due", "id", "en"}


def _read(
    directory: Path,
) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]], list[Problem]]:
    """Parse every file; return the well-formed topics and entries and all problems found."""
    problems: list[Problem] = []
    topics_path = directory / TOPICS_FILE
    topics: list[dict[str, Any]] = []
    if not topics_path.is_file():
        problems.append(Problem(TOPICS_FILE, "-", "file is missing"))
    else:
        topics = _items(topics_path, "topics", problems)
    entries: list[tuple[str, dict[str, Any]]] = []
    entry_files = sorted(p for p in directory.glob("*.yaml") if p.name not in SPECIAL_FILES)
    if not entry_files:
        problems.append(Problem(directory.name, "-", "no entries files (*.yaml) found"))
    for path in entry_files:
        entries.extend((path.name, raw) for raw in _items(path, "entries", problems))

    checker = _Checker(problems)
    good_topics = [t for t in topics if checker.topic(TOPICS_FILE, t)]
    good_entries = [(f, e) for f, e in entries if checker.entry(f, e)]
    checker.references(good_topics, good_entries, {str(e.get("topic")) for _, e in entries})
    return good_topics, good_entries, problems


def _items(path: Path, key: str, problems: list[Problem]) -> list[dict[str, Any]]:
    """The list under ``key`` in one YAML file; mappings only, each defect reported."""
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(Problem(path.name, "-", f"cannot be parsed: {exc}".replace("\n", " ")))
        return []
    if not isinstance(data, dict) or set(data) != {key}:
        problems.append(Problem(path.name, "-", f"must be a mapping with the single key {key!r}"))
        return []
    items = data[key]
    if not isinstance(items, list) or not items:
        problems.append(Problem(path.name, "-", f"{key!r} must be a non-empty list"))
        return []
    good = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            good.append(item)
        else:
            problems.append(Problem(path.name, f"item {number}", "must be a mapping"))
    return good


class _Checker:
    """Collects problems about single items and about references between them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def _add(self, file: str, entry: str, message: str) -> None:
        self.problems.append(Problem(file, entry, message))

    def topic(self, file: str, raw: dict[str, Any]) -> bool:
        """Check one topic; True when it is well-formed enough to build."""
        before = len(self.problems)
        name = self._id(file, raw)
        self._keys(file, name, raw, TOPIC_KEYS, set())
        if not _nonempty_str(raw.get("emoji")):
            self._add(file, name, "emoji must be a non-empty string")
        self._localized(file, name, raw, "title", MAX_QUESTION)
        return len(self.problems) == before

    def entry(self, file: str, raw: dict[str, Any]) -> bool:
        """Check one entry; True when it is well-formed enough to build."""
        before = len(self.problems)
        name = self._id(file, raw)
        self._keys(file, name, raw, ENTRY_REQUIRED, ENTRY_OPTIONAL)
        if not _nonempty_str(raw.get("topic")):
            self._add(file, name, "topic must be a topic id")
        self._localized(file, name, raw, "question", MAX_QUESTION)
        self._localized(file, name, raw, "answer", MAX_ANSWER, html=True)
        if raw.get("detail") is not None:
            self._localized(file, name, raw, "detail", MAX_DETAIL, html=True)
        self._lists(file, name, raw, "phrasings", MIN_PHRASINGS)
        self._lists(file, name, raw, "keywords", 1)
        self._sources(file, name, raw.get("sources"))
        self._checked(file, name, raw.get("checked"))
        self._timeline(file, name, raw)
        if len(self.problems) == before:
            self._rendered_size(file, name, raw)
        return len(self.problems) == before

    def references(
        self,
        topics: list[dict[str, Any]],
        entries: list[tuple[str, dict[str, Any]]],
        used_topics: set[str],
    ) -> None:
        """Unique ids, known topics, and no topic without entries (defective ones count)."""
        seen_topics: set[str] = set()
        for raw in topics:
            if raw["id"] in seen_topics:
                self._add(TOPICS_FILE, raw["id"], "duplicate topic id")
            seen_topics.add(raw["id"])
        seen: dict[str, str] = {}
        for file, raw in entries:
            if raw["id"] in seen:
                self._add(file, raw["id"], f"duplicate id (first defined in {seen[raw['id']]})")
            seen.setdefault(raw["id"], file)
            if raw["topic"] not in seen_topics:
                self._add(file, raw["id"], f"unknown topic {raw['topic']!r}")
        if entries:
            for topic_id in sorted(seen_topics - used_topics):
                self._add(TOPICS_FILE, topic_id, "topic has no entries")

    # --- field checks ---

    def _id(self, file: str, raw: dict[str, Any]) -> str:
        value = raw.get("id")
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value) or len(value) > MAX_ID:
            self._add(file, str(value), f"id must match [a-z0-9-]+ and be at most {MAX_ID} chars")
        return str(value)

    def _keys(
        self, file: str, name: str, raw: dict[str, Any], required: set[str], optional: set[str]
    ) -> None:
        for key in sorted(required - set(raw)):
            self._add(file, name, f"missing key {key!r}")
        for key in sorted(set(raw) - required - optional):
            self._add(file, name, f"unknown key {key!r}")

    def _localized(
        self, file: str, name: str, raw: dict[str, Any], key: str, limit: int, html: bool = False
    ) -> None:
        value = raw.get(key)
        if key not in raw:
            return  # reported as a missing key
        if not isinstance(value, dict):
            self._add(file, name, f"{key} must be a mapping with 'id' and 'en'")
            return
        self._languages(file, name, key, value)
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                self._add(file, name, f"{key}.{lang} must be a non-empty string")
                continue
            if len(text.strip()) > limit:
                self._add(file, name, f"{key}.{lang} is {len(text.strip())} chars (max {limit})")
            if html:
                for message in html_problems(text):
                    self._add(file, name, f"{key}.{lang}: {message}")

    def _lists(self, file: str, name: str, raw: dict[str, Any], key: str, minimum: int) -> None:
        value = raw.get(key)
        if key not in raw:
            return
        if not isinstance(value, dict):
            self._add(file, name, f"{key} must be a mapping with 'id' and 'en' lists")
            return
        self._languages(file, name, key, value)
        for lang in LANGUAGES:
            items = value.get(lang)
            if not isinstance(items, list) or not all(_list_item(s) for s in items):
                self._add(file, name, f"{key}.{lang} must be a list of non-empty strings")
            elif len(items) < minimum:
                self._add(file, name, f"{key}.{lang} has {len(items)} item(s) (min {minimum})")

    def _languages(self, file: str, name: str, key: str, value: dict[str, Any]) -> None:
        for lang in sorted(set(value) - set(LANGUAGES), key=str):
            self._add(file, name, f"{key} has unknown language {lang!r}")

    def _sources(self, file: str, name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not value:
            self._add(file, name, "sources must be a non-empty list")
            return
        for number, source in enumerate(value, start=1):
            if not isinstance(source, dict) or set(source) != {"title", "url"}:
                self._add(file, name, f"source {number} must have exactly 'title' and 'url'")
                continue
            if not _nonempty_str(source["title"]):
                self._add(file, name, f"source {number} title must be a non-empty string")
            url = source["url"]
            if url is not None and not (isinstance(url, str) and _URL.fullmatch(url)):
                self._add(file, name, f"source {number} url must be http(s)://... or null")
            shown = f"{source['title']} {url or ''}"
            if NOT_PUBLIC.search(shown):
                self._add(file, name, f"source {number} is not a public source: {shown.strip()!r}")
            elif url is None and not OFFICIAL_PUBLICATION.search(str(source["title"])):
                self._add(
                    file,
                    name,
                    f"source {number} has no link and names no official publication "
                    "(law, regulation, notice): give its http(s) address",
                )

    def _timeline(self, file: str, name: str, raw: dict[str, Any]) -> None:
        """Dated statements are well-formed, and {placeholders} are known and used rightly."""
        statements = raw.get("timeline")
        if statements is not None:
            if not isinstance(statements, list) or not statements:
                self._add(file, name, "timeline must be a non-empty list of statements")
                statements = []
            for number, item in enumerate(statements, start=1):
                if not isinstance(item, dict) or set(item) != STATEMENT_KEYS:
                    self._add(file, name, f"timeline {number} needs exactly said, due, id, en")
                    continue
                try:
                    said, due = _date(item["said"]), _date(item["due"])
                except ValueError:
                    self._add(file, name, f"timeline {number}: said and due must be dates")
                    continue
                if due < said:
                    self._add(file, name, f"timeline {number}: due is before said")
                for lang in LANGUAGES:
                    if not _nonempty_str(item[lang]):
                        self._add(file, name, f"timeline {number}.{lang} must be a string")
        used: set[str] = set()
        for key in ("answer", "detail"):
            value = raw.get(key)
            if isinstance(value, dict):
                for text in value.values():
                    if isinstance(text, str):
                        used.update(_PLACEHOLDER.findall(text))
        for unknown in sorted(used - PLACEHOLDERS):
            self._add(file, name, f"unknown placeholder {{{unknown}}}")
        if statements and "timeline" not in used:
            self._add(file, name, "has a timeline but no {timeline} in its answer or detail")
        if "timeline" in used and not statements:
            self._add(file, name, "uses {timeline} but has no timeline statements")

    def _checked(self, file: str, name: str, value: Any) -> None:
        if value is None or isinstance(value, date):
            return  # None is reported as a missing key
        try:
            date.fromisoformat(str(value))
        except ValueError:
            self._add(file, name, f"checked must be a date (YYYY-MM-DD), got {value!r}")

    def _rendered_size(self, file: str, name: str, raw: dict[str, Any]) -> None:
        for lang in LANGUAGES:
            size = rendered_length(raw, lang)
            if size > MAX_RENDERED:
                self._add(
                    file,
                    name,
                    f"answer, detail and sources in {lang!r} take {size} chars "
                    f"(max {MAX_RENDERED}, Telegram allows 4096)",
                )


def rendered_length(raw: Mapping[str, Any], lang: str) -> int:
    """An upper bound for the characters of one entry rendered as a single message."""
    size = len(raw["question"][lang]) + len(raw["answer"][lang]) + 2
    if raw.get("detail") is not None:
        size += len(raw["detail"][lang]) + 2
    for source in raw["sources"]:
        # '• <a href="URL">TITLE</a>\n' plus room for the checked-date line
        size += len(source["title"]) + len(source["url"] or "") + 20
    return size + 60


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _list_item(value: Any) -> bool:
    """A phrasing or keyword: a non-empty string, or a number YAML read as one (``2026``)."""
    return _nonempty_str(value) or (isinstance(value, int) and not isinstance(value, bool))


# --- Telegram HTML ----------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"https?://[^\s\"'<>]+")
_LINK = re.compile(r"(?:https?://|tg://|mailto:)[^\s\"'<>]+")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
ALLOWED_TAGS = frozenset({"b", "i", "a"})


def html_problems(text: str) -> list[str]:
    """Why ``text`` would be rejected or mangled by Telegram's HTML parse mode (none if fine).

    Only ``<b>``, ``<i>`` and ``<a href="...">`` are allowed, tags must be balanced, and every
    ``&`` must start one of the entities Telegram understands.
    """
    checker = _HtmlChecker()
    checker.feed(text)
    checker.close()
    problems = checker.problems
    problems.extend(f"unclosed <{tag}>" for tag in checker.open_tags)
    for match in re.finditer("&", text):
        if not _ENTITY.match(text, match.start()):
            snippet = text[match.start() : match.start() + 10]
            problems.append(f"bare '&' or unknown entity near {snippet!r}")
    return problems


class _HtmlChecker(HTMLParser):
    """Walks the markup and records anything outside Telegram's supported subset."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open_tags.append(tag)
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed (only b, i, a href)")
            return
        names = [name for name, _ in attrs]
        if tag == "a":
            href = dict(attrs).get("href")
            if names != ["href"] or not href or not _LINK.fullmatch(href):
                self.problems.append('<a> needs exactly one href="https://..." attribute')
        elif names:
            self.problems.append(f"<{tag}> takes no attributes")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing tag <{tag}/> is not allowed")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open_tags:
            self.problems.append(f"</{tag}> closes no open tag")
            return
        if self.open_tags[-1] != tag:
            self.problems.append(f"</{tag}> closes <{tag}> before the tags inside it")
        while self.open_tags.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problems.append(f"bare '<' or '>' in text near {data.strip()[:20]!r}")

    def handle_comment(self, data: str) -> None:
        self.problems.append("HTML comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declarations are not allowed")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instructions are not allowed")
