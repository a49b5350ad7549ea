"""The one text catalog: every package's texts loaded and checked the same way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import catalog
from bot.telegram_html import check_html
from catalog import Catalog, CatalogError, Markup, Source

REPO = Path(__file__).resolve().parent.parent


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


SOURCES = (
    Source("bot/*.yaml", "", html=True),
    Source("desk/texts.yaml", "desk.", html=False),
)


def found(root: Path) -> list[str]:
    return [str(p) for p in catalog.problems(check_html, SOURCES, root)]


def test_every_package_s_texts_are_in_one_catalog() -> None:
    texts = catalog.default()
    for key in ("welcome", "desk.stats.title", "screening.errors.empty", "identity.nik.length"):
        assert key in texts
    assert "store.not_found" in texts
    assert {e.file for k in texts for e in [texts.entry(k)]} >= {
        "bot/texts/core.yaml",
        "desk/texts.yaml",
        "screening/data/texts.yaml",
        "screening/data/identity_texts.yaml",
        "store/data/messages.yaml",
    }
    assert Catalog.load() is Catalog.load()  # read once per process, shared


def test_the_repository_s_texts_have_no_problems() -> None:
    assert catalog.problems(check_html) == []


def test_a_key_in_two_files_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "bot/a.yaml", "hello: {id: Halo, en: Hello}\n")
    write(tmp_path, "bot/b.yaml", "hello: {id: Hai, en: Hi}\n")
    write(tmp_path, "desk/texts.yaml", "x: {id: a, en: b}\n")
    assert found(tmp_path) == ["bot/b.yaml: hello: duplicate key, also in bot/a.yaml"]
    with pytest.raises(CatalogError, match="duplicate key"):
        Catalog.read(SOURCES, tmp_path)


def test_domain_files_are_held_to_the_same_rules(tmp_path: Path) -> None:
    write(tmp_path, "bot/a.yaml", "ok: {id: '<b>Halo</b>', en: '<b>Hello</b>'}\n")
    write(
        tmp_path,
        "desk/texts.yaml",
        "stats:\n"
        "  title: {id: 'Per {date}', en: 'As of {day}'}\n"
        "  total: {id: Total}\n"
        "  bold: {id: '<b>Total</b>', en: Total}\n"
        "answers:\n"
        "  yes: {id: Ya, en: 'Yes'}\n",
    )
    assert found(tmp_path) == [
        "desk/texts.yaml: desk.stats.title: languages use different placeholders",
        "desk/texts.yaml: desk.stats.total: missing text for 'en'",
        "desk/texts.yaml: desk.answers.True: quote this key",
        "desk/texts.yaml: desk.stats.bold: id: markup in a plain text",
    ]


def test_html_sources_are_checked_as_telegram_html(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bot/a.yaml",
        "bad: {id: '<b>Halo', en: 'Fish & chips'}\nbtn_x: {id: '" + "x" * 65 + "', en: ok}\n",
    )
    write(tmp_path, "desk/texts.yaml", "x: {id: '1 < 2 & 3', en: '1 < 2 & 3'}\n")
    assert found(tmp_path) == [
        "bot/a.yaml: bad: id: unclosed <b>",
        "bot/a.yaml: bad: en: bare '&' (write &amp;)",
        "bot/a.yaml: btn_x: id: over 64",
    ]


def test_render_is_html_safe_for_html_and_plain_texts() -> None:
    texts = catalog.default()
    plain = texts.render("store.not_found", "en", reg_no="<SRG & co>")
    assert plain == "Registration &lt;SRG &amp; co&gt; was not found."
    assert isinstance(plain, Markup)
    html = texts.render("welcome", "en", name="<Siti>")
    assert "&lt;Siti&gt;" in html and "<b>" in html
    assert texts.text("store.not_found", "en", reg_no="<x>") == "Registration <x> was not found."
    with pytest.raises(ValueError, match="Telegram HTML"):
        texts.text("welcome", "en", name="x")
    assert texts.get("identity.nik.length", "xx") == texts.get("identity.nik.length", "id")


def test_the_catalog_imports_nothing_of_the_project() -> None:
    tree = ast.parse((REPO / "catalog" / "__init__.py").read_text(encoding="utf-8"))
    names = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    project = {"bot", "telegram", "faq", "screening", "store", "desk"}
    assert not {n for n in names if n.split(".")[0] in project}
