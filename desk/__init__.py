"""Staff-side domain: exports, statistics, charts and unanswered-question grouping.

Pure Python, never imports ``telegram``. Labels and report texts live in ``desk/texts.yaml``,
read and checked as part of the one text catalog (:mod:`catalog`, keys ``desk.<section>.<key>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

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


def reason_label(record: Mapping[str, Any], reasons: Mapping[str, str]) -> str | None:
    """Why a lead is where it is, in words: the reason id's label from ``reasons`` (the
    "reasons" labels; an old record may hold the label itself), with the typed text of an
    ``other`` reason."""
    reason = record.get("status_reason")
    typed = record.get("status_reason_text")
    if not reason:
        return typed or None
    label = reasons.get(reason, reason)
    if not typed:
        return label
    return typed if reason == "other" else f"{label}: {typed}"


def optional_labels(section: str, lang: str) -> dict[str, str]:
    """Like :func:`labels`, but empty when the section is not in the texts (yet)."""
    return catalog.default().labels(f"desk.{section}", lang)
