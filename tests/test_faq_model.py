"""The knowledge base loads from the real data, and the validator names every kind of defect."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from faq.model import (
    LANGUAGES,
    NOT_PUBLIC,
    OFFICIAL_PUBLICATION,
    KnowledgeBaseError,
    Localized,
    Problem,
    html_problems,
    load_knowledge_base,
    stale_entries,
    validate_knowledge_base,
)


def make_entry(entry_id: str = "free-departure", topic: str = "costs", **changes: Any) -> dict:
    """A valid raw entry; ``changes`` replace top-level keys."""
    entry = {
        "id": entry_id,
        "topic": topic,
        "question": {"id": "Apakah berangkat gratis?", "en": "Is departure free?"},
        "phrasings": {
            "id": ["berangkat gratis", "biaya berangkat", "gratis tidak", "bayar berapa"],
            "en": ["free departure", "departure cost", "is it free", "how much to pay"],
        },
        "keywords": {"id": ["gratis", "biaya"], "en": ["free", "cost"]},
        "answer": {
            "id": 'Ada <b>rencana</b> gratis. <a href="https://serangkota.go.id">Info</a>',
            "en": 'There is a <b>plan</b>. <a href="https://serangkota.go.id">Info</a>',
        },
        "detail": {"id": "Rincian &amp; <i>catatan</i>.", "en": "Details &amp; <i>notes</i>."},
        "sources": [{"title": "Banten Intens, 24 Sept 2025", "url": "https://bantenintens.co.id"}],
        "checked": date(2026, 11, 28),
    }
    entry.update(changes)
    return entry


TOPICS = [
    {"id": "costs", "emoji": "💰", "title": {"id": "Biaya", "en": "Costs"}},
    {"id": "programme", "emoji": "🤝", "title": {"id": "Program", "en": "Programme"}},
]


def write_kb(
    directory: Path, entries: list[dict], topics: list[dict] | None = None, name: str = "a.yaml"
) -> Path:
    """Write ``topics.yaml`` and one entries file into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "topics.yaml").write_text(
        yaml.safe_dump({"topics": TOPICS if topics is None else topics}, allow_unicode=True)
    )
    (directory / name).write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True))
    return directory


def messages(directory: Path) -> list[str]:
    return [str(p) for p in validate_knowledge_base(directory)]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_kb(tmp_path, [make_entry(), make_entry("what-is-it", "programme")])


# --- the real data ----------------------------------------------------------------------------


def test_real_knowledge_base_has_no_problems() -> None:
    problems = validate_knowledge_base()
    assert problems == [], "\n".join(map(str, problems))


def test_real_knowledge_base_loads_in_both_languages() -> None:
    kb = load_knowledge_base()
    assert len(kb.entries) >= 40
    assert {e.topic for e in kb.entries} == {t.id for t in kb.topics}
    for entry in kb.entries:
        for lang in LANGUAGES:
            assert entry.question[lang] and entry.answer[lang]
            assert len(entry.phrasings[lang]) >= 4
        assert entry.sources and entry.checked.year >= 2025


# --- loading a valid directory ----------------------------------------------------------------


def test_loads_typed_entries_topics_and_lookups(good: Path) -> None:
    kb = load_knowledge_base(good)
    assert [t.id for t in kb.topics] == ["costs", "programme"]
    entry = kb.by_id["free-departure"]
    assert entry.question == Localized("Apakah berangkat gratis?", "Is departure free?")
    assert entry.question["en"] == entry.question.get("en") == "Is departure free?"
    assert entry.phrasings.id[0] == "berangkat gratis"
    assert entry.detail is not None and entry.detail["id"].startswith("Rincian")
    assert entry.sources[0].url == "https://bantenintens.co.id"
    assert entry.checked == date(2026, 11, 28)
    assert kb.entries_in("programme") == (kb.by_id["what-is-it"],)
    assert kb.topic("costs").emoji == "💰"
    with pytest.raises(KeyError):
        entry.question["fr"]


def test_optional_detail_null_url_string_date_and_numeric_keywords(tmp_path: Path) -> None:
    entry = make_entry(
        detail=None,
        sources=[{"title": "Perwal Kota Serang: PENG. 1/2026 pelatihan", "url": None}],
        checked="2026-11-01",
        keywords={"id": ["kuota", 1000], "en": ["quota", 1000]},
    )
    kb = load_knowledge_base(write_kb(tmp_path, [entry], TOPICS[:1]))
    loaded = kb.entries[0]
    assert loaded.detail is None
    assert loaded.sources[0].url is None
    assert loaded.checked == date(2026, 11, 1)
    assert loaded.keywords.id == ("kuota", "1000")


def test_load_raises_with_every_problem_listed(tmp_path: Path) -> None:
    write_kb(tmp_path, [make_entry(), make_entry(topic="nowhere")], TOPICS[:1])
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(tmp_path)
    text = str(caught.value)
    assert "2 problem(s)" in text
    assert "a.yaml: free-departure: duplicate id" in text
    assert "a.yaml: free-departure: unknown topic 'nowhere'" in text
    assert len(caught.value.problems) == 2


