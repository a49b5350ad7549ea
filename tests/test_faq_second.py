"""The second opinion (faq/second.py): a linear SVM on the classifier's features that may doubt
an answer, and how the matcher turns a clear doubt into "Maksud Anda…?"."""

from __future__ import annotations

import numpy as np
import pytest

from faq import second
from faq.matcher import Matcher
from faq.model import load_knowledge_base


def rows(texts: list[list[int]]) -> second.Rows:
    """Feature rows with unit weights from lists of feature ids."""
    owner = np.concatenate([np.full(len(t), n) for n, t in enumerate(texts)])
    feature = np.concatenate([np.array(t) for t in texts])
    value = np.concatenate([np.full(len(t), 1 / np.sqrt(len(t))) for t in texts])
    return owner, feature, value, len(texts)


def features(ids: list[int]) -> second.Features:
    return np.array(ids), np.full(len(ids), 1 / np.sqrt(len(ids)))


def test_the_model_agrees_doubts_and_ignores_unknown_features() -> None:
    # class 0 uses features 0-1, class 1 features 2-3, the off-topic class feature 4
    training = [[0, 1], [0], [1], [2, 3], [2], [3], [4], [4]]
    labels = [0, 0, 0, 1, 1, 1, second.OFF_TOPIC, second.OFF_TOPIC]
    model = second.SecondOpinion(rows(training), labels, [1.0] * len(labels))
    assert model.read(features([0, 1])).best == 0
    assert model.read(features([0, 1])).doubt(0) == 0.0
    assert model.read(features([0, 1])).doubt(1) > second.DOUBT
    assert model.read(features([4])).best == second.OFF_TOPIC
    assert model.read(features([2, 999])).doubt(1) == 0.0  # feature 999 was never seen
    assert model.read(features([0])).doubt(7) == 0.0  # an entry it never saw: no opinion


def test_two_classes_are_scored_both_ways() -> None:
    model = second.SecondOpinion(rows([[0], [0, 1], [2], [2, 3]]), [0, 0, 1, 1], [1.0] * 4)
    assert model.read(features([0])).best == 0 and model.read(features([2])).best == 1


def test_a_failed_training_is_logged_and_leaves_no_model(caplog: pytest.LogCaptureFixture) -> None:
    pending = second.train_in_background(rows([[0], [1]]), [0, 0], [1.0, 1.0])  # one class
    assert pending.result() is None
    assert isinstance(pending.error, ValueError)
    assert "answering without it" in caplog.text


def test_a_clear_doubt_offers_both_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = Matcher(load_knowledge_base())
    text = "berapa gaji di korea"
    answered = matcher.match(text)
    assert answered.kind == "answer" and answered.entry is not None
    monkeypatch.setattr(second, "DOUBT", -1.0)  # doubt everything
    monkeypatch.setattr(second, "AGREE", float("inf"))  # and confirm nothing
    doubted = matcher.match(text)
    assert doubted.kind == "suggest" and doubted.entry is None
    assert doubted.suggestions[0] == answered.entry


def test_a_clear_agreement_answers_instead_of_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = Matcher(load_knowledge_base())
    text = "berapa gaji di korea"
    answered = matcher.match(text)
    monkeypatch.setattr(second, "DOUBT", -1.0)  # every answer becomes a list…
    monkeypatch.setattr(second, "AGREE", -1.0)  # …and every list the classifier's pick again
    confirmed = matcher.match(text)
    assert (confirmed.kind, confirmed.entry) == ("answer", answered.entry)


def test_without_the_second_opinion_the_classifier_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(second, "DOUBT", -1.0)
    plain = Matcher(load_knowledge_base(), second_opinion=False)
    assert plain.match("berapa gaji di korea").kind == "answer"


def test_answers_go_on_when_the_second_opinion_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise MemoryError("no room for the SVM")

    monkeypatch.setattr(second, "SecondOpinion", broken)
    matcher = Matcher(load_knowledge_base())
    assert matcher.match("berapa gaji di korea").kind == "answer"
    assert "answering without it" in caplog.text
