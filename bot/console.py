"""The console chat: the real Application and handlers, behind an in-process Bot API.

Nothing is re-implemented: each typed line becomes a Telegram ``Update`` fed to the same
Application the Telegram bot runs, and the Bot API calls it makes are answered here and printed
as a phone would show them: the HTML as plain text, inline buttons and the reply keyboard
numbered, edits marked as edits, files saved under the data directory.

What a typed line is (the rule the help line states):

- ``#2`` presses button 2 of the keyboard shown last (inline buttons, or the reply keyboard);
- a bare number presses a button only when the bot's last message has inline buttons and asks for
  no text: it came with no ForceReply, no reply keyboard is up, and none of its lines opens with
  the bot's ✍️ "type your answer" hint (a typed question with Back/Cancel buttons). Those buttons
  are printed ``[2]``; buttons printed ``[#2]`` need the ``#``. Otherwise the number is sent as
  text: a NIK, a phone number, a grade are answers, never presses;
- ``> text`` sends ``text`` as a reply to the bot's latest ForceReply prompt not yet answered, or
  else to the bot's last message; right after a ForceReply prompt a plain line is a reply to it, as
  a phone's reply bar does it;
- anything else is a text message (``/…`` a command).

Standard input is read line by line, so the chat works when piped; it ends at end of input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import IO, Any, TextIO

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import AnyApplication, build_application
from bot.config import Config
from bot.telegram_html import to_plain
from store.fs import ensure_private_dir, fsync_dir, open_private, sync_data, temp_path, write_all

CONSOLE_TOKEN = "1000000:console-chat-not-a-real-token"
BOT_USER = {"id": 1000000, "is_bot": True, "first_name": "Serang Bot", "username": "serang_bot"}
CONSOLE_USER_ID = 1000001  # the console's citizen; BOT_STAFF_IDS=1000001 makes it staff
SAMPLE_PHONE = "+6281200001001"  # what "share my number" sends: a made-up Telkomsel number
FILES_DIRNAME = "console-files"
# The bot's texts open the line that asks for a typed answer with ✍️ (bot/texts/screening.yaml:
# scr_hint, scr_type_answer): under such a prompt a number is the answer even beside buttons.
TYPE_HINT = "\u270d"  # ✍, with or without the emoji variation selector

_PRESS = re.compile(r"#(\d+)")
_SEND_FILE = {"sendPhoto": "photo", "sendDocument": "document"}


def _markup(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _flat(rows: Any) -> list[dict[str, Any]]:
    return [b if isinstance(b, dict) else {"text": str(b)} for row in rows or [] for b in row]


def _safe_name(name: str | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "").name).strip("._")
    return base or "file"


class ConsoleBotAPI(BaseRequest):
    """Answers the Bot API calls of the Application in-process and prints what a user would see.

    It keeps the console chat as a phone shows it: every message with its current markup, the
    bot's last message, the ForceReply prompt waiting for an answer and the reply keyboard up.
    """

    def __init__(self, out: TextIO, chat: dict[str, Any], files_dir: Path) -> None:
        self.out = out
        self.chat = chat
        self.files_dir = files_dir
        # One sequence for the chat's messages, the user's and the bot's, as on Telegram. It starts
        # from the clock so that a new run never reuses the id of a prompt an older run stored.
        self._message_ids = itertools.count(time.time_ns() // 1_000_000)
        self.messages: dict[int, dict[str, Any]] = {}
        self.markups: dict[int, dict[str, Any]] = {}  # the markup each bot message came with
        self.last_id: int | None = None  # the bot's latest message in the console chat
        self.force_reply_id: int | None = None  # the latest ForceReply prompt not yet answered
        self.reply_keyboard: dict[str, Any] | None = None  # the reply keyboard up, if any
        self.saved_files: list[Path] = []
        self._keyboards_shown: list[int] = []  # messages whose inline buttons were printed

    # -- the state a typed line is read against --------------------------------------------------

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def bare_numbers_press(self) -> bool:
        """Whether a bare number presses a button: the bot's last message shows inline buttons
        and asks for no text: no ForceReply on it, no reply keyboard up, and no line of it opens
        with the bot's "type your answer" hint (a typed question with Back/Cancel buttons)."""
        if self.last_id is None or self.reply_keyboard is not None:
            return False
        markup = self.markups.get(self.last_id, {})
        if not markup.get("inline_keyboard") or markup.get("force_reply"):
            return False
        message = self.messages.get(self.last_id, {})
        text = to_plain(str(message.get("text") or message.get("caption") or ""))
        return not any(line.lstrip().startswith(TYPE_HINT) for line in text.splitlines())

    def keyboard(self) -> tuple[list[dict[str, Any]], int | None]:
        """The buttons ``#n`` presses and the message they are on (None: the reply keyboard).

        The bot's last message's inline buttons, else the reply keyboard, else the inline
        buttons printed last that are still there (a phone can tap those too).
        """
        if self.last_id is not None:
            rows = self.markups.get(self.last_id, {}).get("inline_keyboard")
            if rows:
                return _flat(rows), self.last_id
        if self.reply_keyboard is not None:
            return _flat(self.reply_keyboard.get("keyboard")), None
        for message_id in reversed(self._keyboards_shown):
            rows = self.markups.get(message_id, {}).get("inline_keyboard")
            if rows:
                return _flat(rows), message_id
        return [], None

    def reply_target(self) -> dict[str, Any] | None:
        """The message ``>`` replies to: the pending ForceReply prompt, else the last message."""
        message_id = self.force_reply_id or self.last_id
        return self.messages.get(message_id) if message_id is not None else None

    def remember(self, message: dict[str, Any]) -> None:
        self.messages[int(message["message_id"])] = message

    # -- BaseRequest ------------------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to connect to."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        uploads = (
            request_data.multipart_data if request_data and request_data.contains_files else {}
        )
        result = self.handle(api_method, params, uploads)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def handle(
        self, method: str, params: dict[str, Any], uploads: dict[str, Any] | None = None
    ) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage" or method in _SEND_FILE:
            return self._send(method, params, uploads or {})
        if method in {"editMessageText", "editMessageCaption", "editMessageReplyMarkup"}:
            return self._edit(method, params)
        if method in {"deleteMessage", "deleteMessages"}:
            self._delete(params)
        elif method == "answerCallbackQuery" and params.get("text"):
            mark = "[!] " if params.get("show_alert") else ""
            self.out.write(f"  ({mark}{params['text']})\n\n")
        elif method == "getUpdates":
            return []
        elif method.startswith("send") and method != "sendChatAction":
            self.out.write(f"Bot: [{method}]\n\n")
        return True

    # -- what the bot sends -----------------------------------------------------------------------

    def _chat_of(self, chat_id: Any) -> dict[str, Any] | None:
        """The console chat, or None for another chat (a staff group, another citizen)."""
        return self.chat if str(chat_id) == str(self.chat["id"]) else None

    def _send(
        self, method: str, params: dict[str, Any], uploads: dict[str, Any]
    ) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        chat = self._chat_of(chat_id)
        other = {"id": int(chat_id or 0), "type": "private" if int(chat_id or 0) > 0 else "group"}
        message: dict[str, Any] = {
            "message_id": self.next_message_id(),
            "date": int(time.time()),
            "chat": chat or other,
            "from": BOT_USER,
        }
        text = str(params.get("text") or params.get("caption") or "")
        header = "Bot:" if chat is not None else f"Bot -> chat {chat_id}:"
        if method == "sendMessage":
            message["text"] = text
        else:
            if text:
                message["caption"] = text
            header += " " + self._file(method, params, uploads, message, saved=chat is not None)
            if text:
                header += "\n    "  # the caption under the file, as a phone shows it
        markup = _markup(params.get("reply_markup"))
        if markup.get("inline_keyboard"):
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        if chat is None:  # another chat: shown for the record, the console's state is untouched
            self._print(header, text, {}, presses_bare=False)
            return message
        message_id = int(message["message_id"])
        self.remember(message)
        self.markups[message_id] = markup
        self.last_id = message_id
        if markup.get("force_reply"):
            self.force_reply_id = message_id
        if markup.get("keyboard"):
            self.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            self.reply_keyboard = None
        presses = self.bare_numbers_press()
        self._print(header, text, markup, presses_bare=presses, message_id=message_id)
        return message

    def _file(
        self,
        method: str,
        params: dict[str, Any],
        uploads: dict[str, Any],
        message: dict[str, Any],
        *,
        saved: bool,
    ) -> str:
        """The file a phone would show: saved under the data directory when it was uploaded."""
        field = _SEND_FILE[method]
        label = "[gambar / image]" if field == "photo" else "[berkas / file]"
        file_id = f"console-{message['message_id']}"
        upload = uploads.get(field)
        name = _safe_name(upload[0] if upload else None)
        if field == "photo":
            message["photo"] = [
                {"file_id": file_id, "file_unique_id": file_id, "width": 1, "height": 1}
            ]
        else:
            message["document"] = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_name": name,
            }
        if upload is None:  # sent again by file_id (an announcement): there is nothing to save
            return f"{label} {params.get(field)}"
        if not saved:
            return f"{label} {name}"
        path = self._save(name, upload[1])
        return f"{label} {name} -> disimpan di / saved to {path}"

    def _save(self, name: str, content: bytes | IO[bytes]) -> Path:
        """Write a file the bot sent under <data_dir>/console-files/ (0600, directory 0700).

        Written to a temp file, synced and renamed, so a crash leaves no half file; a name
        already taken gets a numbered suffix.
        """
        data = content if isinstance(content, bytes) else content.read()
        ensure_private_dir(self.files_dir)
        stem, suffix = os.path.splitext(name)
        path = self.files_dir / name
        for number in itertools.count(2):
            if not path.exists():
                break
            path = self.files_dir / f"{stem}-{number}{suffix}"
        temp = temp_path(path)
        fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, data)
            sync_data(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        fsync_dir(self.files_dir)
        self.saved_files.append(path)
        return path.resolve()

    def _edit(self, method: str, params: dict[str, Any]) -> Any:
        chat = self._chat_of(params.get("chat_id"))
        message_id = int(params.get("message_id") or 0)
        message = self.messages.get(message_id)
        if chat is None or message is None:  # another chat, or an inline message
            if "text" in params:
                header = f"Bot -> chat {params.get('chat_id')} (diedit / edited):"
                self._print(header, str(params["text"]), {}, presses_bare=False)
            return True
        markup = _markup(params.get("reply_markup"))
        self.markups[message_id] = markup
        if markup.get("inline_keyboard"):
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        else:
            message.pop("reply_markup", None)
        if method == "editMessageReplyMarkup":
            if markup.get("inline_keyboard"):
                header = "Bot (tombol diganti / buttons changed):"
                presses = self.bare_numbers_press() and message_id == self.last_id
                self._print(header, "", markup, presses_bare=presses, message_id=message_id)
            else:
                self.out.write("  (tombol pesan dihapus / the message's buttons were removed)\n\n")
            return message
        key = "text" if method == "editMessageText" else "caption"
        message[key] = str(params.get(key) or "")
        presses = self.bare_numbers_press() and message_id == self.last_id
        header = "Bot (diedit / edited):"
        self._print(header, message[key], markup, presses_bare=presses, message_id=message_id)
        return message

    def _delete(self, params: dict[str, Any]) -> None:
        if self._chat_of(params.get("chat_id")) is None:
            return
        ids = params.get("message_ids") or [params.get("message_id")]
        for message_id in ids:
            message = self.messages.pop(int(message_id or 0), None)
            self.markups.pop(int(message_id or 0), None)
            if message is None:
                continue
            if message.get("from", {}).get("id") == BOT_USER["id"]:
                self.out.write("  (pesan bot dihapus / the bot deleted a message)\n\n")
            else:
                self.out.write("  (pesan Anda dihapus dari chat / your message was deleted)\n\n")
            if message_id == self.last_id:
                self.last_id = None
            if message_id == self.force_reply_id:
                self.force_reply_id = None

    # -- printing ---------------------------------------------------------------------------------

    def _print(
        self,
        header: str,
        text: str,
        markup: dict[str, Any],
        *,
        presses_bare: bool,
        message_id: int | None = None,
    ) -> None:
        body = to_plain(text).replace("\n", "\n     ")
        self.out.write(f"{header} {body}".rstrip() + "\n")
        inline = _flat(markup.get("inline_keyboard"))
        if inline and message_id is not None:
            self._keyboards_shown.append(message_id)
        mark = "" if presses_bare else "#"
        for number, btn in enumerate(inline, 1):
            self.out.write(f"  [{mark}{number}] {btn['text']}{self._kind(btn)}\n")
        if markup.get("keyboard"):
            self.out.write("  papan tombol / keyboard:\n")
            for number, btn in enumerate(_flat(markup["keyboard"]), 1):
                self.out.write(f"  [#{number}] {btn['text']}{self._kind(btn)}\n")
        if markup.get("force_reply"):
            placeholder = markup.get("input_field_placeholder")
            hint = f": {placeholder}" if placeholder else ""
            self.out.write(f"  (balas pesan ini / reply to this message{hint})\n")
        if markup.get("remove_keyboard"):
            self.out.write("  (papan tombol ditutup / keyboard closed)\n")
        self.out.write("\n")
        self.out.flush()

    @staticmethod
    def _kind(btn: dict[str, Any]) -> str:
        if "url" in btn:
            return f" -> {btn['url']}"
        if btn.get("request_contact"):
            return " (kirim kontak / shares your contact)"
        return ""


class ConsoleChat:
    """One citizen talking to the bot on the terminal."""

    def __init__(
        self, config: Config, out: TextIO = sys.stdout, user_id: int = CONSOLE_USER_ID
    ) -> None:
        self.user = {"id": user_id, "is_bot": False, "first_name": "Warga", "language_code": "id"}
        self.chat = {"id": user_id, "type": "private", "first_name": "Warga"}
        self.out = out
        self.api = ConsoleBotAPI(out, self.chat, config.data_dir / FILES_DIRNAME)
        console_config = dataclasses.replace(config, token=CONSOLE_TOKEN, api_url=None)
        self.app: AnyApplication = build_application(
            console_config, request=self.api, rate_limiter=False
        )
        self.app.bot_data["set_commands"] = False
        self._update_ids = itertools.count(1)

    async def __aenter__(self) -> ConsoleChat:
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.shutdown()
        if self.app.post_shutdown:
            await self.app.post_shutdown(self.app)

    async def say(self, line: str) -> None:
        """A typed line, read by the rule of the module docstring."""
        line = line.rstrip("\r\n")
        choice = line.strip()
        press = _PRESS.fullmatch(choice)
        if press is not None:
            await self._press_number(int(press.group(1)))
        elif choice.isdigit() and self.api.bare_numbers_press():
            buttons, _ = self.api.keyboard()
            if 1 <= int(choice) <= len(buttons):
                await self._press_number(int(choice))
            else:
                await self._message(line)
        elif choice.startswith(">"):
            await self._message(choice[1:].strip(), reply_to=self.api.reply_target())
        else:
            await self._message(line)

    async def _press_number(self, number: int) -> None:
        buttons, message_id = self.api.keyboard()
        if not 1 <= number <= len(buttons):
            shown = f"#1–#{len(buttons)}" if buttons else "-"
            self.out.write(f"  (tidak ada tombol #{number} / no button #{number}; {shown})\n\n")
            return
        btn = buttons[number - 1]
        if message_id is None:
            await self._press_reply_button(btn)
        elif "callback_data" in btn:
            self.out.write(f"  (tombol / button: {btn['text']})\n")
            await self._process(
                {
                    "callback_query": {
                        "id": str(next(self._update_ids)),
                        "from": self.user,
                        "chat_instance": "console",
                        "data": btn["callback_data"],
                        "message": self.api.messages[message_id],
                    }
                }
            )
        elif "url" in btn:
            self.out.write(f"  -> {btn['url']}\n\n")
        else:
            self.out.write("  (tombol ini tidak didukung di konsol / not supported here)\n\n")

    async def _press_reply_button(self, btn: dict[str, Any]) -> None:
        """A reply-keyboard button sends its text, or the user's contact."""
        keyboard = self.api.reply_keyboard or {}
        if keyboard.get("one_time_keyboard"):
            self.api.reply_keyboard = None  # the phone hides it once pressed
        if btn.get("request_contact"):
            contact = {
                "phone_number": SAMPLE_PHONE,
                "first_name": self.user["first_name"],
                "user_id": self.user["id"],
            }
            self.out.write(
                f"Anda: [kontak / contact] {self.user['first_name']}, {SAMPLE_PHONE} "
                "(nomor contoh / sample number)\n"
            )
            await self._message(None, contact=contact)
        elif set(btn) - {"text"}:
            self.out.write("  (tombol ini tidak didukung di konsol / not supported here)\n\n")
        else:
            self.out.write(f"Anda: {btn['text']}\n")
            await self._message(btn["text"])

    async def _message(
        self,
        text: str | None,
        *,
        reply_to: dict[str, Any] | None = None,
        contact: dict[str, Any] | None = None,
    ) -> None:
        api = self.api
        open_prompt = api.last_id is not None and api.last_id == api.force_reply_id
        if reply_to is None and contact is None and open_prompt:
            reply_to = api.reply_target()  # a phone's reply bar is open on the prompt
        message: dict[str, Any] = {
            "message_id": api.next_message_id(),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
        }
        if contact is not None:
            message["contact"] = contact
        else:
            message["text"] = text or ""
        if text and text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            message["reply_to_message"] = reply_to
            if reply_to["message_id"] == api.force_reply_id:
                api.force_reply_id = None  # answered
        api.remember({k: v for k, v in message.items() if k != "reply_to_message"})
        await self._process({"message": message})

    async def _process(self, payload: dict[str, Any]) -> None:
        payload["update_id"] = next(self._update_ids)
        update = Update.de_json(payload, self.app.bot)
        await self.app.process_update(update)


async def run_console(
    config: Config,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    *,
    intro: bool | None = None,
) -> None:
    """Greet, then read lines until end of input and show the bot's replies.

    The greeting is the bot's own answer to /start, sent on the user's behalf as a phone does
    when a chat with a bot is opened. ``intro`` (default: when stdin is a terminal) prints the
    help line first.
    """
    interactive = stdin.isatty()
    async with ConsoleChat(config, out) as chat:
        if interactive if intro is None else intro:
            texts = chat.app.bot_data["services"].texts
            help_line = texts.render(
                "console_intro",
                config.default_language,
                user_id=chat.user["id"],
                files=chat.api.files_dir,
            )
            out.write(to_plain(help_line) + "\n\n")
        out.write("Anda: /start\n")
        await chat.say("/start")
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                out.write("Anda: ")
                out.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            if not interactive:
                out.write(f"Anda: {line.rstrip()}\n")
            await chat.say(line)