def test_problem_reads_file_entry_message() -> None:
    assert str(Problem("a.yaml", "x", "bad")) == "a.yaml: x: bad"


# --- each kind of defect ----------------------------------------------------------------------


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    write_kb(tmp_path, [make_entry(), make_entry("what-is-it", "programme")])
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"entries": [make_entry()]}))
    assert messages(tmp_path) == ["b.yaml: free-departure: duplicate id (first defined in a.yaml)"]


def test_missing_english(tmp_path: Path) -> None:
    entry = make_entry(answer={"id": "Ada."})
    phrasings = make_entry()["phrasings"]
    phrasings["en"] = []
    other = make_entry("what-is-it", "programme", phrasings=phrasings)
    write_kb(tmp_path, [entry, other])
    assert messages(tmp_path) == [
        "a.yaml: free-departure: answer.en must be a non-empty string",
        "a.yaml: what-is-it: phrasings.en has 0 item(s) (min 4)",
    ]


def test_blank_text_and_unknown_language(tmp_path: Path) -> None:
    entry = make_entry(question={"id": "  ", "en": "Free?", "ko": "무료?"})
    write_kb(tmp_path, [entry], TOPICS[:1])
    assert messages(tmp_path) == [
        "a.yaml: free-departure: question has unknown language 'ko'",
        "a.yaml: free-departure: question.id must be a non-empty string",
    ]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("<b>tebal", "unclosed <b>"),
        ("<b><i>x</b></i>", "</b> closes <b> before the tags inside it"),
        ("<u>garis</u>", "tag <u> is not allowed (only b, i, a href)"),
        ("x</i>", "</i> closes no open tag"),
        ("baris<br/>baru", "self-closing tag <br/> is not allowed"),
        ('<a href="javascript:alert(1)">x</a>', '<a> needs exactly one href="https://..."'),
        ('<b class="x">x</b>', "<b> takes no attributes"),
        ("umur < 40", "bare '<' or '>' in text"),
        ("Disnaker & OPD", "bare '&' or unknown entity near '& OPD'"),
        ("jarak&nbsp;satu", "bare '&' or unknown entity near '&nbsp;satu'"),
    ],
)
def test_bad_html_in_answer(tmp_path: Path, answer: str, problem: str) -> None:
    entry = make_entry(answer={"id": answer, "en": "Fine."})
    write_kb(tmp_path, [entry], TOPICS[:1])
    first, *_ = messages(tmp_path)
    assert first.startswith(f"a.yaml: free-departure: answer.id: {problem}")


def test_html_telegram_accepts() -> None:
    text = '<b>Gratis</b> &amp; <i>resmi</i> &lt;3 &#39; <a href="https://kp2mi.go.id/x?a=1">KP2MI</a>'
    assert html_problems(text) == []


def test_over_long_texts(tmp_path: Path) -> None:
    entry = make_entry(
        answer={"id": "a" * 601, "en": "Fine."},
        detail={"id": "Fine.", "en": "d" * 2501},
        question={"id": "q" * 201, "en": "Fine?"},
    )
    write_kb(tmp_path, [entry], TOPICS[:1])
    assert messages(tmp_path) == [
        "a.yaml: free-departure: question.id is 201 chars (max 200)",
        "a.yaml: free-departure: answer.id is 601 chars (max 600)",
        "a.yaml: free-departure: detail.en is 2501 chars (max 2500)",
    ]


def test_rendered_message_must_fit_telegram(tmp_path: Path) -> None:
    sources = [
        {"title": f"Sumber {n} " + "x" * 60, "url": "https://x.id/" + "p" * 80} for n in range(6)
    ]
    entry = make_entry(
        answer={"id": "a" * 600, "en": "Fine."},
        detail={"id": "d" * 2500, "en": "Fine."},
        sources=sources,
    )
    write_kb(tmp_path, [entry], TOPICS[:1])
    [message] = messages(tmp_path)
    assert "answer, detail and sources in 'id' take" in message
    assert "Telegram allows 4096" in message


def test_unknown_topic_and_empty_topic(tmp_path: Path) -> None:
    write_kb(tmp_path, [make_entry(topic="costz")])
    assert messages(tmp_path) == [
        "a.yaml: free-departure: unknown topic 'costz'",
        "topics.yaml: costs: topic has no entries",
        "topics.yaml: programme: topic has no entries",
    ]


def test_schema_defects(tmp_path: Path) -> None:
    entry = make_entry("Bad_ID", checked="28 Nov 2026", keywords=["gratis"], colour="red")
    del entry["sources"]
    write_kb(tmp_path, [entry], TOPICS[:1])
    assert messages(tmp_path) == [
        "a.yaml: Bad_ID: id must match [a-z0-9-]+ and be at most 24 chars",
        "a.yaml: Bad_ID: missing key 'sources'",
        "a.yaml: Bad_ID: unknown key 'colour'",
        "a.yaml: Bad_ID: keywords must be a mapping with 'id' and 'en' lists",
        "a.yaml: Bad_ID: checked must be a date (YYYY-MM-DD), got '28 Nov 2026'",
    ]


