"""Staff-side domain: exports, statistics, charts and unanswered-question grouping.

Pure Python, never imports ``telegram``. Labels and report texts live in ``desk/texts.yaml``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from store.clock import local

TEXTS_FILE = Path(__file__).with_name("texts.yaml")
DEFAULT_LANG = "id"


def local_datetime(iso: str) -> datetime:
    """A stored UTC ISO timestamp as a naive local datetime (what staff read; ``store.clock``)."""
    return local(iso).replace(tzinfo=None)


@cache
def _texts() -> dict[str, Any]:
    with TEXTS_FILE.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def text(section: str, key: str, lang: str) -> str:
    """The ``lang`` text of ``section.key`` (Indonesian when ``lang`` is missing)."""
    entry = _texts()[section][key]
    return str(entry.get(lang) or entry[DEFAULT_LANG])


def labels(section: str, lang: str) -> dict[str, str]:
    """Every ``key -> text`` of a section in one language, e.g. the programme labels."""
    return {key: text(section, key, lang) for key in _texts()[section]}


def optional_labels(section: str, lang: str) -> dict[str, str]:
    """Like :func:`labels`, but empty when the section is not in the texts (yet)."""
    return labels(section, lang) if section in _texts() else {}
