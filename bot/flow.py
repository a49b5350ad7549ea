"""One active flow per user: which conversation owns the citizen's typed answers now.

A *flow* is a multi-step exchange that reads typed answers: the pre-registration (also when a
field is corrected from /dataku), the questionnaire, a conversation with the staff, a staff
member's typed note or reason, an announcement being composed. At most one is active per user,
kept as JSON data in ``user_data["flow"]``::

    {"name": "registration", "state": {...the flow's own progress...}}

- :func:`begin` ends whatever flow was active (running that flow's ``on_end`` cleanup) and
  starts the new one; :func:`end` ends it; :func:`current` and :func:`state` read it;
  :class:`Active` is a handler filter for "this flow is active".
- Every change is written through the persistence (``stores.kv``) before the bot replies
  (:func:`save`), so a restart, even a ``kill -9``, finds the citizen where they were. A write
  that fails raises :class:`StateNotSaved`, which the error handler turns into "please try
  again" instead of a reply that pretends the step was kept.

Flows are declared once with :func:`define` (name and cleanup) by the module that owns them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, filters

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Cleanup = Callable[[Update, Context, dict[str, Any]], Awaitable[None]]
KEY = "flow"

REGISTRATION = "registration"
SCREENING = "screening"
HANDOFF = "handoff"
STAFF_PROMPT = "staff_prompt"
BROADCAST_DRAFT = "broadcast_draft"


class StateNotSaved(Exception):
    """The flow's new state could not be made durable (e.g. a full disk)."""


@dataclass(frozen=True)
class Spec:
    name: str
    on_end: Cleanup | None = None


_FLOWS: dict[str, Spec] = {
    name: Spec(name) for name in (REGISTRATION, SCREENING, HANDOFF, STAFF_PROMPT, BROADCAST_DRAFT)
}


def define(name: str, *, on_end: Cleanup | None = None) -> str:
    """Declare flow ``name`` and what ending it must clean up (called with its last state)."""
    _FLOWS[name] = Spec(name, on_end)
    return name


def _slot(user_data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    raw = (user_data or {}).get(KEY)
    if isinstance(raw, dict) and raw.get("name") in _FLOWS and isinstance(raw.get("state"), dict):
        return raw
    return None


def current(context: Context) -> str | None:
    """The name of the user's active flow, or None."""
    slot = _slot(context.user_data)
    return slot["name"] if slot else None


def state(context: Context, name: str) -> dict[str, Any] | None:
    """The state of flow ``name`` if it is the active one (a live dict: change, then save)."""
    slot = _slot(context.user_data)
    return slot["state"] if slot and slot["name"] == name else None


async def begin(update: Update, context: Context, name: str, data: dict[str, Any]) -> None:
    """Make ``name`` the active flow with state ``data``, ending any other flow first."""
    if name not in _FLOWS:
        raise ValueError(f"unknown flow {name!r}")
    await _end_active(update, context, keep=None)
    assert context.user_data is not None
    context.user_data[KEY] = {"name": name, "state": data}
    await save(update, context)


async def put(update: Update, context: Context, name: str, data: dict[str, Any]) -> None:
    """Replace the state of ``name`` (begun if it is not active) and save it."""
    if current(context) != name:
        await begin(update, context, name, data)
        return
    assert context.user_data is not None
    context.user_data[KEY] = {"name": name, "state": data}
    await save(update, context)


async def end(update: Update, context: Context, name: str | None = None) -> bool:
    """End the active flow (only if it is ``name``, when given); True if one ended."""
    active = current(context)
    if active is None or (name is not None and active != name):
        return False
    await _end_active(update, context, keep=None)
    await save(update, context)
    return True


async def _end_active(update: Update, context: Context, *, keep: str | None) -> None:
    slot = _slot(context.user_data)
    if context.user_data is not None:
        context.user_data.pop(KEY, None)
    if slot is None or slot["name"] == keep:
        return
    cleanup = _FLOWS[slot["name"]].on_end
    if cleanup is not None:
        await cleanup(update, context, slot["state"])


async def end_for(app: Application, user_id: int, name: str) -> None:
    """End flow ``name`` of another user (e.g. a citizen whose ticket a staff member closed),
    without its cleanup: the caller is doing that. A fleet's worker reads that user's state
    from the store first: another worker may have handled their last update."""
    reload = getattr(app.persistence, "reload", None)
    config = app.bot_data.get("config")
    if reload is not None and getattr(config, "fleet", False):
        await reload(app, user_id, None)
    data = app.user_data.get(user_id)
    slot = _slot(data)
    if data is None or slot is None or slot["name"] != name:
        return
    data.pop(KEY, None)
    if app.persistence is not None:
        await app.persistence.update_user_data(user_id, dict(data))


def forget(context: Context) -> None:
    """Drop the active flow without its cleanup (the citizen's data is being erased)."""
    if context.user_data is not None:
        context.user_data.pop(KEY, None)


async def save(update: Update, context: Context) -> None:
    """Write the user's ``user_data`` through the persistence now, before the bot replies."""
    app = context.application
    user = update.effective_user
    if app.persistence is None or user is None:
        return
    try:  # directly, not through update_persistence(), which hides a failed write
        await app.persistence.update_user_data(user.id, dict(context.user_data or {}))
    except Exception as exc:
        log.error("the conversation state of a user could not be saved: %s", exc)
        raise StateNotSaved from exc


class Active(filters.UpdateFilter):
    """Updates from a user whose active flow is one of ``names`` (any flow when none given).

    Reads the Application's live ``user_data``, so it needs no handler to have run before it.
    """

    def __init__(self, app: Application, *names: str) -> None:
        super().__init__(name=f"Active({', '.join(names) or '*'})")
        self._user_data = app.user_data
        self._names = frozenset(names)

    def filter(self, update: Update) -> bool:
        user = update.effective_user
        if user is None:
            return False
        slot = _slot(self._user_data.get(user.id))
        return slot is not None and (not self._names or slot["name"] in self._names)
