"""A strict local Telegram Bot API server for the tests.

``BotAPIEmulator`` serves the Bot API over real HTTP on 127.0.0.1, so the bot's real
python-telegram-bot ``Application`` long-polls it exactly as it polls api.telegram.org. Every
request is checked against the vendored Bot API 10.0 spec and against the rules Telegram enforces
(text limits, HTML parse mode, keyboards, callback queries, message existence), and answered
with Telegram's own error descriptions where they are known.

What the emulator records:

- ``calls``: every answered call, in order.
- ``rejected``: the calls Telegram would refuse whatever the scenario: unknown methods and
  parameters, bad types, bad HTML, too-long texts, missing messages, stale callback queries,
  methods this emulator does not support. A healthy test ends with ``rejected == []``.
- Errors the test itself arranged (``inject_fault``, ``block_user``, ``enforce_limits``) are in
  ``calls`` with ``ok=False`` but not in ``rejected``; rate-limit answers are counted in
  ``too_many_requests``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import mimetypes
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import BodyPartReader, web

from tests.emulator import factories
from tests.emulator.html_check import HtmlParseError, ParsedText, parse_telegram_html, utf16_len
from tests.emulator.spec import ApiSpec, SpecError, Upload

T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
UNSUPPORTED = "Bad Request: method not supported by the test emulator"

#: Methods that deliver a message, hence count towards Telegram's rate limits.
MESSAGE_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"}
)
#: Methods refused with 403 in a chat whose user blocked the bot.
BLOCKABLE_METHODS = MESSAGE_METHODS | {
    "sendChatAction",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
URL_SCHEMES = ("http://", "https://", "tg://")
TEXT_KEYS = ("text", "entities")
CAPTION_KEYS = ("caption", "caption_entities")
#: Where each method carries formatted text: (text key, entities key, optional).
FORMATTED = {
    "sendMessage": ("text", "entities", False),
    "editMessageText": ("text", "entities", False),
    "sendPhoto": ("caption", "caption_entities", True),
    "sendDocument": ("caption", "caption_entities", True),
    "editMessageCaption": ("caption", "caption_entities", True),
    "copyMessage": ("caption", "caption_entities", True),
}
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"BM")


class _Unset:
    """Marks a keyword the caller did not pass."""


UNSET = _Unset()


@dataclass
class Call:
    """One answered Bot API call."""

    method: str
    params: dict[str, Any]
    ok: bool
    result_or_error: dict[str, Any]  # the whole response body
    chat_id: int | None
    at: float  # time.monotonic() when answered
    files: dict[str, Upload] = field(default_factory=dict)  # multipart uploads by part name

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call."""
        return self.result_or_error.get("result")

    @property
    def description(self) -> str | None:
        """The error description of a failed call."""
        return self.result_or_error.get("description")


@dataclass
class StoredFile:
    """A file the emulator can serve through getFile and ``/file/bot<token>/<path>``."""

    file_id: str
    file_unique_id: str
    file_path: str
    filename: str
    mime_type: str
    content: bytes


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class _Arranged(ApiError):
    """An error the test arranged (fault, blocked user, rate limit): not a rejection."""


