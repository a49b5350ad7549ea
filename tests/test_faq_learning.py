"""Staff teaching the bot from its traffic: live effect, JSON round trip, YAML to commit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from faq.learning import Learned, merge
from faq.matcher import Matcher
from faq.model import (
    DATA_DIR,
    LEARNED_FILE,
    KnowledgeBase,
    load_knowledge_base,
    validate_knowledge_base,
)

QUESTION = "min kalo mau nyari kerja jadi satpam di cilegon gmn"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_attach_and_mark_change_the_live_matcher_without_restart(kb: KnowledgeBase) -> None:
    matcher = Matcher(kb)
    weird = "kumaha mun abdi hoyong ngiring ka nagara ginseng"
    learned = Learned().attach(weird, "register-city", "id", by=7, at="2026-12-02T10:00:00+00:00")
    learned.apply(matcher)
    match = matcher.match(weird)
    assert (match.kind, match.entry and match.entry.id) == ("answer", "register-city")
    learned = learned.mark_off_topic(QUESTION, "id", by=7)
    learned.apply(matcher)
    assert matcher.match(QUESTION).kind == "fallback"
    assert matcher.taught.off_topic == (QUESTION,)


def test_items_round_trip_as_json_and_move_between_entry_and_off_topic(kb: KnowledgeBase) -> None:
    learned = Learned().attach("Soal  tiket", "flight-cost", "id", by=1, at="t1")
    learned = learned.attach("soal tiket", "flight-cost", "id", by=2, at="t2")  # same: no-op
    assert len(learned.items) == 1 and learned.items[0].by == 1
    learned = learned.mark_off_topic("SOAL TIKET", "id", by=3, at="t3")  # moved
    assert [(i.text, i.entry) for i in learned.items] == [("SOAL TIKET", None)]
    data = json.loads(json.dumps(learned.to_json()))
    assert Learned.from_json(data, kb) == learned
    assert Learned.from_json({}) == Learned()
    gone = {"items": [{"text": "x y", "lang": "id", "entry": "no-such-entry"}]}
    assert Learned.from_json(gone, kb) == Learned()  # an entry removed since: dropped
    assert merge([learned, Learned().attach("a b", "age-limit", "en", at="t")]).taught().phrasings
    with pytest.raises(ValueError):
        Learned().attach("   ", "age-limit", "id")


def test_unknown_entry_is_refused_by_the_matcher(kb: KnowledgeBase) -> None:
    with pytest.raises(KeyError):
        Learned().attach("apa ini", "no-such-entry", "id").apply(Matcher(kb))


def test_yaml_is_ready_to_commit_into_the_data_directory(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    learned = (
        Learned()
        .attach("kapan kelas bahasa dimulai", "programme-timeline", "id", at="t")
        .attach("when do lessons begin", "programme-timeline", "en", at="t")
        .mark_off_topic(QUESTION, "id", at="t")
    )
    text = learned.to_yaml()
    assert yaml.safe_load(text)["learned"]["phrasings"]["programme-timeline"] == {
        "id": ["kapan kelas bahasa dimulai"],
        "en": ["when do lessons begin"],
    }
    data = shutil.copytree(DATA_DIR, tmp_path / "data")
    (data / LEARNED_FILE).write_text(text, encoding="utf-8")
    assert validate_knowledge_base(data) == []
    loaded = load_knowledge_base(data)
    assert "when do lessons begin" in loaded.by_id["programme-timeline"].phrasings.en
    assert QUESTION in loaded.off_topic
    (data / LEARNED_FILE).write_text(
        "learned:\n  phrasings:\n    nope: {id: [a]}\n", encoding="utf-8"
    )
    assert any("unknown entry id" in str(p) for p in validate_knowledge_base(data))
