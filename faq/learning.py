"""What staff teach the bot from its traffic: unanswered questions attached to an entry or marked
off-topic, applied to the live matcher at once and rendered as YAML to commit into faq/data/.

For the integrator (``/pertanyaan`` and ``python -m bot faq learned``)::

    from faq.learning import Learned

    learned = Learned.from_json(stored, kb)          # from the kv store ({} at first)
    learned = learned.attach("gimana kalo tkw", "women-applicants", "id", by=staff_id)
    learned = learned.mark_off_topic("harga tiket konser", "id", by=staff_id)
    learned.apply(matcher)                           # retrains in place, no restart
    store(learned.to_json())                         # JSON data: audit it as any staff action
    print(learned.to_yaml())                         # faq/data/learned.yaml, to review

- :class:`Learned` is immutable: each change returns a new value, so the bot can store it and
  then apply it (or keep the old one if storing failed). Attaching a text that was marked
  off-topic (or the reverse) moves it; attaching it twice is a no-op.
- :meth:`Learned.apply` calls ``Matcher.learn``, which trains the new model aside and swaps it in
  with one assignment (about a second on this knowledge base: run it off the event loop).
- After a restart, apply the stored value again. Once the YAML is committed as
  ``faq/data/learned.yaml``, its phrasings and examples are part of the knowledge base
  (``load_knowledge_base`` merges them) and the stored items can be cleared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import yaml

from faq.matcher import Matcher, Taught
from faq.model import LANGUAGES, KnowledgeBase

MAX_TEXT = 500


@dataclass(frozen=True)
class LearnedItem:
    """One taught question: ``entry`` is its entry id, or ``None`` for off-topic."""

    text: str
    lang: str
    entry: str | None
    by: int | None = None  # the staff member's Telegram id, for the audit
    at: str = ""  # ISO 8601 UTC

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lang": self.lang,
            "entry": self.entry,
            "by": self.by,
            "at": self.at,
        }


@dataclass(frozen=True)
class Learned:
    """The taught items, in the order staff taught them."""

    items: tuple[LearnedItem, ...] = field(default=())

    def attach(
        self, text: str, entry_id: str, lang: str, *, by: int | None = None, at: str | None = None
    ) -> Learned:
        """The question becomes a phrasing of ``entry_id``."""
        return self._with(LearnedItem(_clean(text), _lang(lang), entry_id, by, at or _now()))

    def mark_off_topic(
        self, text: str, lang: str, *, by: int | None = None, at: str | None = None
    ) -> Learned:
        """The question becomes an off-topic example: such messages get the fallback."""
        return self._with(LearnedItem(_clean(text), _lang(lang), None, by, at or _now()))

    def forget(self, text: str) -> Learned:
        """Drop what was taught about ``text``."""
        key = _key(text)
        return replace(self, items=tuple(i for i in self.items if _key(i.text) != key))

    def _with(self, item: LearnedItem) -> Learned:
        same = next((i for i in self.items if _key(i.text) == _key(item.text)), None)
        if same is not None and same.entry == item.entry:
            return self
        return Learned((*self.forget(item.text).items, item))

    def taught(self) -> Taught:
        """What the matcher trains on."""
        return Taught(
            phrasings=tuple((i.entry, i.text) for i in self.items if i.entry is not None),
            off_topic=tuple(i.text for i in self.items if i.entry is None),
        )

    def apply(self, matcher: Matcher) -> None:
        """Retrain the live matcher with these items (``KeyError`` for an unknown entry id)."""
        matcher.learn(self.taught())

    def unmet(self, matcher: Matcher, texts: Iterable[str] | None = None) -> list[LearnedItem]:
        """The items (of ``texts`` only, if given) that ``matcher`` still decides otherwise: an
        attached question not answered with its entry, an off-topic one not given the fallback
        (e.g. a very short question the entries' keywords decide). Staff are told of these."""
        keys = None if texts is None else {_key(t) for t in texts}
        unmet = []
        for item in self.items:
            if keys is not None and _key(item.text) not in keys:
                continue
            match = matcher.match(item.text)
            answered = match.entry.id if match.kind == "answer" and match.entry else None
            met = match.kind == "fallback" if item.entry is None else answered == item.entry
            if not met:
                unmet.append(item)
        return unmet

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data for the bot's store."""
        return {"items": [i.to_json() for i in self.items]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, kb: KnowledgeBase | None = None) -> Learned:
        """Read stored data; with ``kb``, items for entries that no longer exist are dropped."""
        items = []
        for raw in (data or {}).get("items", []):
            entry = raw.get("entry")
            if kb is not None and entry is not None and entry not in kb.by_id:
                continue
            items.append(
                LearnedItem(
                    text=_clean(str(raw["text"])),
                    lang=_lang(str(raw.get("lang", "id"))),
                    entry=entry,
                    by=raw.get("by"),
                    at=str(raw.get("at", "")),
                )
            )
        return cls(tuple(items))

    def to_yaml(self) -> str:
        """The items as ``faq/data/learned.yaml``, ready to review and commit."""
        phrasings: dict[str, dict[str, list[str]]] = {}
        off: dict[str, list[str]] = {}
        for item in self.items:
            if item.entry is None:
                off.setdefault(item.lang, []).append(item.text)
            else:
                phrasings.setdefault(item.entry, {}).setdefault(item.lang, []).append(item.text)
        body = {
            "learned": {
                "phrasings": {e: _both(v) for e, v in sorted(phrasings.items())},
                "off_topic": _both(off),
            }
        }
        header = (
            "# Taught by staff from questions the bot could not answer (faq.learning).\n"
            "# Review, then commit as faq/data/learned.yaml.\n"
        )
        return header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=99)


def merge(items: Iterable[Learned]) -> Learned:
    """Several stored values as one (later ones win)."""
    result = Learned()
    for learned in items:
        for item in learned.items:
            result = result._with(item)
    return result


def _both(by_lang: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {lang: list(by_lang.get(lang, [])) for lang in LANGUAGES}


def _clean(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise ValueError("an empty question cannot be taught")
    return text[:MAX_TEXT]


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "id"


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