def bad_request(description: str) -> ApiError:
    """A 400 answer; ``description`` is given without the "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    method: str
    error: _Arranged
    chat_id: int | None
    remaining: int


@dataclass
class _Limits:
    global_per_second: int
    per_chat_per_second: int
    group_per_minute: int | None
    sent: deque[float] = field(default_factory=deque)
    per_chat: dict[int, deque[float]] = field(default_factory=dict)


@dataclass
class _CallbackQuery:
    chat_id: int
    message_id: int
    answered: bool = False
    answer: dict[str, Any] = field(default_factory=dict)


class _Changes:
    """Wakes every waiter whenever the emulator's state changes; no polling sleeps."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(self, probe: Callable[[], T | None]) -> T:
        """Wait until ``probe()`` returns something other than None, and return it."""
        while (found := probe()) is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        return found


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class BotAPIEmulator:
    """A Telegram Bot API server on 127.0.0.1 for python-telegram-bot to talk to."""

    def __init__(
        self, *, token: str = "123456:TEST-token", spec_path: Path | None = None, port: int = 0
    ):
        self.token = token
        self.port = port  # 0: a free one
        self.spec = ApiSpec.load(spec_path)
        self.url = ""
        self.bot_user = factories.make_bot_user()
        self.calls: list[Call] = []
        self.rejected: list[Call] = []
        self.too_many_requests = 0
        self.files: dict[str, StoredFile] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._changes = _Changes()
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._last_message_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_001
        self._confirmed_offset = 0
        self._polls_waiting = 0
        self._allowed_updates: frozenset[str] | None = None
        self._calls_at_last_update = 0
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._next_callback = 4_000_000_000_000_000_001
        self._blocked: set[int] = set()
        self._faults: list[_Fault] = []
        self._limits: _Limits | None = None
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._reply_keyboards: dict[int, dict[str, Any] | None] = {}
        #: The webhook set with setWebhook (url, secret_token, max_connections...), if any.
        self.webhook: dict[str, Any] | None = None
        #: Where webhook updates are really posted (the registered URL is https): tests point
        #: it at the bot's plain-HTTP listener; the registered URL's path is kept.
        self.webhook_target: str | None = None
        #: Several workers behind one URL, as a load balancer spreads them: each update goes
        #: to the next target in turn, and an attempt that cannot connect moves to the next one
        #: (set instead of ``webhook_target``).
        self.webhook_targets: list[str] = []
        self._next_target = 0
        #: Where each accepted delivery went: update_id -> target.
        self.webhook_accepted_by: dict[int, str] = {}
        #: Seconds between two attempts to deliver an update the webhook did not accept.
        self.webhook_retry_delay = 0.05
        #: Every webhook delivery attempt: (update_id, HTTP status or None when unreachable).
        self.webhook_deliveries: list[tuple[int, int | None]] = []
        #: Seconds from posting each delivery to its answer, in the same order.
        self.webhook_latencies: list[float] = []
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._held: set[str] = set()
        self._release = asyncio.Event()
        #: Calls waiting in ``hold`` right now.
        self.holding = 0
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "close": self._true,
            "logOut": self._true,
        }

    # == lifecycle =========================================================================

    async def start(self) -> None:
        """Listen on ``port`` (a free one by default) of 127.0.0.1; ``url`` is set afterwards."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client went away stops waiting at once.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Answer the pending long polls and close the server."""
        self._closing = True
        self._changes.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # == scenario controls =================================================================

    def inject_fault(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (in ``chat_id``, if given) with an error."""
        error = _Arranged(error_code, description, retry_after=retry_after)
        self._faults.append(_Fault(method, error, chat_id, times))

    def block_user(self, chat_id: int) -> None:
        """From now on every send to ``chat_id`` gets 403 "bot was blocked by the user"."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        """Undo ``block_user``."""
        self._blocked.discard(chat_id)

    def enforce_limits(
        self,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        group_per_minute: int | None = 20,
    ) -> None:
        """Answer 429 with retry_after when messages exceed these sliding-window rates."""
        self._limits = _Limits(global_per_second, per_chat_per_second, group_per_minute)

    def register_group(
        self,
        chat_id: int,
        title: str = "Grup Staf",
        *,
        chat_type: str = "supergroup",
        username: str | None = None,
    ) -> dict[str, Any]:
        """Make the bot a member of a group, so it can send there before anyone speaks."""
        if chat_id not in self._chats:
            chat = factories.group_chat(chat_id, title, chat_type=chat_type, username=username)
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def set_message_markup(
        self, chat_id: int, message_id: int, markup: dict[str, Any] | None
    ) -> None:
        """Make a bot message show ``markup``, e.g. the keyboard of an older bot version.

        For stale-button tests: ``press`` only presses buttons a message currently shows.
        """
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise LookupError(f"no bot message {message_id} in chat {chat_id}")
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = copy.deepcopy(markup)

    def add_file(
        self, content: bytes, filename: str = "file.bin", mime_type: str | None = None
    ) -> StoredFile:
        """Store a file as if a user had sent it; use its ``file_id`` in ``send_message``."""
        return self._store_file("documents", filename, mime_type, content)

    def redeliver(self, update: dict[str, Any]) -> None:
        """Queue an update already delivered once more, as Telegram does when it did not get
        the webhook's answer (or as an attacker replaying a captured request would)."""
        self._updates.append(copy.deepcopy(update))
        self._changes.notify()

    async def wait_until_delivered(
        self, update_id: int, times: int = 1, timeout: float = 5.0
    ) -> None:
        """Wait until the webhook has accepted (2xx) the update ``update_id`` ``times`` times."""

        def accepted() -> bool | None:
            count = sum(
                1 for uid, status in self.webhook_deliveries if uid == update_id and status == 200
            )
            return True if count >= times else None

        try:
            async with asyncio.timeout(timeout):
                await self._changes.wait_for(accepted)
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} not accepted {times} time(s) within {timeout}s: "
                f"{self.webhook_deliveries[-10:]}"
            ) from None

    def hold(self, *methods: str) -> None:
        """Keep calls of ``methods`` waiting, unanswered, until ``release()`` (a client that
        goes away meanwhile, e.g. a killed bot, cancels its call: it is never recorded)."""
        self._held.update(methods)
        self._release.clear()

    def release(self) -> None:
        """Answer the held calls and stop holding."""
        self._held.clear()
        self._release.set()

    # == injecting updates =================================================================

    def user(
        self,
        user_id: int,
        first_name: str = "Warga",
        language_code: str | None = "id",
        username: str | None = None,
    ) -> dict[str, Any]:
        """The User ``user_id``, created with these details on first use."""
        if user_id not in self._users:
            self._users[user_id] = factories.make_user(
                user_id, first_name, language_code=language_code, username=username
            )
        return self._users[user_id]

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | _Unset | None = UNSET,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from the user; a leading ``/command`` gets its entity.

        ``language_code`` (the user's app language) is "id" for a new user and otherwise stays
        as it was, unless given.
        """
        fields: dict[str, Any] = {"text": text}
        found = entities if entities is not None else factories.command_entities(text)
        if found:
            fields["entities"] = found
        return self._user_message(user_id, fields, chat_id, chat_type, language_code)

    def send_message(
        self,
        user_id: int,
        message_fields: dict[str, Any],
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """Queue any message (sticker, photo, voice, location...) from the user."""
        return self._user_message(user_id, dict(message_fields), chat_id, chat_type, UNSET)

    def send_contact(
        self, user_id: int, phone_number: str, *, contact_user_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a shared contact; by default the user's own (the "share my number" button)."""
        user = self.user(user_id)
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": user["first_name"],
            "user_id": contact_user_id if contact_user_id is not None else user_id,
        }
        return self._user_message(user_id, {"contact": contact}, None, "private", UNSET)

    def edit_text(
        self, user_id: int, message_id: int, new_text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Queue an ``edited_message``: the user edited one of their text messages."""
        chat = chat_id if chat_id is not None else user_id
        message = self._messages.get(chat, {}).get(message_id)
        if message is None or message["from"]["id"] != user_id or "text" not in message:
            raise LookupError(f"user {user_id} has no text message {message_id} in chat {chat}")
        message["text"] = new_text
        message.pop("entities", None)
        if entities := factories.command_entities(new_text):
            message["entities"] = entities
        message["edit_date"] = factories.now()
        return self._queue("edited_message", message)

    def press(
        self, user_id: int, message_id: int, callback_data: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a callback query: the user pressed a button of a bot message.

        Raises LookupError unless the message exists and currently shows that button.
        """
        chat = chat_id if chat_id is not None else user_id
        message = self._messages.get(chat, {}).get(message_id)
        if message is None or message["from"]["id"] != self.bot_user["id"]:
            raise LookupError(f"no bot message {message_id} in chat {chat}")
        if callback_data not in {data for _, data in self.buttons(message)}:
            raise LookupError(
                f"message {message_id} has no button {callback_data!r}: {self.buttons(message)}"
            )
        query_id = str(self._next_callback)
        self._next_callback += 1
        self._callbacks[query_id] = _CallbackQuery(chat, message_id)
        query = {
            "id": query_id,
            "from": self.user(user_id),
            "message": self._public(message),
            "chat_instance": f"-{abs(chat) * 7919 % 10**12}",
            "data": callback_data,
        }
        return self._queue("callback_query", query)

    def _user_message(
        self,
        user_id: int,
        fields: dict[str, Any],
        chat_id: int | None,
        chat_type: str,
        language_code: str | _Unset | None,
    ) -> dict[str, Any]:
        user = self.user(user_id)
        if not isinstance(language_code, _Unset):
            user.pop("language_code", None)
            if language_code is not None:
                user["language_code"] = language_code
        chat = self._chat_for(user, chat_id, chat_type)
        message = factories.make_message(self._new_message_id(chat["id"]), chat, user, **fields)
        self._messages.setdefault(chat["id"], {})[message["message_id"]] = message
        return self._queue("message", message)

    def _chat_for(
        self, user: dict[str, Any], chat_id: int | None, chat_type: str
    ) -> dict[str, Any]:
        if chat_type == "private":
            if chat_id not in (None, user["id"]):
                raise ValueError("a private chat's id is the user's id")
            return self._chats.setdefault(user["id"], factories.private_chat(user))
        if chat_id is None:
            raise ValueError(f"a {chat_type} message needs a chat_id")
        return self.register_group(chat_id, f"Grup {chat_id}", chat_type=chat_type)

    def _queue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self._next_update_id += 1
        self._updates.append(update)
        self._calls_at_last_update = len(self.calls)
        self._changes.notify()
        return update

    # == observing =========================================================================

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages currently in the chat, oldest first (after edits and deletes).

        Each is the stored Message; a reply keyboard the bot sent is kept in ``reply_markup``
        too, although Telegram's own Message only ever carries inline keyboards.
        """
        bot_id = self.bot_user["id"]
        messages = self._messages.get(chat_id, {}).values()
        return [copy.deepcopy(m) for m in messages if m["from"]["id"] == bot_id]

    def newest_sent(
        self, chat_id: int, predicate: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """A copy of the bot's newest message in the chat for which ``predicate`` holds (it is
        shown the stored message: it must not change it), or None. Unlike :meth:`sent_to` it
        copies only the one it returns, so a long chat is cheap to search."""
        bot_id = self.bot_user["id"]
        for message in reversed(self._messages.get(chat_id, {}).values()):
            if message["from"]["id"] == bot_id and predicate(message):
                return copy.deepcopy(message)
        return None

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A copy of any stored message (the user's or the bot's), or None once deleted."""
        message = self._messages.get(chat_id, {}).get(message_id)
        return copy.deepcopy(message) if message is not None else None

    def last_message(self, chat_id: int) -> dict[str, Any]:
        """The bot's newest message in the chat; AssertionError when there is none."""
        sent = self.sent_to(chat_id)
        assert sent, f"the bot has no message in chat {chat_id}"
        return sent[-1]

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The custom reply keyboard the user currently sees in the chat, if any."""
        return copy.deepcopy(self._reply_keyboards.get(chat_id))

    def calls_for(self, method: str) -> list[Call]:
        """Every call of ``method``, in order."""
        return [call for call in self.calls if call.method == method]

    def callback_answered(self, callback_query_id: str) -> bool:
        """Whether the bot answered this callback query."""
        query = self._callbacks.get(callback_query_id)
        return query is not None and query.answered

    def callback_answer(self, callback_query_id: str) -> dict[str, Any] | None:
        """The parameters the bot answered the callback query with (text, show_alert...)."""
        query = self._callbacks.get(callback_query_id)
        return dict(query.answer) if query and query.answered else None

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        """(text, callback_data or url) of the message's inline keyboard, row after row."""
        markup = message.get("reply_markup") or {}
        return [
            (button["text"], button.get("callback_data") or button.get("url") or "")
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]

    async def wait_for_call(
        self, predicate: Callable[[Call], bool], timeout: float = 5.0, *, since: int | None = None
    ) -> Call:
        """The first call matching ``predicate`` among ``calls[since:]``, waiting if needed.

        ``since`` defaults to the number of calls when the latest update was injected, so
        "inject, then wait for the reply" never sees an older call nor misses a fast reply.
        """
        start = self._calls_at_last_update if since is None else since

        def probe() -> Call | None:
            return next((c for c in self.calls[start:] if predicate(c)), None)

        try:
            async with asyncio.timeout(timeout):
                return await self._changes.wait_for(probe)
        except TimeoutError:
            recent = [(c.method, c.ok, c.description) for c in self.calls[start:]][-10:]
            raise TimeoutError(
                f"no matching call within {timeout}s; calls since: {recent}"
            ) from None

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds (checked whenever a call is answered or held)."""
        try:
            async with asyncio.timeout(timeout):
                await self._changes.wait_for(lambda: True if condition() else None)
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout}s") from None

    async def wait_until_fetched(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until the bot's getUpdates offset has passed ``update_id``."""
        try:
            async with asyncio.timeout(timeout):
                await self._changes.wait_for(
                    lambda: True if self._confirmed_offset > update_id else None
                )
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} not fetched within {timeout}s "
                f"(offset {self._confirmed_offset})"
            ) from None

    async def wait_until_polling(self, timeout: float = 5.0) -> None:
        """Wait until a getUpdates request is being held open (the bot is long-polling)."""
        async with asyncio.timeout(timeout):
            await self._changes.wait_for(lambda: True if self._polls_waiting else None)

    # == HTTP ==============================================================================

    async def _handle_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        try:
            raw, uploads = await _read_params(request)
        except ApiError as error:
            return self._answer(name, {}, error, rejected=True)
        if request.match_info["token"] != self.token:
            return self._answer(name, raw, ApiError(401, "Unauthorized"), rejected=True)
        spec = self.spec.method(name)
        if spec is None:
            return self._answer(name, raw, ApiError(404, "Not Found"), rejected=True)
        try:
            params = self.spec.decode_params(spec, raw, uploads)
        except SpecError as error:
            failure = ApiError(400, _spec_description(spec.name, error))
            return self._answer(spec.name, raw, failure, rejected=True, uploads=uploads)
        handler = self._handlers.get(spec.name)
        if spec.name in self._held:
            self.holding += 1
            self._changes.notify()
            try:
                await self._release.wait()
            finally:
                self.holding -= 1
        try:
            if handler is None:
                raise ApiError(400, UNSUPPORTED)
            self._before(spec.name, params)
            result = await handler(params)
        except _Arranged as error:
            return self._answer(spec.name, params, error, rejected=False, uploads=uploads)
        except ApiError as error:
            return self._answer(spec.name, params, error, rejected=True, uploads=uploads)
        return self._answer(spec.name, params, result, uploads=uploads)

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        outcome: Any,
        *,
        rejected: bool = False,
        uploads: dict[str, Upload] | None = None,
    ) -> web.Response:
        """Record the call and build the HTTP response."""
        if isinstance(outcome, ApiError):
            body, status = outcome.body(), outcome.error_code
        else:
            body, status = {"ok": True, "result": outcome}, 200
        chat_id = params.get("chat_id")
        call = Call(
            method=method,
            params=params,
            ok=body["ok"],
            result_or_error=body,
            chat_id=chat_id if isinstance(chat_id, int) else None,
            at=time.monotonic(),
            files=dict(uploads or {}),
        )
        self.calls.append(call)
        if rejected:
            self.rejected.append(call)
        self._changes.notify()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=stored.content, content_type=stored.mime_type)

    # == checks every call passes ==========================================================

    def _before(self, method: str, params: dict[str, Any]) -> None:
        """Content checks, then arranged faults, chat existence, blocks and rate limits."""
        _check_content(method, params)
        self._apply_fault(method, params.get("chat_id"))
        for key in ("chat_id", "from_chat_id"):
            if key in params:
                params[key] = self._known_chat(params[key])
        chat_id = params.get("chat_id")
        if chat_id in self._blocked and method in BLOCKABLE_METHODS:
            raise _Arranged(403, "Forbidden: bot was blocked by the user")
        if self._limits is not None and method in MESSAGE_METHODS and isinstance(chat_id, int):
            self._check_limits(self._limits, chat_id)

    def _apply_fault(self, method: str, chat_id: object) -> None:
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise fault.error

    def _known_chat(self, chat_id: int | str) -> int:
        """The id of a chat the bot is in (by id or ``@username``), else "chat not found"."""
        if isinstance(chat_id, int) and chat_id in self._chats:
            return chat_id
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == wanted:
                    return int(chat["id"])
        raise bad_request("chat not found")

    def _check_limits(self, limits: _Limits, chat_id: int) -> None:
        now = time.monotonic()
        is_group = self._chats[chat_id]["type"] != "private"
        per_chat_window, per_chat_max = 1.0, limits.per_chat_per_second
        if is_group and limits.group_per_minute is not None:
            per_chat_window, per_chat_max = 60.0, limits.group_per_minute
        chat_sent = limits.per_chat.setdefault(chat_id, deque())
        for sent, window, maximum in (
            (limits.sent, 1.0, limits.global_per_second),
            (chat_sent, per_chat_window, per_chat_max),
        ):
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= maximum:
                self.too_many_requests += 1
                retry_after = max(1, math.ceil(sent[0] + window - now))
                raise _Arranged(
                    429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
                )
        limits.sent.append(now)
        chat_sent.append(now)

    # == messages ==========================================================================

    def _new_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _bot_message(self, chat_id: int, params: dict[str, Any], **content: Any) -> dict:
        """Store a new bot message in the chat and return its public form."""
        reply_to = params.get("reply_parameters") or {}
        if reply_to:
            source = self._messages.get(chat_id, {}).get(reply_to["message_id"])
            if source is not None:
                content["reply_to_message"] = self._public(source)
            elif not reply_to.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        markup = params.get("reply_markup")
        if markup is not None:
            content["reply_markup"] = markup
            self._track_reply_keyboard(chat_id, markup)
        message = factories.make_message(
            self._new_message_id(chat_id), self._chats[chat_id], self.bot_user, **content
        )
        self._messages.setdefault(chat_id, {})[message["message_id"]] = message
        return self._public(message)

    def _track_reply_keyboard(self, chat_id: int, markup: dict[str, Any]) -> None:
        if "keyboard" in markup:
            self._reply_keyboards[chat_id] = markup
        elif markup.get("remove_keyboard"):
            self._reply_keyboards[chat_id] = None

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        """The Message as Telegram returns it: only inline keyboards are part of it."""
        public = copy.deepcopy(message)
        if "inline_keyboard" not in (public.get("reply_markup") or {}):
            public.pop("reply_markup", None)
        return public

    def _existing(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        """The message ``params`` point at; ``missing`` names the error when it is absent."""
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the test emulator")
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        message = self._messages.get(params["chat_id"], {}).get(params["message_id"])
        if message is None:
            raise bad_request(missing)
        return message

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing(params, "message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    # == method handlers ===================================================================

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = params.get("offset", 0)
        if offset > 0:
            self._confirm(offset)
        elif offset < 0:
            self._updates = self._updates[offset:]
            if self._updates:
                self._confirm(self._updates[0]["update_id"])
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else None
        limit = min(max(params.get("limit", 100), 1), 100)

        def probe() -> list[dict[str, Any]] | None:
            batch = self._deliverable(limit)
            return batch if batch or self._closing else None

        self._polls_waiting += 1
        self._changes.notify()
        try:
            async with asyncio.timeout(max(params.get("timeout", 0), 0)):
                return await self._changes.wait_for(probe)
        except TimeoutError:
            return []
        finally:
            self._polls_waiting -= 1

    def _confirm(self, offset: int) -> None:
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if offset > self._confirmed_offset:
            self._confirmed_offset = offset
            self._changes.notify()

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        """Pending updates of the allowed types; the others are dropped, as Telegram does."""
        kept = []
        for update in self._updates:
            kind = next(key for key in update if key != "update_id")
            if self._allowed_updates is None:
                allowed = kind not in DEFAULT_EXCLUDED_UPDATES
            else:
                allowed = kind in self._allowed_updates
            if allowed:
                kept.append(update)
        self._updates = kept
        return copy.deepcopy(kept[:limit])

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        self._webhook_error = None
        self._changes.notify()
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if url == "":  # "Use an empty string to remove webhook integration."
            return await self._delete_webhook(params)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (parts.port or 443) not in WEBHOOK_PORTS:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        secret = params.get("secret_token")
        allowed_chars = set(string.ascii_letters + string.digits + "_-")
        if secret is not None and not (1 <= len(secret) <= 256 and set(secret) <= allowed_chars):
            raise bad_request("secret token contains unallowed characters")
        connections = params.get("max_connections", 40)
        if not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100 (emulator)")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else None
        self.webhook = {"url": url, "secret_token": secret, "max_connections": connections}
        self._webhook_error = None
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhook(), name="webhook")
        self._changes.notify()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook["max_connections"]
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _deliver_webhook(self) -> None:
        """Post pending updates to the webhook one at a time, oldest first, each until it is
        answered 2xx (Telegram retries a refused update later; so does this, sooner)."""

        def probe() -> list[dict[str, Any]] | None:
            if self._closing or self.webhook is None:
                return []
            return self._deliverable(1) or None

        async with aiohttp.ClientSession() as session:
            while True:
                batch = await self._changes.wait_for(probe)
                if not batch or self.webhook is None:
                    return
                update = batch[0]
                hook = self.webhook
                path = urlsplit(hook["url"])
                target = hook["url"]
                if self.webhook_targets:
                    base = self.webhook_targets[self._next_target % len(self.webhook_targets)]
                    target = base.rstrip("/") + (path.path or "/")
                elif self.webhook_target is not None:
                    target = self.webhook_target.rstrip("/") + (path.path or "/")
                headers = {"Content-Type": "application/json"}
                if hook["secret_token"]:
                    headers[WEBHOOK_SECRET_HEADER] = hook["secret_token"]
                status: int | None = None
                posted = time.perf_counter()
                try:
                    async with session.post(
                        target,
                        data=json.dumps(update),
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=10),
                    ) as response:
                        await response.read()
                        status = response.status
                        error = f"Wrong response from the webhook: {status} {response.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"Connection refused ({type(exc).__name__})"
                self.webhook_deliveries.append((update["update_id"], status))
                self.webhook_latencies.append(time.perf_counter() - posted)
                self._next_target += 1  # the next update (or this one again) to the next worker
                if status is not None and 200 <= status < 300:
                    self.webhook_accepted_by[update["update_id"]] = target
                    for index, pending in enumerate(self._updates):
                        if pending["update_id"] == update["update_id"]:
                            del self._updates[index]
                            break
                    if update["update_id"] + 1 > self._confirmed_offset:
                        self._confirmed_offset = update["update_id"] + 1
                    self._changes.notify()
                    continue
                self._webhook_error = (factories.now(), error)
                self._changes.notify()
                await asyncio.sleep(self.webhook_retry_delay)

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            name = command["command"]
            if not (1 <= len(name) <= 32) or not all(c.isalnum() or c == "_" for c in name):
                raise bad_request("BOT_COMMAND_INVALID")
            if name != name.lower() or not name.isascii():
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request("command description must be 1-256 characters (emulator)")
        self._commands[_commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        self._menu_buttons[params.get("chat_id")] = params.get("menu_button", {"type": "default"})
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        parsed = _formatted(params, "text", "entities")
        return self._bot_message(params["chat_id"], params, **_text_fields(parsed))

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        parsed = _formatted(params, "text", "entities")
        return self._edit(message, TEXT_KEYS, _text_fields(parsed), params.get("reply_markup"))

    async def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        parsed = _formatted(params, "caption", "caption_entities", optional=True)
        fields = _caption_fields(parsed)
        return self._edit(message, CAPTION_KEYS, fields, params.get("reply_markup"))

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        return self._edit(message, (), {}, params.get("reply_markup"))

    def _edit(
        self,
        message: dict[str, Any],
        keys: tuple[str, ...],
        content: dict[str, Any],
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Replace the ``keys`` of the message and its inline keyboard; refuse a no-op edit."""
        old_content = {k: message[k] for k in keys if k in message}
        old_markup = message.get("reply_markup")
        old_inline = old_markup if "inline_keyboard" in (old_markup or {}) else None
        if content == old_content and markup == old_inline:
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        for key in keys:
            message.pop(key, None)
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        elif old_inline is not None:
            del message["reply_markup"]  # an edit without reply_markup removes the keyboard
        message["edit_date"] = factories.now()
        return self._public(message)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        self._existing(params, "message to delete not found")
        del self._messages[params["chat_id"]][params["message_id"]]
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self._callbacks.get(params["callback_query_id"])
        if query is None or query.answered:
            raise bad_request(QUERY_INVALID.removeprefix("Bad Request: "))
        query.answered = True
        query.answer = {k: v for k, v in params.items() if k != "callback_query_id"}
        return True

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        parsed = _formatted(params, "caption", "caption_entities", optional=True)
        stored = self._input_file(params["photo"], "photos", "photo.jpg")
        if not stored.content.startswith(IMAGE_MAGIC) and stored.content:
            raise bad_request("IMAGE_PROCESS_FAILED")
        width, height = _image_size(stored.content)
        sizes = factories.photo_sizes(
            stored.file_id, stored.file_unique_id, len(stored.content), width, height
        )
        self.files.setdefault(
            sizes[0]["file_id"],
            StoredFile(
                sizes[0]["file_id"],
                sizes[0]["file_unique_id"],
                f"{stored.file_path}.thumb",
                stored.filename,
                stored.mime_type,
                stored.content,
            ),
        )
        content = {"photo": sizes, **_caption_fields(parsed)}
        return self._bot_message(params["chat_id"], params, **content)

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        parsed = _formatted(params, "caption", "caption_entities", optional=True)
        stored = self._input_file(params["document"], "documents", "document")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.filename,
            "mime_type": stored.mime_type,
            "file_size": len(stored.content),
        }
        content = {"document": document, **_caption_fields(parsed)}
        return self._bot_message(params["chat_id"], params, **content)

    def _input_file(self, value: Upload | str, folder: str, default_name: str) -> StoredFile:
        """The file a send method refers to: a fresh upload, a known file_id or a URL."""
        if isinstance(value, Upload):
            if not value.content:
                raise bad_request("file must be non-empty")
            content_type = value.content_type
            if content_type == "application/octet-stream":
                content_type = ""
            name = value.filename or default_name
            return self._store_file(folder, name, content_type or None, value.content)
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            name = value.rstrip("/").rsplit("/", 1)[-1] or default_name
            return self._store_file(folder, name, None, b"")  # never downloaded: no network
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_file(
        self, folder: str, filename: str, mime_type: str | None, content: bytes
    ) -> StoredFile:
        number = len(self.files) + 1
        suffix = Path(filename).suffix
        guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = StoredFile(
            file_id=f"BQACAgUAAxkBAAI{number:08d}EMU",
            file_unique_id=f"AgAD{number:06d}",
            file_path=f"{folder}/file_{number}{suffix}",
            filename=filename,
            mime_type=mime_type or guessed,
            content=content,
        )
        self.files[stored.file_id] = stored
        return stored

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _source(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        source = self._messages.get(params["from_chat_id"], {}).get(params["message_id"])
        if source is None:
            raise bad_request(missing)
        return source

    async def _copy_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source(params, "message to copy not found")
        content = _content_of(source)
        if "text" not in content and ("caption" in params or "caption_entities" in params):
            parsed = _formatted(params, "caption", "caption_entities", optional=True)
            for key in CAPTION_KEYS:
                content.pop(key, None)
            content.update(_caption_fields(parsed))
        message = self._bot_message(params["chat_id"], params, **content)
        return {"message_id": message["message_id"]}

    async def _forward_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source(params, "message to forward not found")
        origin = {"type": "user", "sender_user": source["from"], "date": source["date"]}
        content = {**_content_of(source), "forward_origin": origin}
        return self._bot_message(params["chat_id"], params, **content)

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        return factories.chat_full_info(self._chats[params["chat_id"]])

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(params["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }


# == request decoding ======================================================================


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Query string plus JSON, urlencoded or multipart body, as Telegram accepts them."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.body_exists:
        return raw, uploads
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        raw.update(body)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                content_type = part.headers.get("Content-Type", "")
                data = bytes(await part.read())
                uploads[part.name] = Upload(part.name, part.filename, content_type, data)
            else:
                raw[part.name] = await part.text()
    else:
        raw.update(await request.post())
    return raw, uploads


def _spec_description(method: str, error: SpecError) -> str:
    """Telegram's wording for a missing parameter where it differs from the generic one."""
    if error.reason == "missing":
        if error.field == "text":
            return "Bad Request: message text is empty"
        if error.field in ("photo", "document") and method in ("sendPhoto", "sendDocument"):
            return f"Bad Request: there is no {error.field} in the request"
    return error.description


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), params.get("language_code", "")


# == content rules =========================================================================


def _check_content(method: str, params: dict[str, Any]) -> None:
    """What Telegram refuses whatever the chat: keyboards, callback answers, parse modes."""
    markup = params.get("reply_markup")
    if markup is not None:
        _check_markup(markup)
    text = params.get("text")
    if method == "answerCallbackQuery" and text is not None and len(text) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")
    if "parse_mode" in params:
        _parse_mode(params["parse_mode"])
    if method in FORMATTED:
        key, entities_key, optional = FORMATTED[method]
        _formatted(params, key, entities_key, optional=optional)


def _check_markup(markup: dict[str, Any]) -> None:
    if "inline_keyboard" in markup:
        for row in markup["inline_keyboard"]:
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in markup:
        for row in markup["keyboard"]:
            for button in row:
                if not button["text"].strip():
                    raise bad_request("keyboard button text must be non-empty")
                kinds = set(button) - {"text", "icon_custom_emoji_id", "style"}
                if len(kinds) > 1:
                    raise bad_request(f"keyboard button has several kinds: {sorted(kinds)}")


def _check_inline_button(button: dict[str, Any]) -> None:
    if not button["text"].strip():
        raise bad_request("inline keyboard button text must be non-empty")
    kinds = set(button) - {"text", "icon_custom_emoji_id", "style"}
    if not kinds:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if len(kinds) > 1:
        raise bad_request(
            f"can't parse inline keyboard button: exactly one of {sorted(kinds)} is allowed"
        )
    if "callback_data" in button:
        size = len(button["callback_data"].encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not button["url"].lower().startswith(URL_SCHEMES):
        raise bad_request(
            f"inline keyboard button URL '{button['url']}' is invalid: Unsupported URL protocol"
        )


def _parse_mode(value: str) -> str:
    mode = value.lower()
    if mode == "html":
        return mode
    if mode in ("markdown", "markdownv2"):
        raise bad_request(f"parse_mode {value} is not supported by the test emulator; use HTML")
    raise bad_request(f"unsupported parse_mode {value}")


def _formatted(
    params: dict[str, Any], key: str, entities_key: str, *, optional: bool = False
) -> ParsedText | None:
    """The visible text of ``params[key]`` and its entities, within Telegram's limits."""
    if key not in params:
        if optional:
            return None
        raise bad_request("message text is empty")
    source: str = params[key]
    if entities_key in params:
        parsed = ParsedText(source, params[entities_key]).stripped()
    elif "parse_mode" in params:
        try:
            parsed = parse_telegram_html(source).stripped()
        except HtmlParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    else:
        parsed = ParsedText(source).stripped()
    if key == "caption":
        if utf16_len(parsed.text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return parsed if parsed.text else None
    if not parsed.text:
        raise bad_request("message text is empty")
    if utf16_len(parsed.text) > MAX_TEXT:
        raise bad_request("message is too long")
    return parsed


def _text_fields(parsed: ParsedText | None) -> dict[str, Any]:
    assert parsed is not None
    fields: dict[str, Any] = {"text": parsed.text}
    if parsed.entities:
        fields["entities"] = parsed.entities
    return fields


def _caption_fields(parsed: ParsedText | None) -> dict[str, Any]:
    if parsed is None:
        return {}
    fields: dict[str, Any] = {"caption": parsed.text}
    if parsed.entities:
        fields["caption_entities"] = parsed.entities
    return fields


_CONTENT_KEYS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "photo",
    "document",
    "sticker",
    "voice",
    "audio",
    "video",
    "animation",
    "contact",
    "location",
    "venue",
)


def _content_of(message: dict[str, Any]) -> dict[str, Any]:
    """The content part of a message, for copies and forwards."""
    return {k: copy.deepcopy(message[k]) for k in _CONTENT_KEYS if k in message}


def _image_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG (read from its header); a plausible default otherwise."""
    if content.startswith(IMAGE_MAGIC[0]) and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    return 800, 600
