"""`python -m bot check`: every content file validated, problems as `file: entry: problem`."""

from __future__ import annotations

from bot.handlers.screening import callback_data_problems
from bot.i18n import validate_texts
from faq.model import validate_knowledge_base
from screening.validate import validate_screening_data


def validate_all() -> list[str]:
    problems: list[str] = [str(p) for p in validate_texts()]
    problems += [str(p) for p in validate_knowledge_base()]
    problems += [str(p) for p in validate_screening_data()]
    problems += callback_data_problems()  # the questionnaire's buttons fit Telegram
    return problems
