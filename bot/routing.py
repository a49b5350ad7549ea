"""One declarative router for callback data.

Every button's data is ``<area>:<action>[:<field>...]``: an *area* prefix per feature (``st`` the
staff desk, ``ho`` handoff, ``bc`` announcements, ...), an action name, and the action's fields,
declared once::

    CARD = router.action("st", "c", "reg_no", "page", "code", staff_only=True)

    @CARD.handles
    async def show_card(update, context, reg_no, page, code): ...

    keyboard([[("Buka", CARD.data(record["reg_no"], page, code))]])

:meth:`Action.data` checks the number of fields, that no field holds the separator, and Telegram's
64-byte limit when a keyboard is built, so a bad id fails loudly there and never at a citizen.
When a press arrives, :meth:`Router.dispatch` finds the action, checks the number of fields and
the guards (``staff_only``: refused politely to anyone else; ``private_only``: refused in
groups, so a citizen's menu button on a message relayed into the staff group does nothing), and
answers a stale or malformed press kindly ("this button is no longer valid") instead of raising.
A handler raises :class:`Stale` for data it cannot use (an unknown status index, a forged code).

A field declared with a trailing ``?`` is optional (only trailing fields can be).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.services import services
from bot.ui import CALLBACK_DATA_LIMIT, answer

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[..., Awaitable[None]]
SEPARATOR = ":"


class Stale(Exception):
    """Callback data that no screen of this version makes (tampered, or from an older one)."""


class CallbackDataError(ValueError):
    """Button data that Telegram would refuse (over 64 bytes) or no action would read."""


@dataclass
class Action:
    area: str
    name: str
    fields: tuple[str, ...]
    staff_only: bool = False
    private_only: bool = False
    handler: Handler | None = None

    @property
    def required(self) -> int:
        return sum(not f.endswith("?") for f in self.fields)

    @property
    def head(self) -> str:
        return f"{self.area}{SEPARATOR}{self.name}" if self.name else self.area

    def handles(self, handler: Handler) -> Handler:
        """Decorator: ``handler(update, context, *fields)`` answers this action's presses."""
        self.handler = handler
        return handler

    def data(self, *values: object) -> str:
        """The callback data for these field values (checked: count, separator, 64 bytes)."""
        if not self.required <= len(values) <= len(self.fields):
            raise CallbackDataError(f"{self.head}: {len(values)} values for {self.fields}")
        texts = [str(value) for value in values]
        if any(SEPARATOR in text for text in texts):
            raise CallbackDataError(f"{self.head}: a field holds {SEPARATOR!r}: {texts}")
        data = SEPARATOR.join([self.head, *texts])
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise CallbackDataError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
        return data

    def fits(self, values: list[str]) -> bool:
        return self.required <= len(values) <= len(self.fields)


@dataclass
class Router:
    """The actions of every area; one ``CallbackQueryHandler`` dispatches them all."""

    actions: dict[tuple[str, str], Action] = field(default_factory=dict)

    def action(
        self,
        area: str,
        name: str,
        *fields: str,
        staff_only: bool = False,
        private_only: bool = True,
    ) -> Action:
        """Declare ``<area>:<name>`` with its fields (``name`` may be empty: ``t:<topic>``)."""
        optional = [f.endswith("?") for f in fields]
        if optional != sorted(optional):
            raise ValueError(f"{area}:{name}: only trailing fields can be optional")
        key = (area, name)
        if key in self.actions:
            raise ValueError(f"callback action {area}:{name} declared twice")
        action = Action(area, name, tuple(fields), staff_only, private_only)
        self.actions[key] = action
        return action

    def find(self, data: str) -> tuple[Action, list[str]] | None:
        """The action of ``data`` and its field values, or None when no action fits."""
        area, _, rest = data.partition(SEPARATOR)
        name, _, tail = rest.partition(SEPARATOR)
        named = self.actions.get((area, name))
        if named is not None:
            values = tail.split(SEPARATOR) if tail else []
            return (named, values) if named.fits(values) else None
        anonymous = self.actions.get((area, ""))
        if anonymous is not None:
            values = rest.split(SEPARATOR) if rest else []
            return (anonymous, values) if anonymous.fits(values) else None
        return None

    async def dispatch(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        svc = services(context)
        found = self.find(query.data)
        if found is None or found[0].handler is None:
            await _refuse(update, context, "stale_button")
            return
        action, values = found
        user = update.effective_user
        if action.staff_only and not svc.config.staff.is_staff(user.id if user else None):
            await _refuse(update, context, "staff_only")
            return
        chat = update.effective_chat
        if action.private_only and (chat is None or chat.type != ChatType.PRIVATE):
            await _refuse(update, context, "private_only_alert")
            return
        assert action.handler is not None
        try:
            await action.handler(update, context, *values)
        except (Stale, CallbackDataError):
            log.info("stale callback data for %s", action.head)
            await _refuse(update, context, "stale_button")

    def check(self, data: str) -> None:
        """Raise :class:`CallbackDataError` for data no declared action reads (or too long)."""
        _declare_all()
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise CallbackDataError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
        if self.find(data) is None:
            raise CallbackDataError(f"no callback action reads {data!r}")

    def register(self, app: Application) -> None:
        """Every declared action behind one handler (registered after the features' others)."""
        missing = [a.head for a in self.actions.values() if a.handler is None]
        if missing:
            raise RuntimeError(f"callback actions without a handler: {missing}")
        app.add_handler(CallbackQueryHandler(self.dispatch, pattern=self._claims))

    def _claims(self, data: object) -> bool:
        """Whether ``data`` belongs to a declared area (anything else: the stale fallback)."""
        if not isinstance(data, str):
            return False
        area = data.partition(SEPARATOR)[0]
        return any(key[0] == area for key in self.actions)


def pressed(handler: Callable[[Update, Context], Awaitable[None]]) -> Handler:
    """A handler that reads the pressed button itself (or needs nothing from it)."""

    async def adapted(update: Update, context: Context, *fields: str) -> None:
        await handler(update, context)

    adapted.__doc__ = handler.__doc__
    adapted.__name__ = getattr(handler, "__name__", "pressed")
    return adapted


async def _refuse(update: Update, context: Context, key: str) -> None:
    svc = services(context)
    lang = await svc.language(update.effective_user)
    await answer(update.callback_query, svc.texts.get(key, lang), alert=True)


#: The router of the bot: areas declare their actions at import time.
router = Router()
#: The modules that declare actions (keyboards are also built outside the Application, e.g. by
#: ``python -m bot ask``, so checking data first imports every area).
AREAS = (
    "bot.handlers.broadcast",
    "bot.handlers.data_rights",
    "bot.handlers.faq",
    "bot.handlers.handoff",
    "bot.handlers.leads",
    "bot.handlers.registration",
    "bot.handlers.reports",
    "bot.handlers.screening",
    "bot.handlers.staff",
    "bot.handlers.start",
    "bot.handlers.subscribe",
    "bot.handlers.unanswered",
)


@functools.cache
def _declare_all() -> None:
    for module in AREAS:
        importlib.import_module(module)
