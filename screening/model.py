"""Typed model of the screening data: questionnaire, rules, consent notice and texts.

The YAML files under ``screening/data`` are converted once into frozen objects. Loaders fail
fast with :class:`ScreeningDataError` naming the file, the entry and the problem; the fuller
cross-reference checks live in :mod:`screening.validate`.

Longer than ~600 lines on purpose: it is one schema (about fifty small frozen types and their
loaders, each next to the YAML shape it reads); split by file it would scatter the types that
refer to one another (a question's choices, a rule's conditions, the texts both use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml

import catalog

DATA_DIR = Path(__file__).parent / "data"
QUESTIONNAIRE_FILE = DATA_DIR / "questionnaire.yaml"
RULES_FILE = DATA_DIR / "rules.yaml"
CONSENT_FILE = DATA_DIR / "consent.yaml"
TEXTS_FILE = DATA_DIR / "texts.yaml"
WORDS_FILE = DATA_DIR / "words.yaml"
TEXTS_PREFIX = "screening."

LANGS = ("id", "en")
QUESTION_TYPES = ("single", "multi", "yesno", "number", "date", "text")
QuestionType: TypeAlias = Literal["single", "multi", "yesno", "number", "date", "text"]

# Screening outcomes, least severe first (docs/ARCHITECTURE.md). ``not_resident``: the city
# programme is for residents of Kota Serang; the citizen is pointed to the national channel.
OUTCOMES = ("eligible", "needs_preparation", "needs_medical_check", "not_resident", "not_eligible")
NOT_ASSESSED = "not_assessed"
CHECK_KINDS = ("answer", "medical", "legal")
# Why ages were counted on a date (AgeDate.basis).
AGE_BASES = ("today", "registration", "fixed", "entry")

Text: TypeAlias = Mapping[str, str]

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ScreeningDataError(ValueError):
    """A screening data file is malformed."""

    def __init__(self, file: Path | str, entry: str, message: str) -> None:
        super().__init__(f"{Path(file).name}: {entry}: {message}")
        self.file = str(Path(file).name)
        self.entry = entry
        self.message = message


# --------------------------------------------------------------------------------------------
# Conditions


COMPARE_OPS = ("eq", "ne", "in", "not_in", "contains", "contains_any", "gt", "gte", "lt", "lte")
ORDER_OPS = ("gt", "gte", "lt", "lte")
REFERENCE = "reference_date"


@dataclass(frozen=True)
class Test:
    """A leaf condition on one answer, e.g. ``{q: tb_history, eq: true}``.

    With ``age_on`` set, the date answer is turned into an age in completed years on that named
    date (``reference_date`` or a cut-off) before comparing.
    """

    question: str
    op: str
    value: Any
    age_on: str | None = None


@dataclass(frozen=True)
class AllOf:
    """True when every item is true."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """True when at least one item is true."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The negation of ``item``."""

    item: Condition


Condition: TypeAlias = Test | AllOf | AnyOf | Not


def condition_tests(condition: Condition | None) -> list[Test]:
    """Every leaf test of a condition, in order."""
    if condition is None:
        return []
    if isinstance(condition, Test):
        return [condition]
    if isinstance(condition, Not):
        return condition_tests(condition.item)
    return [test for item in condition.items for test in condition_tests(item)]


