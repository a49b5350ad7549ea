"""Rule logic: three-valued conditions over answers and the decision of each criterion.

A condition is ``True``, ``False`` or ``None`` (undecided: an answer it needs is missing).
``all``/``any``/``not`` follow Kleene logic, so ``any`` is true as soon as one item is true even
when others are undecided. Criteria never turn missing data into an outcome: an undecided
criterion is "not assessed".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from screening.model import (
    LANGS,
    NOT_ASSESSED,
    OUTCOMES,
    REFERENCE,
    AgeDate,
    AllOf,
    AnyOf,
    Case,
    Condition,
    Criterion,
    Not,
    Programme,
    ProgrammeResult,
    Reason,
    Test,
    Text,
    Texts,
    fill,
)


def age_on(birth: date, day: date) -> int:
    """Age in completed years on ``day``: a birthday on ``day`` itself already counts."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class Context:
    """What conditions are evaluated against: answers plus the named dates ages are taken on."""

    answers: Mapping[str, Any]
    dates: Mapping[str, date]

    def age(self, question_id: str, on: str) -> int | None:
        """Age on the named date from a date answer (ISO string), or ``None`` if unanswered."""
        raw = self.answers.get(question_id)
        if raw is None:
            return None
        return age_on(date.fromisoformat(str(raw)), self.dates[on])


def holds(
    condition: Condition | None, ctx: Context, *, absent: frozenset[str] | None = None
) -> bool | None:
    """Evaluate a condition: ``True``, ``False``, or ``None`` when an answer is missing.

    With ``absent`` given (looking ahead, e.g. for the progress counter), a missing answer is
    undecided unless its question is in ``absent`` (it will never be asked): then a test on it is
    false, except ``answered: false``.
    """
    if condition is None:
        return True
    if isinstance(condition, Test):
        return _test(condition, ctx, absent)
    if isinstance(condition, Not):
        inner = holds(condition.item, ctx, absent=absent)
        return None if inner is None else not inner
    results = [holds(item, ctx, absent=absent) for item in condition.items]
    if isinstance(condition, AllOf):
        if False in results:
            return False
        return None if None in results else True
    assert isinstance(condition, AnyOf)
    if True in results:
        return True
    return None if None in results else False


def _test(test: Test, ctx: Context, absent: frozenset[str] | None = None) -> bool | None:
    if absent is not None and ctx.answers.get(test.question) is None:
        if test.question not in absent:
            return None
        return test.op == "answered" and test.value is False
    if test.op == "answered":
        present = ctx.answers.get(test.question) is not None
        return present == test.value
    if test.age_on is not None:
        value: Any = ctx.age(test.question, test.age_on)
    else:
        value = ctx.answers.get(test.question)
    if value is None:
        return None
    return _compare(test.op, value, test.value)


def _compare(op: str, value: Any, expected: Any) -> bool:
    if op == "eq":
        return bool(value == expected)
    if op == "ne":
        return bool(value != expected)
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    if op == "contains":
        return expected in value
    if op == "contains_any":
        return any(item in value for item in expected)
    number = float(value)
    if op == "gt":
        return number > expected
    if op == "gte":
        return number >= expected
    if op == "lt":
        return number < expected
    if op == "lte":
        return number <= expected
    raise ValueError(f"unknown operator {op!r}")


def decide(criterion: Criterion, ctx: Context) -> Case | None:
    """The case that decides a criterion, or ``None`` when it cannot be assessed.

    Cases are tried in order and the first that holds wins; an undecided case is passed over.
    If none holds, ``otherwise`` applies, unless a case was undecided (then: not assessed).
    """
    undecided = False
    for case in criterion.cases:
        result = holds(case.when, ctx)
        if result:
            return case
        undecided = undecided or result is None
    return None if undecided else criterion.otherwise


# The least an outcome can be when the citizen declined to answer a criterion of this kind.
_FLOOR_FOR_CHECK = {"medical": "needs_medical_check", "legal": "needs_preparation"}


def severity(outcome: str) -> int:
    """Rank of an outcome, least severe first."""
    return OUTCOMES.index(outcome)


def worst(outcomes: list[str]) -> str:
    """The most severe of ``outcomes``; ``not_assessed`` when there is none."""
    return max(outcomes, key=severity) if outcomes else NOT_ASSESSED


def render(text: Text, values: Mapping[str, Mapping[str, Any]]) -> Text:
    """Fill a bilingual text's placeholders with per-language ``values``."""
    return {lang: fill(text[lang], values[lang]) for lang in LANGS}


def evaluate_programme(
    programme: Programme,
    ctx: Context,
    texts: Texts,
    values: Mapping[str, Mapping[str, Any]],
    declined: frozenset[str],
    age_date: AgeDate | None = None,
) -> ProgrammeResult:
    """Decide every criterion of ``programme`` and combine them.

    ``values`` fills text placeholders per language; ``declined`` holds the ids of the
    sensitive questions the citizen chose not to answer (no consent); ``age_date`` is the date
    this programme's ages were counted on, reported with the result.
    """
    reasons: list[Reason] = []
    for criterion in programme.criteria:
        case = decide(criterion, ctx)
        if case is None:
            cause = "declined" if criterion.questions & declined else "missing"
            reasons.append(
                Reason(
                    criterion=criterion.id,
                    outcome=NOT_ASSESSED,
                    text=texts.pair(f"not_assessed.{cause}"),
                    next_step=texts.pair(f"not_assessed.{criterion.check}"),
                    label=criterion.label,
                )
            )
            continue
        reasons.append(
            Reason(
                criterion=criterion.id,
                outcome=case.outcome,
                text=render(case.text, values),
                next_step=render(case.next_step, values),
                label=criterion.label,
            )
        )
    assessed = [reason.outcome for reason in reasons if reason.outcome != NOT_ASSESSED]
    # A health or legal criterion the citizen declined to answer must not let the headline read
    # "meets the initial requirements": the check it needs (MCU, SKCK) is the next step. Answers
    # merely missing from a profile stay out of the headline.
    unassessed_checks = {
        _FLOOR_FOR_CHECK[criterion.check]
        for criterion in programme.criteria
        if criterion.questions & declined
        and criterion.check in _FLOOR_FOR_CHECK
        and decide(criterion, ctx) is None
    }
    return ProgrammeResult(
        programme=programme.id,
        outcome=worst(assessed + sorted(unassessed_checks)) if assessed else worst(assessed),
        reasons=tuple(reasons),
        name=programme.name,
        source=programme.source,
        age_date=age_date,
    )


def dates_for(reference: date, cutoffs: Mapping[str, date]) -> dict[str, date]:
    """The named dates conditions may take ages on."""
    return {REFERENCE: reference, **cutoffs}