def test_too_long_id_and_bad_sources(tmp_path: Path) -> None:
    entry = make_entry(
        "x" * 25,
        sources=[{"title": "", "url": "ftp://x"}, {"title": "No url key"}],
    )
    write_kb(tmp_path, [entry], TOPICS[:1])
    name = "x" * 25
    assert messages(tmp_path) == [
        f"a.yaml: {name}: id must match [a-z0-9-]+ and be at most 24 chars",
        f"a.yaml: {name}: source 1 title must be a non-empty string",
        f"a.yaml: {name}: source 1 url must be http(s)://... or null",
        f"a.yaml: {name}: source 2 must have exactly 'title' and 'url'",
    ]


def test_unparseable_and_misshapen_files(tmp_path: Path) -> None:
    write_kb(tmp_path, [make_entry()], TOPICS[:1])
    (tmp_path / "b.yaml").write_text("entries: [unclosed\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"faq": []}))
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"entries": ["just a string"]}))
    problems = messages(tmp_path)
    assert problems[0].startswith("b.yaml: -: cannot be parsed:")
    assert problems[1:] == [
        "c.yaml: -: must be a mapping with the single key 'entries'",
        "d.yaml: item 1: must be a mapping",
    ]


def test_missing_topics_file_and_no_entries(tmp_path: Path) -> None:
    assert messages(tmp_path) == [
        "topics.yaml: -: file is missing",
        f"{tmp_path.name}: -: no entries files (*.yaml) found",
    ]


def test_bad_topic(tmp_path: Path) -> None:
    topics = [*TOPICS[:1], {"id": "x", "emoji": "", "title": {"id": "X"}}]
    write_kb(tmp_path, [make_entry()], topics)
    assert messages(tmp_path) == [
        "topics.yaml: x: emoji must be a non-empty string",
        "topics.yaml: x: title.en must be a non-empty string",
    ]


# --- truthful sources and dated statements (issue 9) ------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Domain brief §1.2: no EPS tattoo rule found",
        "HRD Korea (UNCONFIRMED)",
        "Kota Serang bot specification (this project)",
        "ohayo-staging-k8s.kompas.com/read/4868",
        "cahyadsn/wilayah wilayah_2023.sql",
        "github.com/someone/data",
    ],
)
def test_internal_or_unpublished_sources_fail_the_check(tmp_path: Path, title: str) -> None:
    entry = make_entry(sources=[{"title": title, "url": "https://example.org"}])
    assert any("not a public source" in m for m in messages(write_kb(tmp_path, [entry])))


def test_a_source_without_a_link_must_name_an_official_publication(tmp_path: Path) -> None:
    blog = make_entry(sources=[{"title": "Blog seseorang", "url": None}])
    assert any("names no official publication" in m for m in messages(write_kb(tmp_path, [blog])))
    law = make_entry(sources=[{"title": "UU No. 27 Tahun 2022, Pasal 21", "url": None}])
    assert messages(write_kb(tmp_path / "law", [law], TOPICS[:1])) == []


def test_placeholders_and_timeline_are_checked(tmp_path: Path) -> None:
    unknown = make_entry(answer={"id": "Data {umur} hari.", "en": "Data {age} days."})
    timeline_unused = make_entry(
        timeline=[{"said": "2025-09-24", "due": "2026-03-31", "id": "a", "en": "b"}]
    )
    backwards = make_entry(
        answer={"id": "Rencana: {timeline}", "en": "Plan: {timeline}"},
        timeline=[{"said": "2026-09-24", "due": "2026-03-31", "id": "a", "en": "b"}],
    )
    found = messages(write_kb(tmp_path, [unknown]))
    assert any("unknown placeholder {umur}" in m for m in found)
    assert any("no {timeline}" in m for m in messages(write_kb(tmp_path / "t", [timeline_unused])))
    assert any("due is before said" in m for m in messages(write_kb(tmp_path / "b", [backwards])))


def test_real_sources_are_public_and_linked_or_official() -> None:
    for entry in load_knowledge_base().entries:
        for source in entry.sources:
            assert not NOT_PUBLIC.search(f"{source.title} {source.url or ''}"), entry.id
            assert source.url or OFFICIAL_PUBLICATION.search(source.title), (entry.id, source)


def test_stale_checked_dates_are_warned_about(tmp_path: Path) -> None:
    old = make_entry(checked=date(2025, 1, 1))
    kb = load_knowledge_base(write_kb(tmp_path, [old], TOPICS[:1]))
    warnings = stale_entries(kb, today=date(2026, 12, 2), max_age_days=180)
    assert [w.entry for w in warnings] == ["free-departure"]
    assert "checked 2025-01-01" in str(warnings[0])
    assert stale_entries(kb, today=date(2025, 2, 1), max_age_days=180) == []
