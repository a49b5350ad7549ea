"""The console chat: the real Application and handlers, behind an in-process Bot API.

Nothing is re-implemented: each typed line becomes a Telegram ``Update`` fed to the same
Application the Telegram bot runs, and the Bot API calls it makes are answered here and printed.
Buttons are shown as numbered choices; typing a number presses the button. Standard input is read
line by line, so the chat works when piped, and it ends at end of input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sys
import time
from typing import Any, TextIO

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import AnyApplication, build_application
from bot.config import Config
from bot.telegram_html import to_plain

CONSOLE_TOKEN = "1000000:console-chat-not-a-real-token"
BOT_USER = {"id": 1000000, "is_bot": True, "first_name": "Serang Bot", "username": "serang_bot"}


class ConsoleBotAPI(BaseRequest):
    """Answers the Bot API calls of the Application in-process and prints what a user would see."""

    def __init__(self, out: TextIO, chat: dict[str, Any]) -> None:
        self.out = out
        self.chat = chat
        self.buttons: list[dict[str, Any]] = []  # the buttons of the latest keyboard
        self.buttons_message: int | None = None
        self._ids = itertools.count(1)
        self.messages: dict[int, dict[str, Any]] = {}

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
        params = request_data.parameters if request_data else {}
        result = self.handle(api_method, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in {"sendMessage", "sendPhoto", "sendDocument"}:
            return self._send(method, params)
        if method == "editMessageText":
            message = self.messages.get(int(params.get("message_id", 0)), self._new_message({}))
            message["text"] = params["text"]
            self._print(params["text"], params.get("reply_markup"), int(message["message_id"]))
            return message
        if method == "answerCallbackQuery" and params.get("text"):
            self.out.write(f"  ({params['text']})\n")
        if method == "getUpdates":
            return []
        return True

    def _new_message(self, fields: dict[str, Any]) -> dict[str, Any]:
        message_id = next(self._ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": BOT_USER,
            **fields,
        }
        self.messages[message_id] = message
        return message

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text") or params.get("caption") or ""
        message = self._new_message({"text": text} if method == "sendMessage" else {})
        if method == "sendPhoto":
            self.out.write("Bot: [gambar / image]\n")
        elif method == "sendDocument":
            self.out.write("Bot: [berkas / file]\n")
        if text:
            self._print(text, params.get("reply_markup"), int(message["message_id"]))
        return message

    def _print(self, text: str, markup: Any, message_id: int) -> None:
        if isinstance(markup, str):
            markup = json.loads(markup)
        self.out.write("Bot: " + to_plain(text).replace("\n", "\n     ") + "\n")
        rows = (markup or {}).get("inline_keyboard") or (markup or {}).get("keyboard")
        if rows:
            self.buttons = [b if isinstance(b, dict) else {"text": b} for row in rows for b in row]
            self.buttons_message = message_id
            for number, btn in enumerate(self.buttons, 1):
                self.out.write(f"  [{number}] {btn['text']}\n")
        self.out.write("\n")
        self.out.flush()


class ConsoleChat:
    """One citizen talking to the bot on the terminal."""

    def __init__(self, config: Config, out: TextIO = sys.stdout, user_id: int = 1000001) -> None:
        self.user = {"id": user_id, "is_bot": False, "first_name": "Warga", "language_code": "id"}
        self.chat = {"id": user_id, "type": "private", "first_name": "Warga"}
        self.api = ConsoleBotAPI(out, self.chat)
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
        """A typed line: a button number presses that button, anything else is a message."""
        line = line.rstrip("\r\n")
        choice = line.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(self.api.buttons):
            await self._press(self.api.buttons[int(choice) - 1])
        else:
            await self._message(line)

    async def _press(self, btn: dict[str, Any]) -> None:
        if "callback_data" in btn:
            message = self.api.messages[self.api.buttons_message or 0]
            update = {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": self.user,
                    "chat_instance": "console",
                    "data": btn["callback_data"],
                    "message": message,
                }
            }
            await self._process(update)
        elif "url" in btn:
            self.api.out.write(f"  -> {btn['url']}\n\n")
        else:  # a reply-keyboard button sends its text
            await self._message(btn["text"])

    async def _message(self, text: str) -> None:
        message: dict[str, Any] = {
            "message_id": next(self._update_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        await self._process({"message": message})

    async def _process(self, payload: dict[str, Any]) -> None:
        payload["update_id"] = next(self._update_ids)
        update = Update.de_json(payload, self.app.bot)
        await self.app.process_update(update)


async def run_console(config: Config, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """Read lines until end of input and show the bot's replies."""
    interactive = stdin.isatty()
    async with ConsoleChat(config, out) as chat:
        if interactive:
            texts = chat.app.bot_data["services"].texts
            out.write(to_plain(texts.get("console_intro", config.default_language)) + "\n\n")
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