def parse_condition(
    raw: Any, file: Path, entry: str, params: Mapping[str, Any] | None = None
) -> Condition:
    """Turn the YAML form of a condition into a :data:`Condition`."""
    if not isinstance(raw, Mapping):
        raise ScreeningDataError(file, entry, f"a condition must be a mapping, not {raw!r}")
    if set(raw) == {"all"} or set(raw) == {"any"}:
        key = next(iter(raw))
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise ScreeningDataError(file, entry, f"'{key}' needs a non-empty list")
        parsed = tuple(parse_condition(item, file, entry, params) for item in items)
        return AllOf(parsed) if key == "all" else AnyOf(parsed)
    if set(raw) == {"not"}:
        return Not(parse_condition(raw["not"], file, entry, params))
    subject_key = "q" if "q" in raw else "age" if "age" in raw else None
    if subject_key is None:
        raise ScreeningDataError(file, entry, f"condition without q/age/all/any/not: {dict(raw)}")
    ops = [key for key in raw if key not in (subject_key, "at")]
    if len(ops) != 1:
        raise ScreeningDataError(file, entry, f"a test needs exactly one operator: {dict(raw)}")
    op = ops[0]
    if op not in (*COMPARE_OPS, "answered"):
        raise ScreeningDataError(file, entry, f"unknown operator {op!r}")
    if subject_key == "age" and op not in ORDER_OPS:
        raise ScreeningDataError(file, entry, f"an age test compares with lt/lte/gt/gte, not {op}")
    if "at" in raw and subject_key != "age":
        raise ScreeningDataError(file, entry, "'at' is only allowed with 'age'")
    value = _resolve_param(raw[op], file, entry, params or {})
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value:
            raise ScreeningDataError(file, entry, f"'{op}' needs a non-empty list")
        value = tuple(value)
    if op in ORDER_OPS and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ScreeningDataError(file, entry, f"'{op}' needs a number, not {value!r}")
    if op == "answered" and not isinstance(value, bool):
        raise ScreeningDataError(file, entry, "'answered' needs true or false")
    age_on = str(raw.get("at", REFERENCE)) if subject_key == "age" else None
    return Test(question=str(raw[subject_key]), op=op, value=value, age_on=age_on)


def _resolve_param(value: Any, file: Path, entry: str, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            raise ScreeningDataError(file, entry, f"unknown parameter {value!r}")
        return params[name]
    return value


# --------------------------------------------------------------------------------------------
# Questionnaire


@dataclass(frozen=True)
class Choice:
    """One answer option; ``id`` goes into callback data, ``text`` onto the button."""

    id: str
    text: Text
    aliases: tuple[str, ...] = ()
    exclusive: bool = False


@dataclass(frozen=True)
class Question:
    """One question of the questionnaire (see the format notes in questionnaire.yaml)."""

    id: str
    type: QuestionType
    text: Text
    choices: tuple[Choice, ...]
    why: Text | None
    sensitive: bool
    section: str
    hint: Text | None
    when: Condition | None = None
    skipped_value: Any = None
    needed_by_rules: bool = False
    aliases: tuple[str, ...] = ()
    validation: Mapping[str, Any] = field(default_factory=dict)

    def choice(self, choice_id: str) -> Choice | None:
        """The choice with this id, or ``None``."""
        return next((choice for choice in self.choices if choice.id == choice_id), None)


@dataclass(frozen=True)
class Section:
    """A group of questions with a title (shown as a heading by the bot)."""

    id: str
    title: Text


@dataclass(frozen=True)
class Questionnaire:
    """The ordered questions plus their sections."""

    version: int
    sections: tuple[Section, ...]
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {q.id: q for q in self.questions})
        object.__setattr__(self, "_order", {q.id: i for i, q in enumerate(self.questions)})

    def get(self, question_id: str) -> Question | None:
        """The question with this id, or ``None``."""
        by_id: dict[str, Question] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(question_id)

    def __getitem__(self, question_id: str) -> Question:
        question = self.get(question_id)
        if question is None:
            raise KeyError(question_id)
        return question

    def index(self, question_id: str) -> int:
        """Position of a question in asking order."""
        order: dict[str, int] = self._order  # type: ignore[attr-defined]
        return order[question_id]

    def section(self, section_id: str) -> Section | None:
        """The section with this id, or ``None``."""
        return next((s for s in self.sections if s.id == section_id), None)


def _text(raw: Any, file: Path, entry: str, *, optional: bool = False) -> Text | None:
    if raw is None and optional:
        return None
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(lang), str) for lang in LANGS):
        raise ScreeningDataError(file, entry, f"needs texts in {' and '.join(LANGS)}")
    if set(raw) != set(LANGS):
        # Typically an unquoted comma inside a {id: ..., en: ...} flow mapping.
        raise ScreeningDataError(file, entry, f"unexpected keys {sorted(map(str, raw))}")
    return {lang: str(raw[lang]).strip() for lang in LANGS}


def _required_text(raw: Any, file: Path, entry: str) -> Text:
    text = _text(raw, file, entry)
    assert text is not None
    return text


