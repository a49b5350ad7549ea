"""An entry's answer as a citizen sees it on a given day, with the bot's own values filled in.

For the integrator (``bot/handlers/faq.py`` shows ``entry.answer[lang]`` directly today)::

    from faq.render import render, StatusUpdate

    shown = render(entry, lang, today=date.today(), values=values, status=status)
    shown.answer   # Telegram HTML: placeholders filled, dated statements computed
    shown.detail   # the same for the detail page, or None

- ``values``: a mapping of placeholder -> value, from the config. The knowledge base uses
  ``retention_days`` (``config.privacy.retention_days``) and ``office_address``,
  ``office_hours``, ``office_phone`` (an office block staff configure; see ``faq/data/
  values.yaml``). A value is HTML-escaped; a missing one shows the neutral text of
  ``values.yaml`` (never raw braces). :func:`office_values` builds the mapping from a config
  dict.
- ``today``: the date the answer is shown. ``{timeline}`` in an answer becomes the entry's dated
  statements, each with the date it was made; once its target date is before ``today`` the
  statement says the target has passed and that there is no new announcement as of ``today``.
- ``status``: the admin's latest :class:`StatusUpdate` (text + date), shown at the top of the
  status and timeline answers (:data:`STATUS_ENTRIES`) until replaced. Its text must pass
  :func:`faq.model.html_problems`, as announcements do; :meth:`StatusUpdate.parse` checks it.

Pure functions: nothing is read at call time except the package's ``values.yaml`` (once).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from faq.model import (
    DATA_DIR,
    VALUES_FILE,
    Entry,
    Localized,
    SafeLoader,
    Statement,
    html_problems,
)

# The answers an admin's programme status update is shown on top of.
STATUS_ENTRIES = frozenset({"programme-status", "programme-timeline"})
MAX_STATUS_TEXT = 500
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Rendered:
    """An entry's texts ready to send (Telegram HTML)."""

    answer: str
    detail: str | None


@dataclass(frozen=True)
class StatusUpdate:
    """An admin's dated programme status update ("LOA sudah terbit 12-01-2027…")."""

    text: str  # Telegram HTML, validated
    posted: date

    @classmethod
    def parse(cls, text: str, posted: date) -> StatusUpdate:
        """A validated update; ``ValueError`` naming the problems if Telegram would reject it."""
        text = text.strip()
        problems = html_problems(text)
        if not text:
            problems.append("the update is empty")
        if len(text) > MAX_STATUS_TEXT:
            problems.append(f"the update is {len(text)} chars (max {MAX_STATUS_TEXT})")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(text=text, posted=posted)

    def to_json(self) -> dict[str, str]:
        """JSON-ready data (for the bot's kv store)."""
        return {"text": self.text, "posted": self.posted.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusUpdate:
        return cls.parse(str(data["text"]), date.fromisoformat(str(data["posted"])))


@dataclass(frozen=True)
class _Texts:
    placeholders: Mapping[str, Mapping[str, str]]
    timeline: Mapping[str, Mapping[str, str]]
    status: Mapping[str, str]
    months: Mapping[str, list[str]]
    units: Mapping[str, Mapping[str, str]]


@cache
def _texts(path: Path = DATA_DIR / VALUES_FILE) -> _Texts:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
    return _Texts(
        placeholders=data["placeholders"],
        timeline=data["timeline"],
        status=data["status_update"],
        months=data["months"],
        units=data.get("units") or {},
    )


def format_date(day: date, lang: str) -> str:
    """``24 September 2025`` in the answer's language."""
    months = _texts().months["en" if lang == "en" else "id"]
    return f"{day.day} {months[day.month - 1]} {day.year}"


def statement(item: Statement, lang: str, today: date) -> str:
    """One dated timeline statement as shown on ``today``."""
    lang = "en" if lang == "en" else "id"
    template = _texts().timeline["passed" if today > item.due else "upcoming"][lang]
    return template.format(
        text=item.text.get(lang),
        said=format_date(item.said, lang),
        due=format_date(item.due, lang),
        today=format_date(today, lang),
    )


def fill(text: str, lang: str, values: Mapping[str, object], timeline: str = "") -> str:
    """``text`` with each ``{placeholder}`` replaced (escaped value, or the neutral text)."""
    lang = "en" if lang == "en" else "id"
    missing = _texts().placeholders

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name == "timeline":
            return timeline
        if name in values and values[name] is not None and str(values[name]).strip():
            value = str(values[name]).strip()
            if name in _texts().units:
                value = _texts().units[name][lang].format(value=value)
            return html.escape(value, quote=False)
        if name in missing:
            return html.escape(missing[name][lang], quote=False)
        return match[0]  # not a placeholder of ours: leave the text as written

    return _PLACEHOLDER.sub(replace, text)


def render(
    entry: Entry,
    lang: str,
    *,
    today: date,
    values: Mapping[str, object] | None = None,
    status: StatusUpdate | None = None,
) -> Rendered:
    """The entry's answer and detail as shown on ``today`` (see the module docstring)."""
    values = values or {}
    dated = "\n".join(statement(s, lang, today) for s in entry.timeline)
    answer_text = (entry.template_answer or entry.answer).get(lang)
    detail_text = (entry.template_detail or entry.detail or None) and (
        entry.template_detail or entry.detail
    )
    answer = fill(answer_text, lang, values, dated)
    if status is not None and entry.id in STATUS_ENTRIES:
        top = (
            _texts()
            .status["en" if lang == "en" else "id"]
            .format(date=format_date(status.posted, lang), text=status.text)
        )
        answer = f"{top}\n\n{answer}"
    detail = fill(detail_text.get(lang), lang, values, dated) if detail_text else None
    return Rendered(answer=answer, detail=detail)


def prefill(entry: Entry, today: date, values: Mapping[str, object] | None = None) -> Entry:
    """``entry`` with its placeholders pre-filled for ``today`` (see Entry)."""
    texts = [entry.answer.id, entry.answer.en]
    if entry.detail:
        texts += [entry.detail.id, entry.detail.en]
    if not any(_PLACEHOLDER.search(t) for t in texts):
        return entry
    shown = {lang: render(entry, lang, today=today, values=values) for lang in ("id", "en")}
    detail = shown["id"].detail
    return replace(
        entry,
        answer=Localized(shown["id"].answer, shown["en"].answer),
        detail=Localized(detail, shown["en"].detail or "") if detail is not None else None,
        template_answer=entry.answer,
        template_detail=entry.detail,
    )


def office_values(office: Mapping[str, Any] | None) -> dict[str, str]:
    """Placeholder values from a config office block ``{address, hours, phone}``."""
    office = office or {}
    return {
        f"office_{key}": str(office[key])
        for key in ("address", "hours", "phone")
        if office.get(key) not in (None, "")
    }
