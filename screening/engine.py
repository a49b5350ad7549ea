"""The screening engine: which question comes next, answer validation, and evaluation.

Pure Python and deterministic (no Telegram, no event loop). The bot keeps the answers as a
JSON-ready dict keyed by question id and asks the engine what to do with them.

Longer than ~600 lines on purpose: most of it is one class, :class:`Engine`, whose methods share
the questionnaire's order and conditions (next step, validation, review, evaluation, the
explanation of a result); the parsing and formatting helpers above it are what it alone uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from screening.minors import MinorStatus, minor_status
from screening.model import (
    LANGS,
    REFERENCE,
    AgeDate,
    Choice,
    Consent,
    Evaluation,
    Programme,
    ProgrammeResult,
    Question,
    Questionnaire,
    Reason,
    RuleSet,
    Texts,
    Validation,
    load_consent,
    load_questionnaire,
    load_rules,
    load_texts,
)
from screening.rules import Context, age_on, dates_for, evaluate_programme, holds

__all__ = [
    "CONSENT",
    "CONSENT_ID",
    "DEFAULT_TIMEZONE",
    "AgeDate",
    "Choice",
    "Engine",
    "Evaluation",
    "MinorStatus",
    "ProgrammeResult",
    "Progress",
    "Question",
    "Reason",
    "Validation",
    "format_date",
    "format_number",
    "load_questionnaire",
    "load_rules",
]

CONSENT_ID = "consent"
# The bot's time zone when none is given (config ``bot.timezone``).
DEFAULT_TIMEZONE = "Asia/Jakarta"
DEFAULT_TEXT_LENGTH = 500
FUZZY_CUTOFF = 85


def consent_question(consent: Consent) -> Question:
    """The marker question that asks for consent before the first sensitive question."""
    return Question(
        id=CONSENT_ID,
        type="yesno",
        text=consent.text,
        choices=(),
        why=None,
        sensitive=False,
        section=CONSENT_ID,
        hint=None,
    )


CONSENT: Question = consent_question(load_consent())


class _Invalid(Exception):
    """An answer failed validation; ``code`` names the message in texts.yaml (errors.*)."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


# --------------------------------------------------------------------------------------------
# Formatting helpers


def format_number(value: float, lang: str) -> str:
    """A number as written in ``lang``: no trailing ``.0``, decimal comma in Indonesian."""
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "id" else text


def format_date(day: date, lang: str, texts: Texts | None = None) -> str:
    """A date written out, e.g. ``17 Agustus 2001``."""
    names = (texts or load_texts()).month_names(lang)
    return f"{day.day} {names[day.month - 1]} {day.year}"


def _plain(text: str) -> str:
    """Lower case with single spaces and no surrounding punctuation."""
    return " ".join(text.lower().split()).strip(" .!?")


def _slug(text: str) -> str:
    return re.sub(r"[\s\-/]+", "_", _plain(text))


_NUMBER_RE = re.compile(r"([+-]?\d+(?:[.,]\d+)?)\s*[a-z]*\.?")
_ISO_RE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DMY_RE = re.compile(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d+)|(\d{1,2}) (\d{1,2}) (\d+)")
_WORDS_RE = re.compile(r"(\d{1,2})\s*([a-z]+)\.?\s*(\d+)")
_SPLIT_RE = re.compile(r"\s*(?:,|;|\n|&|\bdan\b|\band\b)\s*")


def parse_number(text: str) -> float | None:
    """A number from typed text ("4,5", "4.5", "3 tahun"), or ``None``."""
    match = _NUMBER_RE.fullmatch(_plain(text))
    return float(match.group(1).replace(",", ".")) if match else None


