"""Telegram's HTML parse mode, parsed the way Telegram parses it.

The scanner follows tdlib's ``parse_html`` (the code behind ``parse_mode=HTML``): the same tags,
the same attribute syntax and the same error descriptions ("Unsupported start tag ...",
"Unmatched end tag ...", "Can't find end tag corresponding to start tag ..."), with byte offsets
counted in UTF-8 as Telegram does. Where the Bot API documentation is stricter than tdlib, this
module follows the documentation, so a bot that passes here is safe on the real server:

- an ``&`` that does not start ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or a numeric entity is an
  error (tdlib would keep it as literal text);
- ``<a>`` inside ``<a>``, any tag inside ``<code>``, any tag inside ``<pre>`` except one
  ``<code>``, and ``<blockquote>`` inside ``<blockquote>`` are errors (tdlib drops such entities).

A successful parse yields the visible text and its entities (offsets in UTF-16 code units), which
is what the real server stores and returns in the ``Message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}

NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_NUMERIC_ENTITY = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
_NAMED_ENTITY = re.compile(r"&([a-zA-Z]+);?")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")


class HtmlParseError(ValueError):
    """HTML that Telegram refuses; ``str(error)`` is the text after "can't parse entities: "."""


@dataclass(frozen=True)
class ParsedText:
    """Visible text and its entities, as Telegram stores a formatted message."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)

    def stripped(self) -> ParsedText:
        """Trim surrounding whitespace as Telegram does, keeping entities aligned."""
        body = self.text.strip()
        if body == self.text:
            return self
        shift = utf16_len(self.text[: len(self.text) - len(self.text.lstrip())])
        end = utf16_len(body)
        entities = []
        for entity in self.entities:
            start = max(entity["offset"] - shift, 0)
            stop = min(entity["offset"] + entity["length"] - shift, end)
            if stop > start:
                entities.append({**entity, "offset": start, "length": stop - start})
        return ParsedText(body, entities)


@dataclass
class _OpenTag:
    name: str
    argument: str
    byte_pos: int
    offset: int  # UTF-16 offset of the entity in the visible text
    out_index: int  # index into the output pieces where the entity starts
    language: str = ""  # set on <pre> by an inner <code class="language-...">


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts limits and offsets in."""
    return len(text.encode("utf-16-le")) // 2


def check_telegram_html(text: str) -> str | None:
    """None when Telegram accepts ``text`` in HTML mode, else the error description."""
    try:
        parse_telegram_html(text)
    except HtmlParseError as error:
        return f"Bad Request: can't parse entities: {error}"
    return None


def visible_length(text: str) -> int:
    """UTF-16 length of what the user sees (tags removed, entities decoded, text trimmed).

    Raises HtmlParseError when the HTML is refused.
    """
    return utf16_len(parse_telegram_html(text).stripped().text)


def parse_telegram_html(source: str) -> ParsedText:
    """Parse ``source`` like Telegram's HTML mode; raises HtmlParseError on refusal."""
    return _Parser(source).parse()


