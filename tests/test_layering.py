"""The package map of docs/ARCHITECTURE.md, checked on the source: domain packages never import
the Telegram edge, the command line and content checks reach storage and statistics without
going through handlers, and handlers import other handlers only to hand a citizen over."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOMAIN = ("faq", "screening", "store", "desk")
#: handler -> the handlers it may import (one area handing a citizen to another)
HANDOFFS = {
    # /dataku corrections reuse the registration's steps; its summary shows the same fields
    "data_rights": {"registration", "registration_form"},
    "fallbacks": {"faq"},  # anything typed outside a flow is a question
    # a question typed mid-flow is answered; the form's steps, buttons and summary are its own
    "registration": {"faq", "registration_form"},
    "screening": {"faq"},
    "handoff": {"staff"},  # /tutup is refused to non-staff like the desk's commands
    # the desk's three screens share its callback actions, roles and filters in words
    "leads": {"staff", "search", "followup_card", "bulk", "card"},
    "card": {
        "staff",
        "followup_card",
    },  # the card's follow-up lines  # "/pendaftar Siti" is a search
    "reports": {"staff"},
    "search": {"staff"},
    "bulk": {"staff"},
    "unanswered": {"staff"},
    "programme_status": {"staff"},  # refused to non-staff like the desk's commands
    # the follow-up desk's card lines are rendered by the card; its buttons reopen the card
    "followup": {"staff", "leads", "followup_card"},
    "followup_card": {"staff"},
    "queue": {"staff", "followup", "followup_card"},  # a card opened from the queue
    "assign": {"staff", "followup", "followup_card"},  # its buttons reopen the card
    "nik_guard": {"registration_form"},  # leaves the registration's NIK and phone steps to it
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_never_import_the_edge(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        bad = {m for m in imports(path) if m.split(".")[0] in ("telegram", "bot")}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


@pytest.mark.parametrize("module", ["cli.py", "validation.py", "__main__.py"])
def test_command_line_imports_no_handler(module: str) -> None:
    bad = {m for m in imports(REPO / "bot" / module) if m.startswith("bot.handlers")}
    assert not bad, f"bot/{module} imports {sorted(bad)}"


def test_handlers_import_handlers_only_to_hand_over() -> None:
    for path in sorted((REPO / "bot" / "handlers").glob("*.py")):
        used = {m.split(".")[2] for m in imports(path) if m.startswith("bot.handlers.")}
        used.discard(path.stem)
        allowed = HANDOFFS.get(path.stem, set())
        assert used <= allowed, (
            f"bot/handlers/{path.name} imports handlers {sorted(used - allowed)}"
        )