def parse_date(text: str, months: Mapping[str, int]) -> date:
    """A date from typed text: 17-08-2001, 17/8/2001, 2001-08-17, 17 agustus 2001.

    Raises ``_Invalid`` with the reason (bad_date, short_year, no_such_date).
    """
    plain = _plain(text).replace(",", " ")
    plain = " ".join(plain.split())
    if match := _ISO_RE.fullmatch(plain):
        year, month, day = (int(part) for part in match.groups())
        year_digits = 4
    elif match := _DMY_RE.fullmatch(plain):
        parts = [part for part in match.groups() if part is not None]
        day, month, year = (int(part) for part in parts)
        year_digits = len(parts[2])
    elif match := _WORDS_RE.fullmatch(plain):
        word = match.group(2)
        found = months.get(word) or months.get(word[:3])
        if found is None:
            raise _Invalid("bad_date")
        day, month, year = int(match.group(1)), found, int(match.group(3))
        year_digits = len(match.group(3))
    else:
        raise _Invalid("bad_date")
    if year_digits != 4:
        raise _Invalid("short_year")
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise _Invalid("no_such_date") from exc


def now(tz: tzinfo) -> datetime:
    """The current time in ``tz`` (one place, so tests can stand in for the clock)."""
    return datetime.now(tz)


# --------------------------------------------------------------------------------------------
# Progress


@dataclass(frozen=True)
class Progress:
    """Where a citizen is in the questionnaire: question ``position`` of at most ``total``.

    ``remaining`` counts the questions after this one that the citizen may still see given the
    answers so far; ``exact`` is true when no later answer (or the consent decision) can change
    it. Walking forward, ``position`` grows by one per answer and ``total`` never grows.
    """

    position: int
    total: int
    remaining: int
    exact: bool

    def text(self, lang: str, texts: Texts | None = None, **values: Any) -> str:
        """ "Pertanyaan 3 dari 12" when exact, else "Pertanyaan 3, sekitar 9 lagi"."""
        key = "progress.exact" if self.exact else "progress.estimate"
        return (texts or load_texts()).get(
            key,
            lang,
            position=self.position,
            total=self.total,
            remaining=self.remaining,
            **values,
        )


# --------------------------------------------------------------------------------------------
# The engine


