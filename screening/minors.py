"""Minors: age from a birth date (or a decoded NIK) and what it allows.

UU PDP 27/2022 Pasal 25 (domain brief section 4): a child's personal data is processed only
with the consent of a parent or guardian. A child is under 18 (UU 35/2014 on child protection).
EPS and SSW take applicants of 18 or older (brief 1.2, 2.1), so:

- under 18 with interest in a work programme -> no registration for it yet; tell them the date
  they turn 18 (and offer to subscribe to announcements meanwhile);
- under 18 with a scholarship interest (or no interest chosen yet) -> registration only with a
  parent's or guardian's consent, recorded (who, relationship, time, consent version) before any
  personal data is stored, or the citizen continues together with a parent.

Ages are counted on the day of registration (today in the bot's time zone): consent is about
who gives the data now, not about the age on a future registration window.
Pure: no I/O besides the packaged texts, no ``telegram``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from screening.model import Texts, load_texts
from screening.rules import age_on

ADULT_AGE = 18
WORK_INTERESTS = ("korea_work", "japan_work")
SCHOLARSHIP_INTERESTS = ("scholarship",)
GUARDIAN_RELATIONSHIPS = ("father", "mother", "guardian")
MAX_GUARDIAN_NAME = 100


def birthday(birth: date, age: int) -> date:
    """The day someone born on ``birth`` turns ``age`` (29 February -> 1 March)."""
    try:
        return birth.replace(year=birth.year + age)
    except ValueError:
        return date(birth.year + age, 3, 1)


def _birth_date(born: Any) -> date:
    """A birth date from a ``date``, an ISO string or anything with ``birth_date`` (NikInfo)."""
    if isinstance(born, datetime):
        return born.date()
    if isinstance(born, date):
        return born
    if isinstance(born, str):
        return date.fromisoformat(born)
    value = getattr(born, "birth_date", None)
    if isinstance(value, date):
        return value
    raise TypeError(f"not a birth date or NIK info: {born!r}")


@dataclass(frozen=True)
class MinorStatus:
    """What a citizen's age on ``on`` allows for the chosen interests."""

    birth_date: date
    on: date
    age: int
    adult_on: date
    interests: tuple[str, ...]

    @property
    def minor(self) -> bool:
        """Under 18 on ``on``."""
        return self.age < ADULT_AGE

    @property
    def blocked_interests(self) -> tuple[str, ...]:
        """The chosen work interests a minor cannot register for yet."""
        return tuple(i for i in self.interests if i in WORK_INTERESTS) if self.minor else ()

    @property
    def allowed_interests(self) -> tuple[str, ...]:
        """The chosen interests that may be registered (with a guardian's consent if minor)."""
        return tuple(i for i in self.interests if i not in self.blocked_interests)

    @property
    def work_blocked(self) -> bool:
        """A minor who chose a work programme: no registration for it before ``adult_on``."""
        return bool(self.blocked_interests)

    @property
    def can_register(self) -> bool:
        """Anything left to register (a minor with only work interests: no)."""
        return not self.minor or bool(self.allowed_interests) or not self.interests

    @property
    def guardian_consent_required(self) -> bool:
        """A minor registering (a scholarship, or before choosing): a parent's or guardian's
        consent must be recorded before any personal data is stored (UU PDP Pasal 25)."""
        return self.minor and self.can_register

    def messages(self, lang: str, texts: Texts | None = None) -> list[str]:
        """The explanations to show, in order (empty for an adult)."""
        if not self.minor:
            return []
        texts = texts or load_texts()
        values = {"age": self.age, "adult_on": _format_date(self.adult_on, lang, texts)}
        result = []
        if self.work_blocked:
            result.append(texts.get("minors.work_blocked", lang, **values))
            if not self.can_register:
                result.append(texts.get("minors.subscribe_offer", lang, **values))
        if self.guardian_consent_required:
            result.append(texts.get("minors.guardian_needed", lang, **values))
        return result


def _format_date(day: date, lang: str, texts: Texts) -> str:
    return f"{day.day} {texts.month_names(lang)[day.month - 1]} {day.year}"


def minor_status(born: Any, interests: Iterable[str], on: date) -> MinorStatus:
    """Classify a citizen born on ``born`` (a date, ISO string or NikInfo) on day ``on``.

    ``interests`` are registration interests (korea_work, japan_work, scholarship); programme
    ids of the rules (eps_korea, ssw_japan, gks_*) are read as their interest.
    """
    birth = _birth_date(born)
    aliases = {"eps_korea": "korea_work", "ssw_japan": "japan_work"}
    chosen: list[str] = []
    for interest in interests:
        name = aliases.get(interest, "scholarship" if interest.startswith("gks") else interest)
        if name not in chosen:
            chosen.append(name)
    return MinorStatus(
        birth_date=birth,
        on=on,
        age=age_on(birth, on),
        adult_on=birthday(birth, ADULT_AGE),
        interests=tuple(chosen),
    )


def guardian_consent_record(
    *, name: str, relationship: str, consent_version: str, at: datetime
) -> dict[str, str]:
    """The record of a parent's or guardian's consent, JSON-ready (``at`` as UTC ISO 8601).

    Raises ``ValueError`` for an empty or over-long name, an unknown relationship, an empty
    consent version or a naive time.
    """
    name = " ".join(name.split())
    if not name or len(name) > MAX_GUARDIAN_NAME:
        raise ValueError("guardian name must be 1-100 characters")
    if relationship not in GUARDIAN_RELATIONSHIPS:
        raise ValueError(f"relationship must be one of {', '.join(GUARDIAN_RELATIONSHIPS)}")
    if not consent_version.strip():
        raise ValueError("consent version is required")
    if at.tzinfo is None:
        raise ValueError("the time of consent must be timezone-aware")
    return {
        "name": name,
        "relationship": relationship,
        "consent_version": consent_version,
        "at": at.astimezone(UTC).isoformat(),
    }


def relationship_label(relationship: str, lang: str, texts: Texts | None = None) -> str:
    """The button text for a guardian relationship."""
    return (texts or load_texts()).get(f"minors.relationship.{relationship}", lang)
