"""`python -m bot check`: every content file validated, problems as `file: entry: problem`."""

from __future__ import annotations

from bot.i18n import validate_texts
from bot.ui import CALLBACK_DATA_LIMIT
from faq.model import validate_knowledge_base
from screening.engine import Engine
from screening.model import ScreeningDataError
from screening.validate import validate_screening_data

YES, NO = "y", "n"  # the yes/no answers in the questionnaire's buttons (bot/handlers/screening)


def validate_all() -> list[str]:
    problems: list[str] = [str(p) for p in validate_texts()]
    problems += [str(p) for p in validate_knowledge_base()]
    problems += [str(p) for p in validate_screening_data()]
    problems += callback_data_problems()  # the questionnaire's buttons fit Telegram
    return problems


def callback_data_problems(engine: Engine | None = None) -> list[str]:
    """Questionnaire buttons whose callback data would not fit Telegram's 64 bytes."""
    if engine is None:
        try:
            engine = Engine.default()
        except ScreeningDataError:  # reported by screening.validate
            return []
    data: list[str] = []
    for question in engine.questionnaire.questions:
        steps = ("back", "edit", "done")
        data += [f"scr:{kind}:{question.id}" for kind in steps]
        data += [f"scr:{kind}:{question.id}:{c.id}" for c in question.choices for kind in "at"]
        data += [f"scr:a:{question.id}:{answer}" for answer in (YES, NO)]
    return [
        f"questionnaire: button data over {CALLBACK_DATA_LIMIT} bytes: {item}"
        for item in data
        if len(item.encode()) > CALLBACK_DATA_LIMIT
    ]
