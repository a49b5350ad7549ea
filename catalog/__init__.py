"""The one text catalog: every user-facing text of every package, by key and language.

Each package keeps its texts in its own YAML files, listed in :data:`SOURCES`; one loader reads
them all into one catalog of dotted keys (``desk.stats.title``, ``store.not_found``; the bot's
own keys have no prefix), and one check (:func:`problems`, run by ``python -m bot check``)
holds every file to the same rules: both languages present, the same ``{placeholders}`` in each,
no key defined twice, Telegram HTML valid where a source is HTML.

A source is either Telegram HTML (the bot's messages; values are escaped as they are filled in)
or plain text (labels, validation messages, export headers, storage errors; the whole filled
text is escaped when it goes into a message). :meth:`Catalog.render` is HTML-safe for both;
:meth:`Catalog.text` gives plain text for files, logs and exceptions.

This package imports nothing of the project, so every package may use it: the domain packages
(``faq``, ``screening``, ``store``, ``desk``) never import ``bot`` or ``telegram``, and the texts
they own are loaded and checked exactly like the bot's.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

LANGUAGES = ("id", "en")
DEFAULT_LANG = "id"
ROOT = Path(__file__).resolve().parent.parent
#: Keys of plain-text labels in an HTML source (buttons, command descriptions): at most 64
#: characters, shown as they are.
PLAIN_PREFIXES = ("btn_", "cmd_")
LABEL_LIMIT = 64
#: A message template stays well under Telegram's 4,096 characters.
TEXT_LIMIT = 3500

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")


@dataclass(frozen=True)
class Source:
    """Texts files of one package: ``pattern`` (a glob under the project root), the prefix of
    their keys, and whether they are Telegram HTML or plain text."""

    pattern: str
    prefix: str
    html: bool

    def paths(self, root: Path = ROOT) -> list[Path]:
        return sorted(root.glob(self.pattern))


SOURCES = (
    Source("bot/texts/*.yaml", "", html=True),
    Source("desk/texts.yaml", "desk.", html=False),
    Source("screening/data/texts.yaml", "screening.", html=False),
    Source("screening/data/identity_texts.yaml", "identity.", html=False),
    Source("store/data/messages.yaml", "store.", html=False),
)


class Markup(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""

    __slots__ = ()


def escape(value: Any) -> str:
    """Escape a dynamic value for an HTML-mode message (``Markup`` passes through)."""
    if isinstance(value, Markup):
        return value
    return html.escape(str(value), quote=False)


@dataclass(frozen=True)
class Entry:
    """One text in every language; ``html``: a Telegram HTML template (else plain text)."""

    texts: Mapping[str, str]
    html: bool
    file: str

    def template(self, lang: str) -> str:
        return self.texts.get(lang) or self.texts[DEFAULT_LANG]


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class CatalogError(ValueError):
    """The texts files cannot be loaded; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class _KeepMissing(dict[str, Any]):
    """A format mapping that leaves unknown ``{placeholders}`` as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Catalog:
    """Every text, by dotted key and language; immutable, so one instance is shared."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = MappingProxyType(dict(entries))

    @classmethod
    def load(cls) -> Catalog:
        """The catalog of :data:`SOURCES`, read once per process (it never changes)."""
        return default()

    @classmethod
    def read(cls, sources: tuple[Source, ...] = SOURCES, root: Path = ROOT) -> Catalog:
        """A fresh catalog of ``sources``; :class:`CatalogError` on any loading problem."""
        entries, found = _read(sources, root)
        if found:
            raise CatalogError(found)
        return cls(entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def entry(self, key: str) -> Entry:
        return self._entries[key]

    def get(self, key: str, lang: str) -> str:
        """The raw template of ``key`` in ``lang`` (Indonesian when the language is unknown)."""
        return self._entries[key].template(lang)

    def render(self, key: str, lang: str, /, **values: Any) -> Markup:
        """Valid Telegram HTML: an HTML template filled with escaped ``values``, or a plain
        text filled in and then escaped as a whole."""
        entry = self._entries[key]
        template = entry.template(lang)
        if not entry.html:
            return Markup(escape(fill(template, values) if values else template))
        if not values:
            return Markup(template)
        return Markup(template.format(**{k: escape(v) for k, v in values.items()}))

    def text(self, key: str, lang: str, /, **values: Any) -> str:
        """A plain text filled with ``values`` as they are (unknown placeholders kept), for
        files, logs and exceptions; an HTML template is refused (use :meth:`render`)."""
        entry = self._entries[key]
        if entry.html:
            raise ValueError(f"{key} is Telegram HTML: render it")
        return fill(entry.template(lang), values)

    def labels(self, section: str, lang: str) -> dict[str, str]:
        """Every ``rest-of-key -> text`` under ``section.`` in ``lang``, in file order."""
        head = section + "."
        return {
            k[len(head) :]: e.template(lang)
            for k, e in self._entries.items()
            if k.startswith(head)
        }


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with its ``{placeholders}`` filled from ``values`` (unknown ones kept)."""
    return template.format_map(_KeepMissing(values))


@cache
def default() -> Catalog:
    """The catalog of :data:`SOURCES`, loaded once (immutable, shared by every user)."""
    return Catalog.read()


def placeholders(text: str) -> tuple[str, ...]:
    """The ``{fields}`` of a template, sorted."""
    return tuple(sorted({f for _, f, _, _ in string.Formatter().parse(text) if f}))


def _read(sources: tuple[Source, ...], root: Path) -> tuple[dict[str, Entry], list[Problem]]:
    entries: dict[str, Entry] = {}
    found: list[Problem] = []
    for source in sources:
        paths = source.paths(root)
        if not paths:
            found.append(Problem(source.pattern, "-", "no such file"))
        for path in paths:
            name = _name(path, root)
            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader) or {}
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                found.append(Problem(name, "-", f"not valid YAML: {exc}"))
                continue
            if not isinstance(data, Mapping):
                found.append(Problem(name, "-", "the top level must be a mapping"))
                continue
            _flatten(data, source.prefix, source, name, entries, found)
    return entries, found


def _flatten(
    node: Mapping[Any, Any],
    prefix: str,
    source: Source,
    name: str,
    entries: dict[str, Entry],
    found: list[Problem],
) -> None:
    for raw_key, value in node.items():
        if not isinstance(raw_key, str):  # YAML 1.1 reads yes/no/on/off unquoted as booleans
            found.append(Problem(name, f"{prefix}{raw_key}", "quote this key"))
            continue
        key = prefix + raw_key
        if isinstance(value, Mapping) and not (set(value) & set(LANGUAGES)):
            _flatten(value, key + ".", source, name, entries, found)
            continue
        if key in entries:
            found.append(Problem(name, key, f"duplicate key, also in {entries[key].file}"))
            continue
        if not isinstance(value, Mapping):
            found.append(Problem(name, key, "must map languages to texts"))
            continue
        for lang in LANGUAGES:
            if not isinstance(value.get(lang), str) or not value[lang].strip():
                found.append(Problem(name, key, f"missing text for '{lang}'"))
        extra = set(value) - set(LANGUAGES)
        if extra:
            found.append(Problem(name, key, f"unknown languages {sorted(map(str, extra))}"))
        fields = {placeholders(v) for v in value.values() if isinstance(v, str)}
        if len(fields) > 1:
            found.append(Problem(name, key, "languages use different placeholders"))
        is_html = source.html and not raw_key.startswith(PLAIN_PREFIXES)
        texts = {lang: str(value.get(lang) or "") for lang in LANGUAGES}
        entries[key] = Entry(MappingProxyType(texts), is_html, name)


def _name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def problems(
    check_html: Callable[[str], str | None],
    sources: tuple[Source, ...] = SOURCES,
    root: Path = ROOT,
) -> list[Problem]:
    """Every problem in the texts files: loading (schema, both languages, placeholders,
    duplicates), then each text: an HTML template must be valid for ``check_html`` (Telegram's
    subset, which the edge knows), a plain text must hold no markup, a label fits a button."""
    entries, found = _read(sources, root)
    for key, entry in entries.items():
        label = key.rpartition(".")[2].startswith(PLAIN_PREFIXES) and not entry.html
        for lang, text in entry.texts.items():
            if label and len(text) > LABEL_LIMIT:
                found.append(Problem(entry.file, key, f"{lang}: over {LABEL_LIMIT}"))
            elif entry.html:
                sample = text.replace("{", "").replace("}", "") if "{" in text else text
                error = check_html(sample)
                if error:
                    found.append(Problem(entry.file, key, f"{lang}: {error}"))
            elif _TAG.search(text):
                found.append(Problem(entry.file, key, f"{lang}: markup in a plain text"))
            if len(text) > TEXT_LIMIT:
                found.append(Problem(entry.file, key, f"{lang}: too long"))
    return found
