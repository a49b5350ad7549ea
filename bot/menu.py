"""The main menu, built from texts; every feature's entry point is one button here."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.i18n import Texts
from bot.ui import keyboard

# (text key, callback data). Topic buttons open a FAQ topic; the others open a feature.
MAIN_MENU: tuple[tuple[tuple[str, str], ...], ...] = (
    (("btn_programme", "t:programme"), ("btn_scholarship", "t:scholarship")),
    (("btn_costs", "t:costs"), ("btn_requirements", "t:requirements")),
    (("btn_screening", "scr:start"), ("btn_register", "reg:start")),
    (("btn_subscribe", "sub:menu"), ("btn_all_topics", "m:topics")),
    (("btn_ask", "m:ask"), ("btn_contact", "m:contact")),
    (("btn_language", "m:lang"),),
)


def main_menu(texts: Texts, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(texts.get(key, lang), data) for key, data in row] for row in MAIN_MENU])