# libyaml's parser when present: the same safe loading, about ten times faster.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely, or raise :class:`ScreeningDataError`."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=SafeLoader)
    except OSError as exc:
        raise ScreeningDataError(path, "file", f"cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ScreeningDataError(path, "file", f"is not valid YAML ({exc})") from exc


def _mapping(raw: Any, file: Path, entry: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScreeningDataError(file, entry, "must be a mapping")
    return raw


def _parse_choice(raw: Any, file: Path, entry: str) -> Choice:
    raw = _mapping(raw, file, entry)
    if not isinstance(raw.get("id"), str):
        raise ScreeningDataError(file, entry, "a choice needs an id")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list):
        raise ScreeningDataError(file, f"{entry}.{raw['id']}", "aliases must be a list")
    return Choice(
        id=raw["id"],
        text=_required_text(raw.get("text"), file, f"{entry}.{raw['id']}"),
        aliases=tuple(str(alias).lower() for alias in aliases),
        exclusive=bool(raw.get("exclusive", False)),
    )


def _parse_question(raw: Any, file: Path, index: int) -> Question:
    raw = _mapping(raw, file, f"question #{index + 1}")
    qid = raw.get("id")
    if not isinstance(qid, str):
        raise ScreeningDataError(file, f"question #{index + 1}", "needs an id")
    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        raise ScreeningDataError(file, qid, f"type must be one of {', '.join(QUESTION_TYPES)}")
    choices = tuple(_parse_choice(c, file, qid) for c in raw.get("choices") or [])
    if qtype in ("single", "multi") and not choices:
        raise ScreeningDataError(file, qid, f"a {qtype} question needs choices")
    if qtype not in ("single", "multi") and choices:
        raise ScreeningDataError(file, qid, f"a {qtype} question takes no choices")
    when = parse_condition(raw["when"], file, qid) if "when" in raw else None
    validation = raw.get("validation") or {}
    if not isinstance(validation, Mapping):
        raise ScreeningDataError(file, qid, "validation must be a mapping")
    return Question(
        id=qid,
        type=qtype,
        text=_required_text(raw.get("text"), file, f"{qid}.text"),
        choices=choices,
        why=_text(raw.get("why"), file, f"{qid}.why", optional=True),
        sensitive=bool(raw.get("sensitive", False)),
        section=str(raw.get("section", "")),
        hint=_text(raw.get("hint"), file, f"{qid}.hint", optional=True),
        when=when,
        skipped_value=raw.get("skipped_value"),
        needed_by_rules=bool(raw.get("needed_by_rules", False)),
        aliases=tuple(str(alias).lower() for alias in raw.get("aliases") or []),
        validation=dict(validation),
    )


def parse_questionnaire(raw: Any, file: Path = QUESTIONNAIRE_FILE) -> Questionnaire:
    """Build a :class:`Questionnaire` from parsed YAML."""
    raw = _mapping(raw, file, "file")
    questions_raw = raw.get("questions")
    if not isinstance(questions_raw, list) or not questions_raw:
        raise ScreeningDataError(file, "questions", "must be a non-empty list")
    questions = tuple(_parse_question(q, file, i) for i, q in enumerate(questions_raw))
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise ScreeningDataError(file, question.id, "duplicate question id")
        seen.add(question.id)
    sections = tuple(
        Section(id=str(s.get("id")), title=_required_text(s.get("title"), file, f"section {s}"))
        for s in (_mapping(s, file, "sections") for s in raw.get("sections") or [])
    )
    return Questionnaire(
        version=int(raw.get("version", 1)), sections=sections, questions=questions
    )


def load_questionnaire(path: Path | None = None) -> Questionnaire:
    """Load the questionnaire (the packaged one by default)."""
    if path is None:
        return _default_questionnaire()
    return parse_questionnaire(read_yaml(path), path)


@cache
def _default_questionnaire() -> Questionnaire:
    return parse_questionnaire(read_yaml(QUESTIONNAIRE_FILE), QUESTIONNAIRE_FILE)


# --------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class Case:
    """One outcome of a criterion with the condition that leads to it (``None``: otherwise)."""

    when: Condition | None
    outcome: str
    text: Text
    next_step: Text


@dataclass(frozen=True)
class Criterion:
    """One requirement of a programme, decided by its first matching case."""

    id: str
    label: Text
    cases: tuple[Case, ...]
    otherwise: Case | None
    check: str = "answer"

    @property
    def questions(self) -> frozenset[str]:
        """Ids of the questions this criterion reads."""
        return frozenset(
            test.question for case in self.cases for test in condition_tests(case.when)
        )


@dataclass(frozen=True)
class Window:
    """An announced registration window: ages are counted on ``day`` while it is still ahead."""

    day: date
    source: Text


@dataclass(frozen=True)
class Programme:
    """A programme's rules: which interest selects it and its criteria."""

    id: str
    interest: str
    name: Text
    source: Text | None
    criteria: tuple[Criterion, ...]
    applies_when: Condition | None = None
    registration_window: Window | None = None

    @property
    def questions(self) -> frozenset[str]:
        """Ids of the questions any criterion of this programme reads."""
        return frozenset(q for criterion in self.criteria for q in criterion.questions)

    @property
    def age_dates(self) -> frozenset[str]:
        """Names of the dates this programme's age tests count on (``reference_date`` or a
        cut-off)."""
        return frozenset(
            test.age_on
            for criterion in self.criteria
            for case in criterion.cases
            for test in condition_tests(case.when)
            if test.age_on is not None
        )


@dataclass(frozen=True)
class Cutoff:
    """A date ages are counted on in a round's entry year (GKS: 1 March, 1 September).

    The round a check falls in: a check on or before ``closes`` (month, day) is judged for this
    year's round, after it for next year's; the entry year is the round's year plus
    ``entry_offset`` (GKS S1: applications in September, entry next March -> 1; GKS S2/S3:
    applications until February, entry that autumn -> 0).
    """

    name: str
    month: int
    day: int
    closes: tuple[int, int]
    entry_offset: int
    source: Text

    def entry_year(self, on: date) -> int:
        """The entry year of the round open (or next to open) on ``on``."""
        round_year = on.year if (on.month, on.day) <= self.closes else on.year + 1
        return round_year + self.entry_offset

    def on(self, entry_year: int) -> date:
        """The cut-off date in ``entry_year``."""
        return date(entry_year, self.month, self.day)


@dataclass(frozen=True)
class RuleSet:
    """All programmes plus the cut-off dates and thresholds they are measured against."""

    rounds: Mapping[str, Cutoff]
    params: Mapping[str, Any]
    disclaimer: Text
    programmes: tuple[Programme, ...]

    def programme(self, programme_id: str) -> Programme | None:
        """The programme with this id, or ``None``."""
        return next((p for p in self.programmes if p.id == programme_id), None)

    @property
    def cutoffs(self) -> dict[str, tuple[int, int]]:
        """Cut-off name -> (month, day)."""
        return {name: (c.month, c.day) for name, c in self.rounds.items()}

    def entry_years(self, on: date) -> dict[str, int]:
        """Cut-off name -> the entry year of the round a check on ``on`` is judged for."""
        return {name: cutoff.entry_year(on) for name, cutoff in self.rounds.items()}

    def cutoff_dates(
        self, entry_year: int | None = None, *, on: date | None = None
    ) -> dict[str, date]:
        """The named cut-off dates: all in ``entry_year`` when given, else each in the entry
        year of the round a check on ``on`` (default: today) is judged for."""
        if entry_year is not None:
            return {name: cutoff.on(entry_year) for name, cutoff in self.rounds.items()}
        day = on or date.today()
        return {name: cutoff.on(cutoff.entry_year(day)) for name, cutoff in self.rounds.items()}


def _parse_case(
    raw: Any, file: Path, entry: str, params: Mapping[str, Any], *, otherwise: bool = False
) -> Case:
    raw = _mapping(raw, file, entry)
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise ScreeningDataError(file, entry, f"outcome must be one of {', '.join(OUTCOMES)}")
    if otherwise == ("when" in raw):
        needs = "takes no 'when'" if otherwise else "needs a 'when' condition"
        raise ScreeningDataError(file, entry, f"this case {needs}")
    when = None if otherwise else parse_condition(raw["when"], file, entry, params)
    return Case(
        when=when,
        outcome=outcome,
        text=_required_text(raw.get("text"), file, f"{entry}.text"),
        next_step=_required_text(raw.get("next_step"), file, f"{entry}.next_step"),
    )


def _parse_criterion(raw: Any, file: Path, entry: str, params: Mapping[str, Any]) -> Criterion:
    raw = _mapping(raw, file, entry)
    cid = raw.get("id")
    if not isinstance(cid, str):
        raise ScreeningDataError(file, entry, "a criterion needs an id")
    where = f"{entry}.{cid}"
    cases_raw = raw.get("cases")
    if not isinstance(cases_raw, list) or not cases_raw:
        raise ScreeningDataError(file, where, "needs a non-empty list of cases")
    check = raw.get("check", "answer")
    if check not in CHECK_KINDS:
        raise ScreeningDataError(file, where, f"check must be one of {', '.join(CHECK_KINDS)}")
    cases = tuple(
        _parse_case(case, file, f"{where} case {i + 1}", params)
        for i, case in enumerate(cases_raw)
    )
    otherwise = (
        _parse_case(raw["otherwise"], file, f"{where} otherwise", params, otherwise=True)
        if "otherwise" in raw
        else None
    )
    return Criterion(
        id=cid,
        label=_required_text(raw.get("label"), file, f"{where}.label"),
        cases=cases,
        otherwise=otherwise,
        check=check,
    )


def _parse_programme(pid: str, raw: Any, file: Path, params: Mapping[str, Any]) -> Programme:
    raw = _mapping(raw, file, pid)
    criteria_raw = raw.get("criteria")
    if not isinstance(criteria_raw, list) or not criteria_raw:
        raise ScreeningDataError(file, pid, "needs a non-empty list of criteria")
    criteria = tuple(_parse_criterion(c, file, pid, params) for c in criteria_raw)
    ids = [criterion.id for criterion in criteria]
    if len(set(ids)) != len(ids):
        raise ScreeningDataError(file, pid, "duplicate criterion id")
    applies_when = (
        parse_condition(raw["applies_when"], file, f"{pid}.applies_when", params)
        if "applies_when" in raw
        else None
    )
    return Programme(
        id=pid,
        interest=str(raw.get("interest", "")),
        name=_required_text(raw.get("name"), file, f"{pid}.name"),
        source=_text(raw.get("source"), file, f"{pid}.source", optional=True),
        criteria=criteria,
        applies_when=applies_when,
        registration_window=_parse_window(raw.get("registration_window"), file, pid),
    )


def _parse_window(raw: Any, file: Path, pid: str) -> Window | None:
    if raw is None:
        return None
    entry = f"{pid}.registration_window"
    raw = _mapping(raw, file, entry)
    day = raw.get("date")
    if not isinstance(day, date):
        raise ScreeningDataError(file, entry, "needs a date like 2027-06-03 (or null)")
    return Window(day=day, source=_required_text(raw.get("source"), file, f"{entry}.source"))


def _month_day(raw: Any, file: Path, entry: str) -> tuple[int, int]:
    value = _mapping(raw, file, entry)
    try:
        month, day = int(value["month"]), int(value["day"])
        date(2000, month, day)  # a leap year: 29 February is a valid month and day
    except (KeyError, TypeError, ValueError) as exc:
        raise ScreeningDataError(file, entry, "needs a valid month and day") from exc
    return month, day


def _parse_cutoff(name: str, raw: Any, file: Path) -> Cutoff:
    entry = f"cutoffs.{name}"
    raw = _mapping(raw, file, entry)
    month, day = _month_day(raw, file, entry)
    round_raw = _mapping(raw.get("round"), file, f"{entry}.round")
    closes = _month_day(
        round_raw.get("applications_close"), file, f"{entry}.round.applications_close"
    )
    offset = round_raw.get("entry_offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 2:
        raise ScreeningDataError(file, f"{entry}.round.entry_offset", "must be 0, 1 or 2")
    return Cutoff(
        name=name,
        month=month,
        day=day,
        closes=closes,
        entry_offset=offset,
        source=_required_text(round_raw.get("source"), file, f"{entry}.round.source"),
    )


def parse_rules(raw: Any, file: Path = RULES_FILE) -> RuleSet:
    """Build a :class:`RuleSet` from parsed YAML."""
    raw = _mapping(raw, file, "file")
    for obsolete in ("reference_date", "gks_entry_year"):
        if obsolete in raw:
            raise ScreeningDataError(
                file,
                obsolete,
                "no longer used: ages are counted on a programme's registration_window while it "
                "is ahead, else on today's date; GKS entry years follow each cut-off's round",
            )
    cutoffs = {
        str(name): _parse_cutoff(str(name), value, file)
        for name, value in _mapping(raw.get("cutoffs") or {}, file, "cutoffs").items()
    }
    params = dict(_mapping(raw.get("params") or {}, file, "params"))
    programmes_raw = _mapping(raw.get("programmes"), file, "programmes")
    programmes = tuple(
        _parse_programme(str(pid), body, file, params) for pid, body in programmes_raw.items()
    )
    rules = RuleSet(
        rounds=cutoffs,
        params=params,
        disclaimer=_required_text(raw.get("disclaimer"), file, "disclaimer"),
        programmes=programmes,
    )
    known_dates = {REFERENCE, *cutoffs}
    for programme in programmes:
        for criterion in programme.criteria:
            for case in criterion.cases:
                for test in condition_tests(case.when):
                    if test.age_on is not None and test.age_on not in known_dates:
                        raise ScreeningDataError(
                            file, f"{programme.id}.{criterion.id}", f"unknown date {test.age_on!r}"
                        )
    return rules


def load_rules(path: Path | None = None) -> RuleSet:
    """Load the rules (the packaged ones by default)."""
    if path is None:
        return _default_rules()
    return parse_rules(read_yaml(path), path)


@cache
def _default_rules() -> RuleSet:
    return parse_rules(read_yaml(RULES_FILE), RULES_FILE)


# --------------------------------------------------------------------------------------------
# Consent notice and texts


@dataclass(frozen=True)
class Consent:
    """The UU PDP notice shown before sensitive questions, with its version."""

    version: str
    retention_days: int
    title: Text
    text: Text
    accept: Text
    decline: Text
    declined: Text


def load_consent(path: Path | None = None) -> Consent:
    """Load the consent notice (the packaged one by default)."""
    return _default_consent() if path is None else _parse_consent(read_yaml(path), path)


@cache
def _default_consent() -> Consent:
    return _parse_consent(read_yaml(CONSENT_FILE), CONSENT_FILE)


def _parse_consent(raw: Any, file: Path) -> Consent:
    raw = _mapping(raw, file, "file")
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ScreeningDataError(file, "version", "must be a non-empty string")
    days = raw.get("retention_days")
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise ScreeningDataError(file, "retention_days", "must be a positive whole number")
    return Consent(
        version=version,
        retention_days=days,
        **{
            key: _required_text(raw.get(key), file, key)
            for key in ("title", "text", "accept", "decline", "declined")
        },
    )


# Keys of texts.yaml the engine and the report read.
TEXT_KEYS = (
    *(f"outcomes.{outcome}" for outcome in (*OUTCOMES, NOT_ASSESSED)),
    *(
        f"errors.{key}"
        for key in (
            "choose_one",
            "unknown_choice",
            "choose_at_least",
            "exclusive_choice",
            "yes_no",
            "not_a_number",
            "not_integer",
            "out_of_range",
            "bad_date",
            "no_such_date",
            "short_year",
            "future_date",
            "too_young",
            "too_old",
            "empty",
            "too_long",
        )
    ),
    "answers.yes",
    "answers.no",
    "answers.none",
    *(
        f"report.{key}"
        for key in ("title", "reference_date", "met", "next_step", "not_assessed", "source")
    ),
    *(f"report.age_on.{basis}" for basis in AGE_BASES),
    "progress.exact",
    "progress.estimate",
    *(
        f"minors.{key}"
        for key in (
            "work_blocked",
            "guardian_needed",
            "guardian_declined",
            "subscribe_offer",
            "relationship.father",
            "relationship.mother",
            "relationship.guardian",
        )
    ),
    "report.no_programme",
    *(f"not_assessed.{key}" for key in ("declined", "missing", *CHECK_KINDS)),
)


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with its ``{placeholders}`` filled from ``values`` (unknown ones kept)."""
    return catalog.fill(template, values)


@dataclass(frozen=True)
class Texts:
    """The engine's user-facing texts (``texts.yaml`` in the one text catalog, keys
    ``screening.<key>``) and the words typed answers are read with (``words.yaml``)."""

    catalog: catalog.Catalog
    words: Mapping[str, Any]

    def get(self, key: str, lang: str, **values: Any) -> str:
        """The plain text at dotted ``key`` in ``lang`` (falling back to Indonesian), filled in."""
        return self.catalog.text(TEXTS_PREFIX + key, lang, **values)

    def pair(self, key: str, **values: Any) -> Text:
        """The text at ``key`` in every language."""
        return {lang: self.get(key, lang, **values) for lang in LANGS}

    @property
    def yes_words(self) -> frozenset[str]:
        """Typed words read as "yes"."""
        return frozenset(str(word).lower() for word in self.words["yes_words"])

    @property
    def no_words(self) -> frozenset[str]:
        """Typed words read as "no"."""
        return frozenset(str(word).lower() for word in self.words["no_words"])

    def month_names(self, lang: str) -> list[str]:
        """Display names of the months in ``lang`` (January first)."""
        return [str(names[0]) for names in self.words["months"][lang]]

    def month_lookup(self) -> dict[str, int]:
        """Every accepted month word (both languages, lower case) -> month number."""
        lookup: dict[str, int] = {}
        for lang in LANGS:
            for number, names in enumerate(self.words["months"][lang], start=1):
                for name in names:
                    lookup[str(name).lower()] = number
        return lookup


def load_texts(path: Path | None = None, words: Path | None = None) -> Texts:
    """The engine's texts and words (the packaged ones by default; a ``texts.yaml`` at ``path``
    is read as a catalog source), checked that every key the engine reads is present."""
    if path is None and words is None:
        return _default_texts()
    if path is None:
        texts = catalog.default()
    else:
        try:
            texts = catalog.Catalog.read(
                (catalog.Source(path.name, TEXTS_PREFIX, html=False),), path.parent
            )
        except catalog.CatalogError as exc:
            first = exc.problems[0]
            raise ScreeningDataError(
                path, first.key.removeprefix(TEXTS_PREFIX), first.message
            ) from exc
    wpath = words or WORDS_FILE
    return _parse_texts(texts, read_yaml(wpath), path or TEXTS_FILE, wpath)


def _parse_texts(texts: catalog.Catalog, raw_words: Any, file: Path, wfile: Path) -> Texts:
    for key in TEXT_KEYS:
        if TEXTS_PREFIX + key not in texts:
            raise ScreeningDataError(file, key, "missing text")
    words = _mapping(raw_words, wfile, "file")
    for key in ("yes_words", "no_words"):
        if not isinstance(words.get(key), list) or not words[key]:
            raise ScreeningDataError(wfile, key, "must be a non-empty list")
    for lang in LANGS:
        months = (words.get("months") or {}).get(lang)
        if not isinstance(months, list) or len(months) != 12:
            raise ScreeningDataError(wfile, f"months.{lang}", "needs 12 lists of names")
    return Texts(texts, words)


@cache
def _default_texts() -> Texts:
    return _parse_texts(catalog.default(), read_yaml(WORDS_FILE), TEXTS_FILE, WORDS_FILE)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Validation:
    """The result of checking one typed or tapped answer."""

    ok: bool
    value: Any
    error: str | None


@dataclass(frozen=True)
class Reason:
    """Why a criterion came out as it did, and what to do next."""

    criterion: str
    outcome: str
    text: Text
    next_step: Text
    label: Text = field(default_factory=dict)


@dataclass(frozen=True)
class AgeDate:
    """The date ages are counted on and why: ``today`` (no announced window ahead),
    ``registration`` (an announced registration window still ahead), ``fixed`` (given by the
    caller, e.g. ``screen --reference-date``) or ``entry`` (a GKS cut-off in ``entry_year``)."""

    day: date
    basis: str
    entry_year: int | None = None


@dataclass(frozen=True)
class ProgrammeResult:
    """The outcome for one programme: the most severe outcome among its assessed criteria."""

    programme: str
    outcome: str
    reasons: tuple[Reason, ...]
    name: Text = field(default_factory=dict)
    source: Text | None = None
    age_date: AgeDate | None = None

    @property
    def not_assessed(self) -> tuple[Reason, ...]:
        """Reasons for the criteria that could not be assessed."""
        return tuple(reason for reason in self.reasons if reason.outcome == NOT_ASSESSED)


@dataclass(frozen=True)
class Evaluation:
    """Results for the programmes of interest, with the initial-indication disclaimer."""

    programmes: tuple[ProgrammeResult, ...]
    disclaimer: Text
    reference_date: date
    consent: bool
    # Why ages are counted on ``reference_date`` (see AgeDate.basis) and the day of the check.
    reference_basis: str = "fixed"
    today: date | None = None

    @property
    def reference(self) -> AgeDate:
        """The general reference date with its basis."""
        return AgeDate(self.reference_date, self.reference_basis)

    def outcome(self, programme_id: str) -> str | None:
        """The outcome for a programme, or ``None`` if it was not evaluated."""
        return next((p.outcome for p in self.programmes if p.programme == programme_id), None)

    def outcomes(self) -> dict[str, str]:
        """Programme id -> outcome, the form stored in a registration's ``screening`` field."""
        return {result.programme: result.outcome for result in self.programmes}