class Engine:
    """Walks a citizen through the questionnaire and evaluates the answers against the rules.

    Ages are counted, per programme, on its announced registration window while that date is
    still ahead (``window`` overrides the rules' windows, e.g. from the config), otherwise on
    today's date in ``tz``. A fixed ``reference_date`` replaces both (what-if checks, tests).
    GKS cut-offs fall in the entry year of the round open on the day of the check (today, or the
    fixed reference date), unless ``gks_entry_year`` pins it. ``today`` (a date or a function
    returning one) replaces the clock.
    """

    def __init__(
        self,
        questionnaire: Questionnaire,
        rules: RuleSet,
        reference_date: date | None = None,
        *,
        texts: Texts | None = None,
        consent: Consent | None = None,
        gks_entry_year: int | None = None,
        today: date | Callable[[], date] | None = None,
        tz: tzinfo | str = DEFAULT_TIMEZONE,
        window: date | None = None,
    ) -> None:
        self.questionnaire = questionnaire
        self.rules = rules
        self.fixed_reference = reference_date
        self.window = window
        self.gks_entry_year = gks_entry_year
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.texts = texts or load_texts()
        self.consent = consent or load_consent()
        self.consent_question = CONSENT if consent is None else consent_question(consent)
        if today is None:
            self._today: Callable[[], date] = self._clock
        elif isinstance(today, date):
            fixed_today = today
            self._today = lambda: fixed_today
        else:
            self._today = today
        self._months = self.texts.month_lookup()
        self._sensitive = frozenset(q.id for q in questionnaire.questions if q.sensitive)
        self._keys: dict[str, str] = {}
        for question in questionnaire.questions:
            for key in (*question.aliases, question.id):
                self._keys[key] = question.id

    @classmethod
    def default(
        cls,
        window: date | None = None,
        *,
        reference_date: date | None = None,
        today: date | Callable[[], date] | None = None,
        tz: tzinfo | str = DEFAULT_TIMEZONE,
    ) -> Engine:
        """The engine over the packaged questionnaire and rules.

        ``window`` is an announced registration date (config ``screening.reference_date``):
        ages are counted on it while it is ahead, then on today's date in ``tz``.
        """
        return cls(
            load_questionnaire(),
            load_rules(),
            reference_date,
            today=today,
            tz=tz,
            window=window,
        )

    def question(self, question_id: str) -> Question:
        """A question (or the consent marker) by id."""
        if question_id == CONSENT_ID:
            return self.consent_question
        return self.questionnaire[question_id]

    # ---------------------------------------------------------------- dates

    def _clock(self) -> date:
        return now(self.tz).date()

    def today(self) -> date:
        """Today's date in the bot's time zone (or the date given for tests)."""
        return self._today()

    def reference(self, programme: Programme | None = None, today: date | None = None) -> AgeDate:
        """The date ages are counted on (for ``programme``, whose registration window may
        apply), with the reason: fixed, an announced registration window still ahead, or today.
        """
        if self.fixed_reference is not None:
            return AgeDate(self.fixed_reference, "fixed")
        day = today or self.today()
        window = self.window
        if window is None and programme is not None and programme.registration_window:
            window = programme.registration_window.day
        if window is not None and window >= day:
            return AgeDate(window, "registration")
        return AgeDate(day, "today")

    @property
    def reference_date(self) -> date:
        """The general date ages are counted on, as of now."""
        return self.reference().day

    def check_day(self, today: date | None = None) -> date:
        """The day a check is made on: the fixed reference date, else today."""
        return self.fixed_reference or today or self.today()

    def entry_years(self, today: date | None = None) -> dict[str, int]:
        """GKS cut-off name -> the entry year a check made now (or on ``today``) is judged for."""
        if self.gks_entry_year is not None:
            return {name: self.gks_entry_year for name in self.rules.rounds}
        return self.rules.entry_years(self.check_day(today))

    def dates(
        self, programme: Programme | None = None, today: date | None = None
    ) -> dict[str, date]:
        """The named dates conditions take ages on: the reference date and the cut-offs."""
        years = self.entry_years(today)
        cutoffs = {name: cutoff.on(years[name]) for name, cutoff in self.rules.rounds.items()}
        return dates_for(self.reference(programme, today).day, cutoffs)

    @property
    def cutoffs(self) -> dict[str, date]:
        """The GKS cut-off dates as of now."""
        years = self.entry_years()
        return {name: cutoff.on(years[name]) for name, cutoff in self.rules.rounds.items()}

    def age_date(self, programme: Programme, today: date | None = None) -> AgeDate | None:
        """The date ``programme``'s age rule counts on (``None`` if it has no age rule)."""
        names = programme.age_dates
        if not names:
            return None
        if names == {REFERENCE}:
            return self.reference(programme, today)
        name = sorted(names - {REFERENCE})[0]
        year = self.entry_years(today)[name]
        return AgeDate(self.rules.rounds[name].on(year), "entry", year)

    def minor_status(
        self,
        born: date | Any,
        interests: Iterable[str] = (),
        *,
        today: date | None = None,
    ) -> MinorStatus:
        """Whether a citizen born on ``born`` (a date or a NikInfo) is a minor today, and what
        that means for registering the chosen ``interests`` (see :mod:`screening.minors`)."""
        return minor_status(born, interests, today or self.today())

    # ---------------------------------------------------------------- the flow

    def _interest_programme_questions(self, answers: Mapping[str, Any]) -> frozenset[str]:
        interests = answers.get("programmes") or []
        chosen = [p for p in self.rules.programmes if p.interest in interests]
        return frozenset(q for p in chosen or self.rules.programmes for q in p.questions)

    def _applies(
        self, question: Question, answers: Mapping[str, Any], dates: Mapping[str, date]
    ) -> bool:
        if question.when is not None and not holds(question.when, Context(answers, dates)):
            return False
        return not question.needed_by_rules or (
            question.id in self._interest_programme_questions(answers)
        )

    def sequence(self, answers: Mapping[str, Any], *, consent: bool | None) -> list[Question]:
        """The questions that apply given ``answers``, in order, with the consent marker placed
        right before the first sensitive one (sensitive ones dropped when ``consent`` is False).
        """
        dates = self.dates()
        result: list[Question] = []
        for question in self.questionnaire.questions:
            if not self._applies(question, answers, dates):
                continue
            if question.sensitive:
                if all(q.id != CONSENT_ID for q in result):
                    result.append(self.consent_question)
                if consent is False:
                    continue
            result.append(question)
        return result

    def next_question(
        self, answers: Mapping[str, Any], *, consent: bool | None
    ) -> Question | None:
        """The next unanswered question; the consent marker when consent is still to be asked;
        ``None`` when the questionnaire is complete."""
        for question in self.sequence(answers, consent=consent):
            if question.id == CONSENT_ID:
                if consent is None:
                    return question
            elif answers.get(question.id) is None:
                return question
        return None

    def _order_key(self, question_id: str, sequence: Sequence[Question]) -> float | None:
        if question_id == CONSENT_ID:
            ids = [q.id for q in sequence]
            if CONSENT_ID in ids and ids.index(CONSENT_ID) + 1 < len(ids):
                return self.questionnaire.index(ids[ids.index(CONSENT_ID) + 1]) - 0.5
            first = next((q for q in self.questionnaire.questions if q.sensitive), None)
            return self.questionnaire.index(first.id) - 0.5 if first else None
        if self.questionnaire.get(question_id) is None:
            return None
        return float(self.questionnaire.index(question_id))

    def previous_question(
        self, answers: Mapping[str, Any], current_id: str, *, consent: bool | None
    ) -> Question | None:
        """The question before ``current_id`` in the applicable sequence (for a Back button)."""
        sequence = self.sequence(answers, consent=consent)
        current = self._order_key(current_id, sequence)
        if current is None:
            return None
        earlier = [q for q in sequence if (self._order_key(q.id, sequence) or 0) < current]
        return earlier[-1] if earlier else None

    def _may_apply(
        self,
        question: Question,
        answers: Mapping[str, Any],
        dates: Mapping[str, date],
        absent: frozenset[str],
        consent: bool | None,
    ) -> bool | None:
        """Will ``question`` be asked? ``None`` while earlier answers (or consent) can still
        decide it; ``absent`` holds the questions already known never to be asked."""
        if question.sensitive and consent is False:
            return False
        result = holds(question.when, Context(answers, dates), absent=absent)
        if result is False:
            return False
        if question.needed_by_rules:
            if answers.get("programmes") is None:
                needed = question.id in self._interest_programme_questions({})
                result = None if needed else False
            elif question.id not in self._interest_programme_questions(answers):
                return False
        if question.sensitive and consent is None and result is True:
            return None
        return result

    def progress_info(
        self, answers: Mapping[str, Any], question_id: str, *, consent: bool | None
    ) -> Progress:
        """Question ``k`` of ``N`` for the question on screen, where ``N`` counts only the
        questions this citizen may still see given the answers so far (see :class:`Progress`).
        The consent marker shares the number of the sensitive question it precedes."""
        sequence = self.sequence(answers, consent=consent)
        current = self._order_key(question_id, sequence)
        if current is None:
            current = -1.0
        position = 1 + sum(
            1
            for q in sequence
            if q.id != CONSENT_ID and (self._order_key(q.id, sequence) or 0) < current
        )
        dates = self.dates()
        absent: set[str] = set()
        remaining = 0
        exact = question_id != CONSENT_ID or consent is not None
        for question in self.questionnaire.questions:
            may = self._may_apply(question, answers, dates, frozenset(absent), consent)
            if may is False:
                absent.add(question.id)
                continue
            if self.questionnaire.index(question.id) <= current:
                continue
            remaining += 1
            exact = exact and may is True
        if question_id == CONSENT_ID:
            remaining = max(remaining - 1, 0)  # the marker shares the first sensitive number
        return Progress(
            position=position, total=position + remaining, remaining=remaining, exact=exact
        )

    def progress(
        self, answers: Mapping[str, Any], question_id: str, *, consent: bool | None
    ) -> tuple[int, int]:
        """``(position, total)`` of a question (see :meth:`progress_info`; ``total`` is an
        upper bound until the answers settle it)."""
        info = self.progress_info(answers, question_id, consent=consent)
        return (info.position, info.total)

    def prune(self, answers: Mapping[str, Any], *, consent: bool | None = None) -> dict[str, Any]:
        """Drop the answers that no longer apply (e.g. TB details after TB changed to "no"),
        and sensitive answers when ``consent`` is False. Keys that are not question ids stay.
        """
        dates = self.dates()
        result = dict(answers)
        for question in self.questionnaire.questions:
            if question.id not in result:
                continue
            if (consent is False and question.sensitive) or not self._applies(
                question, result, dates
            ):
                del result[question.id]
        return result

    # ---------------------------------------------------------------- validation

    def validate(self, question: Question, raw: str | Sequence[str], lang: str) -> Validation:
        """Check one answer (a tapped choice id, a list of them, or typed text).

        Returns the JSON-ready value, or an error message in ``lang``.
        """
        try:
            value = self._parse(question, raw)
        except _Invalid as invalid:
            return Validation(False, None, self._error(invalid, lang))
        return Validation(True, value, None)

    def _error(self, invalid: _Invalid, lang: str) -> str:
        values = {key: self._show(value, lang) for key, value in invalid.values.items()}
        return self.texts.get(f"errors.{invalid.code}", lang, **values)

    def _show(self, value: Any, lang: str) -> str:
        if isinstance(value, float | int) and not isinstance(value, bool):
            return format_number(value, lang)
        if isinstance(value, Question):
            return ", ".join(choice.text[lang] for choice in value.choices)
        if isinstance(value, Choice):
            return value.text[lang]
        return str(value)

    def _parse(self, question: Question, raw: str | Sequence[str]) -> Any:
        if question.type == "multi":
            return self._parse_multi(question, raw)
        if not isinstance(raw, str):
            if len(raw) != 1:
                raise _Invalid("choose_one")
            raw = raw[0]
        parsers: dict[str, Callable[[Question, str], Any]] = {
            "single": self._parse_single,
            "yesno": self._parse_yesno,
            "number": self._parse_number,
            "date": self._parse_date,
            "text": self._parse_text,
        }
        return parsers[question.type](question, raw)

    def match_choice(self, question: Question, token: str) -> Choice | None:
        """The choice meant by ``token``: its id, an alias, its text, or a close misspelling."""
        plain, slug = _plain(token), _slug(token)
        if not plain:
            return None
        for choice in question.choices:
            texts = {_plain(text) for text in choice.text.values()}
            if slug == choice.id or slug in choice.aliases or plain in texts:
                return choice
        if len(plain) < 4:
            return None
        scored = sorted(
            (
                (fuzz.ratio(plain, _plain(name)), index)
                for index, choice in enumerate(question.choices)
                for name in (choice.id.replace("_", " "), *choice.aliases, *choice.text.values())
            ),
            reverse=True,
        )
        best_score, best = scored[0]
        rival = next((score for score, index in scored if index != best), 0.0)
        if best_score >= FUZZY_CUTOFF and rival < best_score:
            return question.choices[best]
        return None

    def _parse_single(self, question: Question, raw: str) -> str:
        if not raw.strip():
            raise _Invalid("choose_one")
        choice = self.match_choice(question, raw)
        if choice is None:
            raise _Invalid("unknown_choice", value=raw.strip(), choices=question)
        return choice.id

    def _parse_multi(self, question: Question, raw: str | Sequence[str]) -> list[str]:
        if isinstance(raw, str):
            whole = self.match_choice(question, raw)
            tokens = [raw] if whole else [t for t in _SPLIT_RE.split(raw) if t.strip()]
        else:
            tokens = [t for t in raw if t.strip()]
        chosen: set[str] = set()
        for token in tokens:
            choice = self.match_choice(question, token)
            if choice is None:
                raise _Invalid("unknown_choice", value=token.strip(), choices=question)
            chosen.add(choice.id)
        minimum = int(question.validation.get("min_choices", 1))
        if len(chosen) < minimum:
            raise _Invalid("choose_at_least", min=minimum)
        for choice in question.choices:
            if choice.exclusive and choice.id in chosen and len(chosen) > 1:
                raise _Invalid("exclusive_choice", choice=choice)
        return [choice.id for choice in question.choices if choice.id in chosen]

    def _parse_yesno(self, question: Question, raw: str) -> bool:
        word = _plain(raw)
        if word in self.texts.yes_words:
            return True
        if word in self.texts.no_words:
            return False
        raise _Invalid("yes_no")

    def _parse_number(self, question: Question, raw: str) -> int | float:
        number = parse_number(raw)
        if number is None:
            raise _Invalid("not_a_number")
        rules = question.validation
        if rules.get("integer") and not number.is_integer():
            raise _Invalid("not_integer")
        low, high = rules.get("min"), rules.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise _Invalid("out_of_range", min=low, max=high)
        return int(number) if number.is_integer() else number

    def _parse_date(self, question: Question, raw: str) -> str:
        day = parse_date(raw, self._months)
        today = self._today()
        if day > today:
            raise _Invalid("future_date")
        age = age_on(day, today)
        min_age, max_age = question.validation.get("min_age"), question.validation.get("max_age")
        if min_age is not None and age < min_age:
            raise _Invalid("too_young", min_age=min_age)
        if max_age is not None and age > max_age:
            raise _Invalid("too_old", max_age=max_age)
        return day.isoformat()

    def _parse_text(self, question: Question, raw: str) -> str:
        text = raw.strip()
        if not text:
            raise _Invalid("empty")
        limit = int(question.validation.get("max_length", DEFAULT_TEXT_LENGTH))
        if len(text) > limit:
            raise _Invalid("too_long", max_length=limit)
        return text

    # ---------------------------------------------------------------- evaluation

    def normalise(self, answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Answers from any source (a profile file, stored answers) in the canonical form.

        Accepts question aliases, choice aliases, ``date`` objects and typed strings. Returns
        the canonical answers and a list of problems (unknown keys, unreadable values).
        """
        result: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in answers.items():
            question_id = self._keys.get(str(key).lower())
            if question_id is None:
                problems.append(f"{key}: unknown question id")
                continue
            if value is None:
                continue
            question = self.questionnaire[question_id]
            try:
                canonical = self._coerce(question, value)
            except _Invalid as invalid:
                problems.append(f"{key}: {self._error(invalid, 'en')}")
                continue
            if question_id in result and question.type == "yesno":
                canonical = result[question_id] or canonical
            elif question_id in result:
                problems.append(f"{key}: {question_id} is already answered")
                continue
            result[question_id] = canonical
        return result, problems

    def _coerce(self, question: Question, value: Any) -> Any:
        if question.type == "multi":
            if isinstance(value, str):
                return self._parse_multi(question, value)
            return self._parse_multi(question, [str(item) for item in value])
        if question.type == "yesno" and isinstance(value, bool | int):
            return bool(value)
        if question.type == "number" and isinstance(value, int | float):
            if isinstance(value, bool):
                raise _Invalid("not_a_number")
            return value
        if question.type == "date":
            if isinstance(value, datetime):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return parse_date(str(value), self._months).isoformat()
        if question.type == "number":
            number = parse_number(str(value))
            if number is None:
                raise _Invalid("not_a_number")
            return int(number) if number.is_integer() else number
        if question.type == "single":
            return self._parse_single(question, str(value))
        if question.type == "yesno":
            return self._parse_yesno(question, str(value))
        return str(value)

    def _explicit_programmes(self, answers: Mapping[str, Any]) -> set[str]:
        """Programme ids (eps_korea ...) written directly in the programmes answer."""
        known = {programme.id for programme in self.rules.programmes}
        picked: set[str] = set()
        for key, value in answers.items():
            if self._keys.get(str(key).lower()) != "programmes" or value is None:
                continue
            items = _SPLIT_RE.split(value) if isinstance(value, str) else value
            picked |= {str(item).strip().lower() for item in items} & known
        return picked

    def _effective(
        self, answers: Mapping[str, Any], consent: bool, dates: Mapping[str, date]
    ) -> dict[str, Any]:
        """The answers evaluation uses: sensitive ones only with consent, answers to questions
        whose condition is false dropped, and implied values (``skipped_value``) filled in."""
        effective: dict[str, Any] = {}
        for question in self.questionnaire.questions:
            if question.sensitive and not consent:
                continue
            gate = holds(question.when, Context(effective, dates))
            if question.id in answers:
                if gate is not False:
                    effective[question.id] = answers[question.id]
            elif gate is False and question.skipped_value is not None:
                effective[question.id] = question.skipped_value
        return effective

    def _text_values(
        self, answers: Mapping[str, Any], dates: Mapping[str, date]
    ) -> dict[str, dict[str, Any]]:
        """Placeholder values for rule texts, per language."""
        values: dict[str, dict[str, Any]] = {}
        birth = answers.get("birth_date")
        for lang in LANGS:
            current: dict[str, Any] = {}
            for name, value in self.rules.params.items():
                is_number = isinstance(value, int | float) and not isinstance(value, bool)
                current[name] = format_number(value, lang) if is_number else value
            for name, day in dates.items():
                current[name] = format_date(day, lang, self.texts)
                if birth is not None:
                    age = age_on(date.fromisoformat(birth), day)
                    current["age" if name == REFERENCE else f"age_{name}"] = age
            for question in self.questionnaire.questions:
                if question.type == "number" and answers.get(question.id) is not None:
                    current[question.id] = format_number(answers[question.id], lang)
            values[lang] = current
        return values

    def evaluate(
        self, answers: Mapping[str, Any], *, consent: bool, today: date | None = None
    ) -> Evaluation:
        """An outcome with reasons for each programme of interest (all when none is chosen).

        Without consent, every criterion that reads a sensitive answer is "not assessed".
        ``today`` replaces the engine's clock for this evaluation.
        """
        day = today or self.today()
        general = self.reference(None, day)
        general_dates = self.dates(None, day)
        canonical, _ = self.normalise(answers)
        effective = self._effective(canonical, consent, general_dates)
        ctx = Context(effective, general_dates)
        explicit = self._explicit_programmes(answers)
        interests = effective.get("programmes") or []
        if explicit:
            programmes = [p for p in self.rules.programmes if p.id in explicit]
        elif interests:
            programmes = [
                p
                for p in self.rules.programmes
                if p.interest in interests and holds(p.applies_when, ctx) is not False
            ]
        else:
            programmes = list(self.rules.programmes)
        declined = frozenset() if consent else self._sensitive
        results = []
        for programme in programmes:
            dates = self.dates(programme, day)
            results.append(
                evaluate_programme(
                    programme,
                    Context(effective, dates),
                    self.texts,
                    self._text_values(effective, dates),
                    declined,
                    self.age_date(programme, day),
                )
            )
        return Evaluation(
            programmes=tuple(results),
            disclaimer=self.rules.disclaimer,
            reference_date=general.day,
            consent=consent,
            reference_basis=general.basis,
            today=day,
        )

    # ---------------------------------------------------------------- display

    def format_answer(self, question: Question, value: Any, lang: str) -> str:
        """An answer as the citizen should read it on the review screen."""
        if value is None:
            return self.texts.get("answers.none", lang)
        if question.type == "single":
            choice = question.choice(str(value))
            return choice.text[lang] if choice else str(value)
        if question.type == "multi":
            return ", ".join(self.format_answer_choice(question, item, lang) for item in value)
        if question.type == "yesno":
            return self.texts.get("answers.yes" if value else "answers.no", lang)
        if question.type == "number":
            return format_number(value, lang)
        if question.type == "date":
            return format_date(date.fromisoformat(str(value)), lang, self.texts)
        return str(value)

    def format_answer_choice(self, question: Question, choice_id: str, lang: str) -> str:
        """The text of one choice (its id if it is unknown)."""
        choice = question.choice(choice_id)
        return choice.text[lang] if choice else choice_id
