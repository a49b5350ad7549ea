"""Staff-side domain: exports, statistics, charts and unanswered-question grouping.

Pure Python, never imports ``telegram``. Labels and report texts live in ``desk/texts.yaml``,
read and checked as part of the one text catalog (:mod:`catalog`, keys ``desk.<section>.<key>``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import catalog
from store.clock import local

TEXTS_FILE = Path(__file__).with_name("texts.yaml")
DEFAULT_LANG = catalog.DEFAULT_LANG


def local_datetime(iso: str) -> datetime:
    """A stored UTC ISO timestamp as a naive local datetime (what staff read; ``store.clock``)."""
    return local(iso).replace(tzinfo=None)


def text(section: str, key: str, lang: str) -> str:
    """The ``lang`` text of ``section.key`` (Indonesian when ``lang`` is missing), plain."""
    return catalog.default().get(f"desk.{section}.{key}", lang)


def labels(section: str, lang: str) -> dict[str, str]:
    """Every ``key -> text`` of a section in one language, e.g. the programme labels."""
    found = catalog.default().labels(f"desk.{section}", lang)
    if not found:
        raise KeyError(section)
    return found


def optional_labels(section: str, lang: str) -> dict[str, str]:
    """Like :func:`labels`, but empty when the section is not in the texts (yet)."""
    return catalog.default().labels(f"desk.{section}", lang)
