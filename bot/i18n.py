"""User-facing texts of the Telegram edge, loaded from ``bot/texts/*.yaml``.

Each file maps a key to ``{id: ..., en: ...}``. Texts are Telegram HTML templates with
``{placeholders}``; :meth:`Texts.render` escapes every value it substitutes, so content from users
or data files can never break the markup.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.config import LANGUAGES

TEXTS_DIR = Path(__file__).parent / "texts"
# Keys of plain-text labels (buttons, command descriptions): not HTML, at most 64 characters.
PLAIN_PREFIXES = ("btn_", "cmd_")


class Markup(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""

    __slots__ = ()


def escape(value: Any) -> str:
    """Escape a dynamic value for an HTML-mode message (``Markup`` passes through)."""
    if isinstance(value, Markup):
        return value
    return html.escape(str(value), quote=False)


@dataclass(frozen=True)
class TextProblem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class Texts:
    """All texts of the bot, by key and language."""

    def __init__(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        self._texts = texts

    @classmethod
    def load(cls, directory: Path = TEXTS_DIR) -> Texts:
        texts, problems = _read(directory)
        if problems:
            raise ValueError("\n".join(map(str, problems)))
        return cls(texts)

    def __contains__(self, key: str) -> bool:
        return key in self._texts

    def keys(self) -> list[str]:
        return list(self._texts)

    def get(self, key: str, lang: str) -> str:
        """The raw template of ``key`` in ``lang`` (Indonesian when the language is unknown)."""
        entry = self._texts[key]
        return entry.get(lang) or entry["id"]

    def render(self, key: str, lang: str, /, **values: Any) -> Markup:
        """The template filled with escaped ``values``."""
        template = self.get(key, lang)
        if not values:
            return Markup(template)
        return Markup(template.format(**{k: escape(v) for k, v in values.items()}))


def _read(directory: Path) -> tuple[dict[str, dict[str, str]], list[TextProblem]]:
    texts: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    problems: list[TextProblem] = []
    for path in sorted(directory.glob("*.yaml")):
        name = path.name
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            problems.append(TextProblem(name, "-", f"not valid YAML: {exc}"))
            continue
        if not isinstance(data, Mapping):
            problems.append(TextProblem(name, "-", "the top level must be a mapping"))
            continue
        for key, entry in data.items():
            if key in origin:
                problems.append(TextProblem(name, key, f"duplicate key, also in {origin[key]}"))
                continue
            origin[key] = name
            if not isinstance(entry, Mapping):
                problems.append(TextProblem(name, key, "must map languages to texts"))
                continue
            for lang in LANGUAGES:
                if not isinstance(entry.get(lang), str) or not entry[lang].strip():
                    problems.append(TextProblem(name, key, f"missing text for '{lang}'"))
            extra = set(entry) - set(LANGUAGES)
            if extra:
                problems.append(TextProblem(name, key, f"unknown languages {sorted(extra)}"))
            fields = {
                tuple(sorted({f for _, f, _, _ in string.Formatter().parse(str(v)) if f}))
                for v in entry.values()
                if isinstance(v, str)
            }
            if len(fields) > 1:
                problems.append(TextProblem(name, key, "languages use different placeholders"))
            texts[key] = {lang: str(entry.get(lang, "")) for lang in LANGUAGES}
    return texts, problems


def validate_texts(directory: Path = TEXTS_DIR) -> list[TextProblem]:
    """Problems in the text files: schema, both languages, placeholders, Telegram HTML."""
    from bot.telegram_html import check_html  # local: keeps import light for the loader

    texts, problems = _read(directory)
    origin = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data, Mapping):
            origin.update(dict.fromkeys(data, path.name))
    for key, entry in texts.items():
        for lang, text in entry.items():
            if key.startswith(PLAIN_PREFIXES):  # button labels and command descriptions
                if len(text) > 64:
                    problems.append(TextProblem(origin.get(key, "?"), key, f"{lang}: over 64"))
                continue
            sample = text.replace("{", "").replace("}", "") if "{" in text else text
            error = check_html(sample)
            if error:
                problems.append(TextProblem(origin.get(key, "?"), key, f"{lang}: {error}"))
            if len(text) > 3500:
                problems.append(TextProblem(origin.get(key, "?"), key, f"{lang}: too long"))
    return problems
