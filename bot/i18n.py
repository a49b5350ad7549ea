"""The bot's view of the one text catalog (:mod:`catalog`): ``bot/texts/*.yaml`` and every
domain package's texts, loaded once, by key and language.

Texts are Telegram HTML templates with ``{placeholders}``; :meth:`Texts.render` escapes every
value it substitutes, so content from users or data files can never break the markup. The
check of ``python -m bot check`` is :func:`validate_texts`: the catalog's own rules plus
Telegram's HTML subset (:func:`bot.telegram_html.check_html`), which only the edge knows.
"""

from __future__ import annotations

from catalog import PLAIN_PREFIXES, ROOT, SOURCES, Markup, Problem, Source, escape, problems
from catalog import Catalog as Texts

TextProblem = Problem

TEXTS_DIR = ROOT / "bot" / "texts"

__all__ = ["PLAIN_PREFIXES", "TEXTS_DIR", "Markup", "Problem", "TextProblem", "Texts", "escape"]


def validate_texts(sources: tuple[Source, ...] = SOURCES) -> list[TextProblem]:
    """Problems in every texts file: schema, both languages, placeholders, duplicate keys,
    Telegram HTML."""
    from bot.telegram_html import check_html  # local: keeps import light for the loader

    return problems(check_html, sources)
