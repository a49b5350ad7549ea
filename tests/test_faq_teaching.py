"""What staff taught and the matcher still decides otherwise (``Learned.unmet``): the bot tells
staff instead of pretending the teaching took effect."""

from __future__ import annotations

from faq.learning import Learned
from faq.matcher import Matcher
from faq.model import load_knowledge_base

OFF_TOPIC = "gaji oppa drakor berapa per episode"  # answered with the EPS wage untaught
SUNDANESE = "kumaha mun abdi hoyong ngiring ka nagara ginseng"


def test_unmet_lists_the_items_the_matcher_still_decides_otherwise() -> None:
    kb = load_knowledge_base()
    matcher = Matcher(kb)
    own = kb.by_id["age-limit"].question["id"]  # answered with its own entry
    learned = (
        Learned()
        .mark_off_topic(OFF_TOPIC, "id")
        .attach(SUNDANESE, "register-city", "id")
        .attach(own, "tattoo", "id")
    )
    assert learned.unmet(matcher) == list(learned.items)  # nothing applied yet
    learned.apply(matcher)
    # The off-topic example and the attached question took effect; an entry's own question
    # taught to another entry does not outweigh the entry itself.
    assert [item.text for item in learned.unmet(matcher)] == [own]
    assert learned.unmet(matcher, texts=[OFF_TOPIC, SUNDANESE]) == []
    assert matcher.match(SUNDANESE).entry == kb.by_id["register-city"]
