"""The real bot Application, long-polling the local Bot API emulator, driven like a transcript.

``await bot.send(user, "syarat")`` injects a message, waits (without sleeping) until the bot has
fully processed that update, and returns what the bot sent to that chat meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram.request import HTTPXRequest

from bot.app import AnyApplication, build_application
from bot.config import Config, load_config
from bot.processing import PerChatUpdateProcessor
from tests.emulator import BotAPIEmulator

REPO = Path(__file__).resolve().parent.parent


def make_config(emu: BotAPIEmulator, data_dir: Path, **env: str) -> Config:
    environ = {
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": emu.url,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_CONFIG": str(REPO / "config.yaml"),
        **env,
    }
    return load_config(environ=environ)


@dataclass
class Reply:
    """One message the bot sent or edited in the chat."""

    method: str
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)
    message_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def button(self, label: str) -> str:
        """The callback data of the first button whose text contains ``label``."""
        for text, data in self.buttons:
            if label.lower() in text.lower():
                return data
        raise AssertionError(f"no button {label!r} in {self.buttons}")


class BotHarness:
    """``paced=False`` builds the Application without the flood limiter (bot/ratelimit.py):
    only for a test that sends hundreds of requests in a row and checks nothing about pace."""

    def __init__(self, emu: BotAPIEmulator, config: Config, *, paced: bool = True) -> None:
        self.emu = emu
        self.config = config
        self.paced = paced
        self._done: set[int] = set()
        self._changed = asyncio.Condition()
        self.app: AnyApplication | None = None

    def _on_done(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is not None:
            self._done.add(update_id)
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def start(self) -> BotHarness:
        processor = PerChatUpdateProcessor(on_done=self._on_done)
        self.app = build_application(
            self.config,
            update_processor=processor,
            # Plain HTTP on 127.0.0.1: skip loading the CA bundle (0.15 s per client).
            request=HTTPXRequest(connection_pool_size=256, httpx_kwargs={"verify": False}),
            get_updates_request=HTTPXRequest(httpx_kwargs={"verify": False}),
            rate_limiter=self.paced,
        )
        await self.app.initialize()
        if self.app.post_init:  # run_polling() would call it; we drive the lifecycle by hand
            await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0, timeout=1)
        return self

    async def stop(self) -> None:
        if self.app is None:
            return
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        if self.app.post_shutdown:
            await self.app.post_shutdown(self.app)
        self.app = None

    async def restart(self) -> None:
        """A new Application on the same data directory, as after a crash or a deploy."""
        await self.stop()
        self._done.clear()
        await self.start()

    async def processed(self, update_id: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: update_id in self._done), timeout
            )

    async def send(self, user_id: int, text: str, **kwargs: Any) -> list[Reply]:
        """The citizen types ``text``; the bot's replies."""
        before = len(self.emu.calls)
        update = self.emu.send_text(user_id, text, **kwargs)
        return await self._since(before, kwargs.get("chat_id") or user_id, update)

    async def send_message(
        self, user_id: int, fields: dict[str, Any], **kwargs: Any
    ) -> list[Reply]:
        before = len(self.emu.calls)
        update = self.emu.send_message(user_id, fields, **kwargs)
        return await self._since(before, kwargs.get("chat_id") or user_id, update)

    async def press(self, user_id: int, reply: Reply | int, label_or_data: str) -> list[Reply]:
        """Press a button: by its label on ``reply``, or by raw callback data on a message id."""
        if isinstance(reply, Reply):
            data = reply.button(label_or_data)
            message_id = reply.message_id
        else:
            data, message_id = label_or_data, reply
        assert message_id is not None
        before = len(self.emu.calls)
        update = self.emu.press(user_id, message_id, data)
        replies = await self._since(before, user_id, update)
        query_id = update["callback_query"]["id"]
        assert self.emu.callback_answered(query_id), f"button {data!r} was never answered"
        return replies

    async def _since(self, before: int, chat_id: int, update: dict[str, Any]) -> list[Reply]:
        await self.processed(update["update_id"])
        return [
            _reply(call)
            for call in self.emu.calls[before:]
            if call.chat_id == chat_id and call.ok and call.method != "answerCallbackQuery"
        ]


def _reply(call: Any) -> Reply:
    params = call.params
    result = call.result if isinstance(call.result, dict) else {}
    text = params.get("text") or params.get("caption") or ""
    markup = params.get("reply_markup") or {}
    buttons: list[tuple[str, str]] = []
    for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
        for b in row:
            buttons.append((b["text"], b.get("callback_data") or b.get("url", "")))
    message_id = result.get("message_id") or params.get("message_id")
    return Reply(call.method, text, buttons, message_id, params)


def texts_of(replies: Iterable[Reply]) -> str:
    return "\n---\n".join(r.text for r in replies)
