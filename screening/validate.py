"""Checks of the screening data files, for ``python -m bot check`` and the data tests.

Beyond what the loaders enforce: unique ids, both languages, Telegram limits, conditions and
rules that refer to existing questions and choices (and only to earlier questions), sensitive
questions that some rule actually needs, known text placeholders, and reachability: every case
of every rule can be reached by some answers, and every programme can come out ``eligible``.
A date in the rules that is already past (an announced registration window) is a warning: the
engine then counts ages on today's date, and the window should be updated.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from screening.model import (
    CONSENT_FILE,
    LANGS,
    QUESTION_TYPES,
    QUESTIONNAIRE_FILE,
    REFERENCE,
    RULES_FILE,
    TEXTS_FILE,
    Consent,
    Criterion,
    Question,
    Questionnaire,
    RuleSet,
    ScreeningDataError,
    Test,
    condition_tests,
    load_consent,
    load_texts,
    parse_questionnaire,
    parse_rules,
    read_yaml,
)
from screening.rules import Context, dates_for, decide

# Telegram limits (domain brief, section 6) and the bot's callback data layout.
MAX_QUESTION_LENGTH = 1000
MAX_MESSAGE_LENGTH = 4096
MAX_BUTTON_LENGTH = 64
MAX_CALLBACK_BYTES = 64
CALLBACK_FORMAT = "scr:a:{question}:{choice}"

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")

# Operators that make sense for each question type ("answered" fits every type).
OPS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "single": frozenset({"eq", "ne", "in", "not_in"}),
    "multi": frozenset({"contains", "contains_any"}),
    "yesno": frozenset({"eq", "ne"}),
    "number": frozenset({"eq", "ne", "gt", "gte", "lt", "lte"}),
    "date": frozenset({"gt", "gte", "lt", "lte"}),
    "text": frozenset({"eq", "ne"}),
}


@dataclass(frozen=True)
class Problem:
    """One problem in a data file (``warning``: the data works but needs attention)."""

    file: str
    entry: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = "warning: " if self.warning else ""
        return f"{self.file}: {self.entry}: {prefix}{self.message}"


def validate_screening_data(
    qpath: Path | None = None,
    rpath: Path | None = None,
    *,
    cpath: Path | None = None,
    tpath: Path | None = None,
    today: date | None = None,
) -> list[Problem]:
    """Every problem found in the questionnaire, rules, consent and texts files, and a warning
    for every rule date before ``today`` (default: the system date)."""
    today = today or date.today()
    qfile, rfile = qpath or QUESTIONNAIRE_FILE, rpath or RULES_FILE
    problems: list[Problem] = []
    raw_q = _read(qfile, problems)
    raw_r = _read(rfile, problems)
    questionnaire: Questionnaire | None = None
    rules: RuleSet | None = None
    if raw_q is not None:
        raw_problems = list(_check_raw_questionnaire(raw_q, qfile.name))
        problems += raw_problems
        try:
            questionnaire = parse_questionnaire(raw_q, qfile)
        except ScreeningDataError as exc:
            if not raw_problems:
                problems.append(Problem(exc.file, exc.entry, exc.message))
    if raw_r is not None:
        try:
            rules = parse_rules(raw_r, rfile)
        except ScreeningDataError as exc:
            problems.append(Problem(exc.file, exc.entry, exc.message))
    if questionnaire is not None:
        problems += _check_conditions(questionnaire, qfile.name)
    if questionnaire is not None and rules is not None:
        problems += _check_rules(questionnaire, rules, rfile.name, qfile.name, today)
    if rules is not None:
        problems += date_warnings(rules, today, rfile.name)
    try:
        problems += _check_consent(load_consent(cpath), (cpath or CONSENT_FILE).name)
    except ScreeningDataError as exc:
        problems.append(Problem(exc.file, exc.entry, exc.message))
    try:
        load_texts(tpath)
    except ScreeningDataError as exc:
        problems.append(Problem((tpath or TEXTS_FILE).name, exc.entry, exc.message))
    return problems


def _read(path: Path, problems: list[Problem]) -> Any:
    try:
        return read_yaml(path)
    except ScreeningDataError as exc:
        problems.append(Problem(exc.file, exc.entry, exc.message))
        return None


# --------------------------------------------------------------------------------------------
# Questionnaire


def _texts_problems(file: str, entry: str, raw: Any, limit: int) -> Iterator[Problem]:
    if not isinstance(raw, Mapping):
        yield Problem(file, entry, f"needs texts in {' and '.join(LANGS)}")
        return
    extra = sorted(str(key) for key in raw if key not in LANGS)
    if extra:
        yield Problem(file, entry, f"unexpected keys {extra} (an unquoted comma?)")
    for lang in LANGS:
        text = raw.get(lang)
        if not isinstance(text, str) or not text.strip():
            yield Problem(file, entry, f"missing the '{lang}' text")
        elif len(text) > limit:
            yield Problem(file, entry, f"'{lang}' text is {len(text)} characters (max {limit})")


def _check_raw_questionnaire(raw: Any, file: str) -> Iterator[Problem]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("questions"), list):
        yield Problem(file, "questions", "must be a list of questions")
        return
    sections = set()
    for section in raw.get("sections") or []:
        sid = section.get("id") if isinstance(section, Mapping) else None
        if not isinstance(sid, str) or sid in sections:
            yield Problem(file, f"section {sid}", "section ids must be unique strings")
        sections.add(sid)
        yield from _texts_problems(file, f"section {sid}", (section or {}).get("title"), 200)
    keys: dict[str, str] = {}
    for index, question in enumerate(raw["questions"]):
        if not isinstance(question, Mapping):
            yield Problem(file, f"question #{index + 1}", "must be a mapping")
            continue
        qid = question.get("id")
        if not isinstance(qid, str) or not ID_RE.match(qid):
            yield Problem(file, f"question #{index + 1}", f"bad id {qid!r} (snake_case)")
            continue
        for key in (qid, *(question.get("aliases") or [])):
            if key in keys:
                yield Problem(file, qid, f"id or alias {key!r} is already used by {keys[key]}")
            keys[key] = qid
        if question.get("type") not in QUESTION_TYPES:
            yield Problem(file, qid, f"type must be one of {', '.join(QUESTION_TYPES)}")
        if question.get("section") not in sections:
            yield Problem(file, qid, f"unknown section {question.get('section')!r}")
        yield from _texts_problems(file, f"{qid}.text", question.get("text"), MAX_QUESTION_LENGTH)
        for part in ("why", "hint"):
            if part in question:
                yield from _texts_problems(
                    file, f"{qid}.{part}", question[part], MAX_QUESTION_LENGTH
                )
        yield from _check_message_length(question, file, qid)
        yield from _check_raw_choices(question.get("choices") or [], file, qid)


def _check_message_length(question: Mapping[str, Any], file: str, qid: str) -> Iterator[Problem]:
    """Question, why and hint are shown together; the whole must fit the question limit."""
    for lang in LANGS:
        parts = [question.get(part) for part in ("text", "why", "hint")]
        total = sum(len(str(p.get(lang, ""))) for p in parts if isinstance(p, Mapping))
        if total > MAX_QUESTION_LENGTH:
            yield Problem(file, qid, f"text + why + hint in '{lang}' is {total} characters")


def _check_raw_choices(choices: Any, file: str, qid: str) -> Iterator[Problem]:
    keys: dict[str, str] = {}
    for choice in choices:
        cid = choice.get("id") if isinstance(choice, Mapping) else None
        if not isinstance(cid, str) or not ID_RE.match(cid):
            yield Problem(file, qid, f"bad choice id {cid!r} (snake_case)")
            continue
        for key in (cid, *(str(a).lower() for a in choice.get("aliases") or [])):
            if key in keys:
                yield Problem(file, f"{qid}.{cid}", f"{key!r} is already used by {keys[key]}")
            keys[key] = cid
        callback = CALLBACK_FORMAT.format(question=qid, choice=cid)
        if len(callback.encode()) > MAX_CALLBACK_BYTES:
            yield Problem(
                file,
                f"{qid}.{cid}",
                f"callback data {callback!r} is over {MAX_CALLBACK_BYTES} bytes",
            )
        yield from _texts_problems(file, f"{qid}.{cid}", choice.get("text"), MAX_BUTTON_LENGTH)


def _check_test(
    test: Test, questionnaire: Questionnaire, file: str, entry: str, before: int | None
) -> Iterator[Problem]:
    """One test: known question (asked earlier if ``before`` is given), fitting operator and
    values that the question can actually take."""
    target = questionnaire.get(test.question)
    if target is None:
        yield Problem(file, entry, f"refers to unknown question {test.question!r}")
        return
    if before is not None and questionnaire.index(target.id) >= before:
        yield Problem(file, entry, f"refers to {target.id}, which is not asked earlier")
    if test.op == "answered":
        return
    if (test.age_on is not None) != (target.type == "date") or (
        test.op not in OPS_BY_TYPE[target.type]
    ):
        yield Problem(file, entry, f"operator {test.op!r} does not fit {target.type} {target.id}")
        return
    values = test.value if isinstance(test.value, tuple) else (test.value,)
    if target.type in ("single", "multi"):
        known = {choice.id for choice in target.choices}
        for value in values:
            if value not in known:
                yield Problem(file, entry, f"{target.id} has no choice {value!r}")
    elif target.type == "yesno" and not all(isinstance(v, bool) for v in values):
        yield Problem(file, entry, f"{target.id} is yes/no: compare with true or false")


def _check_conditions(questionnaire: Questionnaire, file: str) -> Iterator[Problem]:
    for index, question in enumerate(questionnaire.questions):
        for test in condition_tests(question.when):
            yield from _check_test(test, questionnaire, file, f"{question.id}.when", index)
        if question.skipped_value is not None and question.when is None:
            yield Problem(file, question.id, "skipped_value needs a 'when' condition")
        if question.sensitive and question.why is None:
            yield Problem(file, question.id, "a sensitive question must say why it is asked")


# --------------------------------------------------------------------------------------------
# Rules


def date_warnings(rules: RuleSet, today: date, file: str = RULES_FILE.name) -> list[Problem]:
    """A warning for every registration window already past on ``today``."""
    problems = []
    for programme in rules.programmes:
        window = programme.registration_window
        if window is not None and window.day < today:
            problems.append(
                Problem(
                    file,
                    f"{programme.id}.registration_window",
                    f"{window.day.isoformat()} is in the past: ages are counted on today's date "
                    "until the next announcement's date is entered (or set it to null)",
                    warning=True,
                )
            )
    return problems


def _check_rules(
    questionnaire: Questionnaire, rules: RuleSet, file: str, qfile: str, today: date
) -> Iterator[Problem]:
    programmes_question = questionnaire.get("programmes")
    interests = {c.id for c in programmes_question.choices} if programmes_question else set()
    read_by_rules: set[str] = set()
    for programme in rules.programmes:
        if programme.interest not in interests:
            yield Problem(file, programme.id, f"interest {programme.interest!r} is not a choice")
        for test in condition_tests(programme.applies_when):
            yield from _check_test(test, questionnaire, file, f"{programme.id}.applies_when", None)
        for criterion in programme.criteria:
            entry = f"{programme.id}.{criterion.id}"
            for case in criterion.cases:
                for test in condition_tests(case.when):
                    yield from _check_test(test, questionnaire, file, entry, None)
            read_by_rules |= criterion.questions
            yield from _check_placeholders(criterion, questionnaire, rules, file, entry)
            yield from _check_reachable(criterion, questionnaire, rules, file, entry, today)
    for question in questionnaire.questions:
        if question.sensitive and question.id not in read_by_rules:
            yield Problem(qfile, question.id, "sensitive question that no rule reads")


def _check_placeholders(
    criterion: Criterion, questionnaire: Questionnaire, rules: RuleSet, file: str, entry: str
) -> Iterator[Problem]:
    known = {REFERENCE, "age", *rules.params, *rules.cutoffs}
    known |= {f"age_{name}" for name in rules.cutoffs}
    known |= {q.id for q in questionnaire.questions if q.type == "number"}
    cases = [*criterion.cases, *([criterion.otherwise] if criterion.otherwise else [])]
    for case in cases:
        for text in (case.text, case.next_step):
            for lang in LANGS:
                for name in PLACEHOLDER_RE.findall(text[lang]):
                    if name not in known:
                        yield Problem(file, entry, f"unknown placeholder {{{name}}} in '{lang}'")


_MISSING = object()


def _birth_dates(day: date, age: int) -> list[date]:
    """Birth dates that make someone ``age - 1``, ``age`` and ``age + 1`` on ``day``."""
    results = []
    for years in (age - 1, age, age + 1):
        try:
            results.append(day.replace(year=day.year - years))
        except ValueError:  # 29 February
            results.append(day.replace(year=day.year - years, day=28))
    results[0] = results[1] + timedelta(days=1)
    return results


def _candidates(question: Question, tests: list[Test], dates: Mapping[str, date]) -> list[Any]:
    """Answers worth trying for a question: every choice, both booleans, numbers and birth
    dates on either side of each threshold, and "no answer"."""
    if question.type == "single":
        values: list[Any] = [c.id for c in question.choices]
    elif question.type == "multi":
        values = [[c.id] for c in question.choices]
    elif question.type == "yesno":
        values = [True, False]
    elif question.type == "number":
        numbers = {0.0, *(float(question.validation.get(k, 0)) for k in ("min", "max"))}
        for test in tests:
            for value in test.value if isinstance(test.value, tuple) else (test.value,):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numbers |= {value + delta for delta in (-1, -0.5, 0, 0.5, 1)}
        values = sorted(numbers)
    elif question.type == "date":
        births = {
            birth.isoformat()
            for test in tests
            if test.age_on is not None and isinstance(test.value, int)
            for birth in _birth_dates(dates[test.age_on], test.value)
        }
        values = sorted(births)
    else:
        values = ["text"]
    return [*values, _MISSING]


def _check_reachable(
    criterion: Criterion,
    questionnaire: Questionnaire,
    rules: RuleSet,
    file: str,
    entry: str,
    today: date,
) -> Iterator[Problem]:
    tests = [t for case in criterion.cases for t in condition_tests(case.when)]
    dates = dates_for(today, rules.cutoff_dates(on=today))
    ids = sorted(q for q in criterion.questions if questionnaire.get(q) is not None)
    domains = [
        _candidates(questionnaire[qid], [t for t in tests if t.question == qid], dates)
        for qid in ids
    ]
    reached: set[int] = set()
    outcomes: set[str] = set()
    for combination in itertools.product(*domains):
        answers = {qid: value for qid, value in zip(ids, combination, strict=True)}
        answers = {qid: value for qid, value in answers.items() if value is not _MISSING}
        case = decide(criterion, Context(answers, dates))
        if case is None:
            continue
        outcomes.add(case.outcome)
        reached |= {i for i, c in enumerate(criterion.cases) if c is case}
        reached |= {-1} if case is criterion.otherwise else set()
    for index, _case in enumerate(criterion.cases):
        if index not in reached:
            yield Problem(file, f"{entry} case {index + 1}", "no answers can ever reach this case")
    if criterion.otherwise is not None and -1 not in reached:
        yield Problem(file, f"{entry} otherwise", "no answers can ever reach 'otherwise'")
    if "eligible" not in outcomes:
        yield Problem(file, entry, "no answers lead to 'eligible': the programme can never pass")


# --------------------------------------------------------------------------------------------
# Consent


def _check_consent(consent: Consent, file: str) -> Iterator[Problem]:
    for name, limit in (("title", 200), ("text", MAX_MESSAGE_LENGTH), ("declined", 1000)):
        yield from _texts_problems(file, name, getattr(consent, name), limit)
    for name in ("accept", "decline"):
        yield from _texts_problems(file, name, getattr(consent, name), MAX_BUTTON_LENGTH)
