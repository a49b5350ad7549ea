"""Command menus registered with setMyCommands: per language, and per chat for staff."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.config import LANGUAGES, StaffConfig
from bot.i18n import Texts

log = logging.getLogger(__name__)

# (command, description text key). Feature modules' commands are listed here, in menu order.
CITIZEN_COMMANDS: list[tuple[str, str]] = [
    ("start", "cmd_start"),
    ("menu", "cmd_menu"),
    ("cekkelayakan", "cmd_cekkelayakan"),
    ("daftar", "cmd_daftar"),
    ("langganan", "cmd_langganan"),
    ("berhenti", "cmd_berhenti"),
    ("dataku", "cmd_dataku"),
    ("hapusdata", "cmd_hapusdata"),
    ("petugas", "cmd_petugas"),
    ("batal", "cmd_batal"),
    ("help", "cmd_help"),
    ("bahasa", "cmd_bahasa"),
]
STAFF_COMMANDS: list[tuple[str, str]] = [
    ("pendaftar", "cmd_pendaftar"),
    ("cari", "cmd_cari"),
    ("antrian", "cmd_antrian"),
    ("ekspor", "cmd_ekspor"),
    ("statistik", "cmd_statistik"),
    ("pertanyaan", "cmd_pertanyaan"),
    ("tutup", "cmd_tutup"),
    ("pengumuman", "cmd_pengumuman"),
    ("siaran", "cmd_siaran"),
    ("statusprogram", "cmd_statusprogram"),
]


class CommandMenus:
    def __init__(self, texts: Texts, staff: StaffConfig) -> None:
        self.texts = texts
        self.staff = staff

    def commands(self, lang: str, *, staff: bool = False) -> list[BotCommand]:
        listed = CITIZEN_COMMANDS + (STAFF_COMMANDS if staff else [])
        return [BotCommand(name, self.texts.get(key, lang)[:256]) for name, key in listed]

    async def apply_defaults(self, bot: Bot) -> None:
        """Citizen menus in every language, and the staff menu in each staff member's chat."""
        await bot.set_my_commands(self.commands("id"), scope=BotCommandScopeDefault())
        for lang in LANGUAGES:
            await bot.set_my_commands(
                self.commands(lang), scope=BotCommandScopeDefault(), language_code=lang
            )
        for user_id in sorted(self.staff.everyone):
            await self.apply_for_user(bot, user_id, "id")

    async def apply_for_user(self, bot: Bot, user_id: int, lang: str) -> None:
        """The menu of one private chat, in the language the user chose."""
        try:
            await bot.set_my_commands(
                self.commands(lang, staff=self.staff.is_staff(user_id)),
                scope=BotCommandScopeChat(user_id),
            )
        except TelegramError as exc:  # e.g. a staff member who never opened the bot
            log.warning("could not set the command menu of chat %s: %s", user_id, exc)
