"""Telegram's HTML subset: a checker for content files and a splitter for long messages.

Telegram rejects a whole message for one stray ``<`` or a message over 4,096 characters, so every
text goes through :func:`split_html` before it is sent, and ``python -m bot check`` runs
:func:`check_html` over every content file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "s", "code", "pre", "a", "blockquote"}
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_NAMED = {"lt", "gt", "amp", "quot"}
_TAG = re.compile(r"<(/?)([a-zA-Z]+)([^<>]*)>")
#: Entity types that mean a staff member formatted a text with Telegram's own buttons.
FORMATTING = frozenset(
    {"bold", "italic", "underline", "strikethrough", "code", "pre", "text_link", "blockquote"}
)
#: A tag or an entity: the staff member wrote HTML (anything else is taken as plain text).
LOOKS_LIKE_HTML = re.compile(r"</?[a-zA-Z][^<>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def typed_html(raw: str, formatted: str, entity_types: Iterable[str]) -> str:
    """What a staff member typed, as HTML: Telegram's formatting converted (``formatted``, the
    message's ``text_html``) when they used it; HTML tags or entities typed as such taken as
    HTML (to be validated); any other text plain and escaped."""
    if any(kind in FORMATTING for kind in entity_types):
        return formatted
    if LOOKS_LIKE_HTML.search(raw):
        return raw
    return html.escape(raw, quote=False)


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error: str | None = None

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self._fail(f"unsupported tag <{tag}>")
        elif tag == "a" and not any(k == "href" and v for k, v in attrs):
            self._fail("<a> without href")
        elif tag == "a" and "a" in self.stack:
            self._fail("nested <a>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self._fail(f"unexpected </{tag}>")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in _NAMED:
            self._fail(f"unknown entity &{name};")


def check_html(text: str) -> str | None:
    """``None`` when Telegram would accept ``text`` in HTML parse mode, else the problem."""
    for match in re.finditer(r"&", text):
        if not _ENTITY.match(text, match.start()):
            return "bare '&' (write &amp;)"
    stripped = _TAG.sub("", text)
    if "<" in stripped or ">" in stripped:
        return "bare '<' or '>' (write &lt; or &gt;)"
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.error:
        return checker.error
    if checker.stack:
        return f"unclosed <{checker.stack[-1]}>"
    return None


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units (an emoji counts twice), never inside a
    character; plain text only (escape it afterwards)."""
    if utf16_len(text) <= limit:
        return text
    units, end = 0, 0
    for end, char in enumerate(text):  # noqa: B007 (end is used after the loop)
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
    return text[:end]


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` UTF-16 units, never inside a tag.

    Splits at paragraph, then line, then word boundaries; tags open at a split are closed at the
    end of one part and reopened at the start of the next, so every part is valid on its own.
    """
    if utf16_len(text) <= limit:
        return [text]
    budget = limit - 128  # room for closing and reopening the open tags
    parts: list[str] = []
    open_tags: list[str] = []  # the opening tags in force, reopened after a split
    current = ""

    def flush() -> None:
        nonlocal current
        closing = "".join(f"</{_tag_name(t)}>" for t in reversed(open_tags))
        if _TAG.sub("", current).strip():
            parts.append((current + closing).strip())
        current = "".join(open_tags)

    for token in re.split(r"(<[^<>]+>|\n\n|\n| )", text):
        if not token:
            continue
        if utf16_len(current + token) > budget:
            flush()
        while utf16_len(current + token) > budget:  # one word longer than a message
            room = max(1, budget - utf16_len(current))
            current += token[:room]
            token = token[room:]
            flush()
        tag = _TAG.fullmatch(token)
        if tag and tag.group(1) and open_tags:
            open_tags.pop()
        elif tag and not tag.group(1):
            open_tags.append(token)
        current += token
    flush()
    return parts


def _tag_name(tag: str) -> str:
    match = _TAG.match(tag)
    return match.group(2) if match else ""


def rendered_text(text: str) -> str:
    """The ``text`` of the message Telegram makes from this HTML: tags dropped, entities
    decoded, surrounding white space trimmed (what ``Message.text`` holds afterwards)."""
    import html

    return html.unescape(_TAG.sub("", text)).strip()


def to_plain(text: str) -> str:
    """Telegram HTML as a person sees it: tags dropped, links shown with their address."""
    import html

    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return html.unescape(_TAG.sub("", text))
