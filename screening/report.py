"""Render an :class:`~screening.model.Evaluation` as text (CLI / Telegram) or as a dict (JSON).

Per programme the report leads with the outcome, then explains every criterion that is not
yet met (most severe first) with its next step, lists the met ones in one line, and groups the
criteria that could not be assessed. A result always ends with the initial-indication notice.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from screening.engine import format_date
from screening.model import (
    NOT_ASSESSED,
    AgeDate,
    Evaluation,
    ProgrammeResult,
    Reason,
    Texts,
    load_texts,
)
from screening.rules import severity

# Telegram allows 4096 characters per message; stay well below it.
MAX_REPORT_LENGTH = 3500


def age_date_text(age_date: AgeDate, lang: str, texts: Texts | None = None) -> str:
    """Which date ages were counted on and why, e.g. "Usia dihitung per 2 Desember 2026
    (hari ini)." or "Usia dihitung per tanggal pendaftaran 1 Maret 2027."."""
    texts = texts or load_texts()
    return texts.get(
        f"report.age_on.{age_date.basis}",
        lang,
        date=format_date(age_date.day, lang, texts),
        year=age_date.entry_year or age_date.day.year,
    )


def _format_programme(
    result: ProgrammeResult,
    lang: str,
    texts: Texts,
    bold: Callable[[str], str],
    esc: Callable[[str], str],
    *,
    steps: bool,
    sources: bool,
    age_line: bool,
) -> list[str]:
    label = texts.get(f"outcomes.{result.outcome}", lang)
    lines = [bold(f"{esc(result.name.get(lang, result.programme))}: {esc(label)}")]
    if age_line and result.age_date is not None:
        lines.append(esc(age_date_text(result.age_date, lang, texts)))
    open_reasons = sorted(
        (r for r in result.reasons if r.outcome not in ("eligible", NOT_ASSESSED)),
        key=lambda r: -severity(r.outcome),
    )
    step_label = texts.get("report.next_step", lang)
    for reason in open_reasons:
        outcome = texts.get(f"outcomes.{reason.outcome}", lang)
        lines.append(f"• {esc(reason.label[lang])} ({esc(outcome)}): {esc(reason.text[lang])}")
        if steps:
            lines.append(f"  {esc(step_label)}: {esc(reason.next_step[lang])}")
    met = [esc(r.label[lang]) for r in result.reasons if r.outcome == "eligible"]
    if met:
        lines.append(f"✓ {esc(texts.get('report.met', lang))}: {', '.join(met)}")
    groups: dict[tuple[str, str], list[Reason]] = {}
    for reason in result.not_assessed:
        groups.setdefault((reason.text[lang], reason.next_step[lang]), []).append(reason)
    for (text, step), reasons in groups.items():
        names = ", ".join(esc(r.label[lang]) for r in reasons)
        lines.append(f"? {names}: {esc(text)}")
        if steps:
            lines.append(f"  {esc(step_label)}: {esc(step)}")
    if sources and result.source:
        lines.append(f"{esc(texts.get('report.source', lang))}: {esc(result.source[lang])}")
    return lines


def format_evaluation(evaluation: Evaluation, lang: str, *, html: bool = False) -> str:
    """The evaluation as readable text in ``lang``.

    With ``html=True`` every piece of data text is escaped and only ``<b>`` is used (Telegram
    HTML parse mode). The result stays under ``MAX_REPORT_LENGTH`` characters: when the full
    report would be longer, sources and then next steps are left out.
    """
    for steps, sources in ((True, True), (True, False), (False, False)):
        text = _render(evaluation, lang, as_html=html, steps=steps, sources=sources)
        if len(text) <= MAX_REPORT_LENGTH:
            return text
    return text[: MAX_REPORT_LENGTH - 1] + "…"


def _render(
    evaluation: Evaluation, lang: str, *, as_html: bool, steps: bool, sources: bool
) -> str:
    texts = load_texts()

    def esc(value: str) -> str:
        return html.escape(value, quote=False) if as_html else value

    def bold(value: str) -> str:
        return f"<b>{value}</b>" if as_html else value

    # One line for the date ages were counted on when every programme shares it; otherwise a
    # line under each programme (an announced window, a GKS entry year).
    age_dates = {r.age_date for r in evaluation.programmes if r.age_date is not None}
    shared = next(iter(age_dates)) if len(age_dates) == 1 else None
    header = [bold(esc(texts.get("report.title", lang)))]
    if shared is not None or not age_dates:
        header.append(esc(age_date_text(shared or evaluation.reference, lang, texts)))
    blocks = ["\n".join(header)]
    if not evaluation.programmes:
        blocks.append(esc(texts.get("report.no_programme", lang)))
    for result in evaluation.programmes:
        lines = _format_programme(
            result,
            lang,
            texts,
            bold,
            esc,
            steps=steps,
            sources=sources,
            age_line=shared is None,
        )
        blocks.append("\n".join(lines))
    blocks.append(esc(evaluation.disclaimer[lang]))
    return "\n\n".join(blocks)


def evaluation_to_dict(evaluation: Evaluation, lang: str) -> dict[str, Any]:
    """The evaluation as JSON-ready data (texts in ``lang``), e.g. for ``screen --json``."""
    texts = load_texts()
    return {
        "reference_date": evaluation.reference_date.isoformat(),
        "reference_basis": evaluation.reference_basis,
        "reference_text": age_date_text(evaluation.reference, lang, texts),
        "today": evaluation.today.isoformat() if evaluation.today else None,
        "consent": evaluation.consent,
        "programmes": [
            {
                "programme": result.programme,
                "name": result.name.get(lang, result.programme),
                "outcome": result.outcome,
                "outcome_label": texts.get(f"outcomes.{result.outcome}", lang),
                "age_date": _age_date_dict(result.age_date, lang, texts),
                "reasons": [
                    {
                        "criterion": reason.criterion,
                        "label": reason.label.get(lang, reason.criterion),
                        "outcome": reason.outcome,
                        "outcome_label": texts.get(f"outcomes.{reason.outcome}", lang),
                        "text": reason.text[lang],
                        "next_step": reason.next_step[lang],
                    }
                    for reason in result.reasons
                ],
            }
            for result in evaluation.programmes
        ],
        "disclaimer": evaluation.disclaimer[lang],
    }


def _age_date_dict(age_date: AgeDate | None, lang: str, texts: Texts) -> dict[str, Any] | None:
    if age_date is None:
        return None
    return {
        "date": age_date.day.isoformat(),
        "basis": age_date.basis,
        "entry_year": age_date.entry_year,
        "text": age_date_text(age_date, lang, texts),
    }
