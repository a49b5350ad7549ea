"""/start, /menu, /help and the language switch."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.commands import CITIZEN_COMMANDS, STAFF_COMMANDS
from bot.i18n import Markup, escape
from bot.menu import main_menu
from bot.routing import pressed, router
from bot.services import services
from bot.ui import answer, keyboard, reply, show

#: A language button: ``lang:id``, ``lang:en``.
LANGUAGE = router.action("lang", "", "code")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Welcome the citizen and show the main menu."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    user = update.effective_user
    name = user.first_name if user else ""
    await svc.call(svc.stores.users.touch, user.id) if user else None
    await reply(update, svc.texts.render("welcome", lang, name=name), main_menu(svc.texts, lang))


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The main menu, by command or by the Menu button."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    await show(update, svc.texts.render("menu_title", lang), main_menu(svc.texts, lang))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """How to use the bot: every citizen command (the same list as the command menu), and the
    staff commands for staff."""
    svc = services(context)
    user = update.effective_user
    lang = await svc.language(user)

    def listed(commands: list[tuple[str, str]]) -> str:
        return "\n".join(f"/{name} · {escape(svc.texts.get(key, lang))}" for name, key in commands)

    lines = listed(CITIZEN_COMMANDS)
    if svc.config.staff.is_staff(user.id if user else None):
        lines += "\n\n" + svc.texts.render("help_staff", lang) + "\n" + listed(STAFF_COMMANDS)
    text = svc.texts.render("help", lang, commands=Markup(lines))
    await reply(update, text, main_menu(svc.texts, lang))


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/bahasa: offer both languages."""
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query)
    markup = keyboard(
        [
            [(svc.texts.get("btn_lang_id", lang), LANGUAGE.data("id"))],
            [(svc.texts.get("btn_lang_en", lang), LANGUAGE.data("en"))],
        ]
    )
    await show(update, svc.texts.render("language_choose", lang), markup)


async def set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str) -> None:
    """A language button (``lang:<code>``): remember the choice and show the menu in it."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    lang = code
    if lang not in ("id", "en"):
        lang = svc.config.default_language
    await svc.set_language(query.from_user.id, lang)
    await answer(query)
    text = svc.texts.render("language_set", lang) + "\n\n" + svc.texts.render("menu_title", lang)
    await show(update, text, main_menu(svc.texts, lang))
    await context.application.bot_data["commands"].apply_for_user(
        context.bot, query.from_user.id, lang
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CommandHandler(["help", "bantuan"], help_command))
    app.add_handler(CommandHandler(["bahasa", "language"], choose_language))


router.action("m", "home").handles(pressed(menu))
router.action("m", "lang").handles(pressed(choose_language))
LANGUAGE.handles(set_language)
