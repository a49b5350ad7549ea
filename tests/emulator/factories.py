"""Builders for the JSON objects the Bot API exchanges (User, Chat, Message, files).

They produce exactly the dicts Telegram sends, so python-telegram-bot's ``de_json`` accepts them.
"""

from __future__ import annotations

import time
from typing import Any

from tests.emulator.html_check import utf16_len

BOT_USER_ID = 7_000_000_001

DEFAULT_ACCEPTED_GIFT_TYPES = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}


def now() -> int:
    """A Telegram date: Unix time in whole seconds."""
    return int(time.time())


def make_bot_user(user_id: int = BOT_USER_ID) -> dict[str, Any]:
    """The bot's own User, as getMe returns it."""
    return {
        "id": user_id,
        "is_bot": True,
        "first_name": "Serang Bot",
        "username": "serang_test_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def make_user(
    user_id: int,
    first_name: str = "Warga",
    *,
    language_code: str | None = "id",
    username: str | None = None,
) -> dict[str, Any]:
    """A human User."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    """The private Chat between the bot and ``user`` (its id is the user's id)."""
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    if "username" in user:
        chat["username"] = user["username"]
    return chat


def group_chat(
    chat_id: int, title: str, *, chat_type: str = "supergroup", username: str | None = None
) -> dict[str, Any]:
    """A group or supergroup Chat."""
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": title}
    if username is not None:
        chat["username"] = username
    return chat


def chat_full_info(chat: dict[str, Any]) -> dict[str, Any]:
    """What getChat returns for ``chat``."""
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": dict(DEFAULT_ACCEPTED_GIFT_TYPES),
    }


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds when a text starts with ``/``."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def make_message(
    message_id: int, chat: dict[str, Any], sender: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A Message; ``fields`` carries the content (text, photo, document, reply_markup...)."""
    return {"message_id": message_id, "from": sender, "chat": chat, "date": now(), **fields}


def photo_sizes(file_id: str, unique_id: str, size: int, width: int, height: int) -> list[dict]:
    """The PhotoSize list of a photo message: a thumbnail and the full size."""
    thumb_w, thumb_h = max(width // 4, 1), max(height // 4, 1)
    return [
        {
            "file_id": f"{file_id}-thumb",
            "file_unique_id": f"{unique_id}t",
            "file_size": max(size // 16, 1),
            "width": thumb_w,
            "height": thumb_h,
        },
        {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": size,
            "width": width,
            "height": height,
        },
    ]
