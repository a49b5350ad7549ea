"""The callback router (bot/routing.py): actions declared with their fields, data checked when a
keyboard is built, presses read back, and the areas that route declaratively parse nothing."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from bot.routing import AREAS, CallbackDataError, Router, _declare_all, router

REPO = Path(__file__).resolve().parent.parent
#: Areas whose buttons are each an action with its own handler (no hand-written parsing).
DECLARATIVE = ("registration", "registration_form", "screening", "broadcast")


def test_data_checks_the_count_the_separator_and_the_length() -> None:
    local = Router()
    card = local.action("x", "c", "reg_no", "page?")
    assert card.data("SRG-2026-000001") == "x:c:SRG-2026-000001"
    assert card.data("SRG-2026-000001", 2) == "x:c:SRG-2026-000001:2"
    with pytest.raises(CallbackDataError):
        card.data()  # a required field is missing
    with pytest.raises(CallbackDataError):
        card.data("a", "b", "c")  # one field too many
    with pytest.raises(CallbackDataError):
        card.data("a:b")  # would read back as two fields
    with pytest.raises(CallbackDataError):
        card.data("x" * 61)  # over Telegram's 64 bytes


def test_find_reads_named_and_anonymous_actions() -> None:
    local = Router()
    card = local.action("x", "c", "reg_no", "page?")
    topic = local.action("t", "", "topic")
    assert local.find("x:c:SRG-1") == (card, ["SRG-1"])
    assert local.find("x:c:SRG-1:3") == (card, ["SRG-1", "3"])
    assert local.find("t:jobs") == (topic, ["jobs"])
    assert local.find("x:c") is None  # a required field missing: stale, not a crash
    assert local.find("x:c:a:b:c") is None
    assert local.find("x:zz:1") is None


def test_an_action_is_declared_once_and_optional_fields_trail() -> None:
    local = Router()
    local.action("x", "a")
    with pytest.raises(ValueError):
        local.action("x", "a")
    with pytest.raises(ValueError):
        local.action("x", "b", "first?", "second")


def test_every_declared_action_has_a_handler() -> None:
    _declare_all()
    missing = [a.head for a in router.actions.values() if a.handler is None]
    assert not missing


def test_every_module_that_declares_actions_is_an_area() -> None:
    declaring = set()
    for path in sorted((REPO / "bot").rglob("*.py")):
        if "router.action(" in path.read_text(encoding="utf-8") and path.name != "routing.py":
            declaring.add(".".join(path.relative_to(REPO).with_suffix("").parts))
    assert declaring <= set(AREAS)
    for module in AREAS:
        importlib.import_module(module)


def test_staff_actions_are_declared_staff_only() -> None:
    _declare_all()
    for (area, name), action in router.actions.items():
        if area == "bc":
            assert action.staff_only, f"bc:{name}"


@pytest.mark.parametrize("module", DECLARATIVE)
def test_declarative_areas_never_read_the_callback_data(module: str) -> None:
    """Their handlers get the declared fields as arguments: no ``query.data``, no ``pressed``."""
    tree = ast.parse((REPO / "bot" / "handlers" / f"{module}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "data":
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            assert name not in ("query", "callback_query"), f"line {node.lineno}"
        if isinstance(node, ast.Name):
            assert node.id != "pressed", f"line {node.lineno}"