class _Parser:
    """A single pass over the source, mirroring tdlib's scanner."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> ParsedText:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "&":
                self._emit(self._entity())
            elif char == "<":
                if self._peek(1) == "/":
                    self._end_tag()
                else:
                    self._start_tag()
            else:
                self._emit(char)
                self.pos += 1
        if self.stack:
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.out), self.entities)

    # -- helpers ---------------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.src[index] if index < len(self.src) else ""

    def _byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.offset += utf16_len(text)

    def _skip_spaces(self) -> None:
        while self._peek().isspace():
            self.pos += 1

    # -- text ------------------------------------------------------------------------------

    def _entity(self) -> str:
        """Decode the HTML entity at the cursor and move past it."""
        numeric = _NUMERIC_ENTITY.match(self.src, self.pos)
        if numeric:
            code = int(numeric[1], 16) if numeric[1] else int(numeric[2])
            if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                self.pos = numeric.end()
                return chr(code)
        named = _NAMED_ENTITY.match(self.src, self.pos)
        if named and named[1] in NAMED_ENTITIES:
            self.pos = named.end()
            return NAMED_ENTITIES[named[1]]
        raise HtmlParseError(
            f'Character "&" at byte offset {self._byte_offset(self.pos)} does not start a '
            "supported HTML entity; escape it as &amp;"
        )

    # -- tags ------------------------------------------------------------------------------

    def _start_tag(self) -> None:
        begin = self.pos
        byte_pos = self._byte_offset(begin)
        self.pos += 1
        name_start = self.pos
        while self._peek() and not self._peek().isspace() and self._peek() != ">":
            self.pos += 1
        if not self._peek():
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_pos}")
        name = self.src[name_start : self.pos].lower()
        if name not in SUPPORTED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {byte_pos}')
        argument = self._attributes(name, byte_pos)
        self.pos += 1  # the closing ">"
        if name == "span" and argument != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_pos}'
            )
        if name == "tg-emoji" and not argument:
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_pos}'
            )
        self._check_nesting(name, byte_pos)
        self.stack.append(_OpenTag(name, argument, byte_pos, self.offset, len(self.out)))

    def _attributes(self, tag: str, byte_pos: int) -> str:
        """Read the attributes up to ``>``; return the one argument Telegram uses."""
        argument = ""
        while True:
            self._skip_spaces()
            if self._peek() == ">":
                return argument
            attr_start = self.pos
            while self._peek() and not self._peek().isspace() and self._peek() not in "=>":
                self.pos += 1
            attr = self.src[attr_start : self.pos].lower()
            if not attr:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_pos}'
                )
            self._skip_spaces()
            if tag == "blockquote" and attr == "expandable" and self._peek() != "=":
                argument = "expandable"
                continue
            if self._peek() != "=":
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {byte_pos}"
                )
            self.pos += 1
            self._skip_spaces()
            if not self._peek():
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {byte_pos}')
            value = self._attribute_value(byte_pos)
            if (
                (tag == "a" and attr == "href")
                or (tag == "code" and attr == "class" and value.startswith("language-"))
                or (tag == "span" and attr == "class" and value.startswith("tg-"))
                or (tag == "tg-emoji" and attr == "emoji-id")
            ):
                argument = value.removeprefix("language-") if tag == "code" else value

    def _attribute_value(self, byte_pos: int) -> str:
        quote = self._peek()
        if quote not in "\"'":
            token = _NAME_TOKEN.match(self.src, self.pos)
            assert token is not None  # the pattern also matches the empty string
            self.pos = token.end()
            if self._peek() and not self._peek().isspace() and self._peek() != ">":
                where = self._byte_offset(token.start())
                raise HtmlParseError(f"Unexpected end of name token at byte offset {where}")
            return token[0].lower()
        self.pos += 1
        value: list[str] = []
        while self._peek() and self._peek() != quote:
            if self._peek() == "&":
                value.append(self._entity())
            else:
                value.append(self._peek())
                self.pos += 1
        if self._peek() != quote:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_pos}")
        self.pos += 1
        return "".join(value)

    def _check_nesting(self, name: str, byte_pos: int) -> None:
        """Reject the nestings the Bot API documentation forbids."""
        open_names = [tag.name for tag in self.stack]
        parent = open_names[-1] if open_names else ""
        inside_pre_code = parent == "pre" and name == "code"
        if "code" in open_names or ("pre" in open_names and not inside_pre_code):
            container = "code" if "code" in open_names else "pre"
            raise HtmlParseError(
                f'Tag "{name}" can\'t be nested in "{container}" at byte offset {byte_pos}'
            )
        if name == "a" and "a" in open_names:
            raise HtmlParseError(f'Tag "a" can\'t be nested in "a" at byte offset {byte_pos}')
        if name == "blockquote" and "blockquote" in open_names:
            raise HtmlParseError(
                f'Tag "blockquote" can\'t be nested in "blockquote" at byte offset {byte_pos}'
            )

    def _end_tag(self) -> None:
        begin = self.pos
        byte_pos = self._byte_offset(begin)
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {byte_pos}")
        self.pos += 2
        name_start = self.pos
        while self._peek() and not self._peek().isspace() and self._peek() != ">":
            self.pos += 1
        end_name = self.src[name_start : self.pos].lower()
        self._skip_spaces()
        if self._peek() != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {byte_pos}")
        self.pos += 1
        tag = self.stack.pop()
        if end_name and end_name != tag.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {byte_pos}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.offset - tag.offset
        if tag.name == "code" and self.stack and self.stack[-1].name == "pre":
            self.stack[-1].language = tag.argument
            return
        if length == 0:
            return  # Telegram drops empty entities
        entity: dict[str, Any] = {"offset": tag.offset, "length": length}
        if tag.name == "a":
            entity["type"] = "text_link"
            entity["url"] = tag.argument or "".join(self.out[tag.out_index :])
        elif tag.name == "blockquote" and tag.argument == "expandable":
            entity["type"] = "expandable_blockquote"
        else:
            entity["type"] = ENTITY_TYPES[tag.name]
        if tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        if tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        self.entities.append(entity)
