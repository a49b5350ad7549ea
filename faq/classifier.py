"""A multinomial naive Bayes text classifier over character n-grams and words, numpy only.
Features of a normalised text: the character 2- to 5-grams of each word padded with spaces (``"
gaji "`` gives ``" g"``, ``"ga"``, … ``"aji "``), which survive typos, affixes and run-together
words, and the content words and their pairs. Counts are TF-IDF weighted (sublinear, L2
normalised per text) as in scikit-learn's ``TfidfVectorizer``; a class's weights are the
smoothed log shares of its feature mass, stored as postings (feature -> the classes that use
it), so a query only reads the classes sharing one of its features. Training is counting: a few
hundred milliseconds for the real knowledge base, and ×100 entries stay within memory, where a
dense linear model (80 classes × 25,000 features per copy) would not.

Chosen by measurement (issue 9, the tests/data sets, ungated top-1 on the same features):
naive Bayes 98/98/100% on the regression and the two held-out sets; scikit-learn's LinearSVC
97/100/96%, 1-2 s to train here; logistic regression 98/98/99% but 35 s to train; nearest
centroid and nearest neighbour 85-96% with far more confident wrong answers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np

MIN_GRAM, MAX_GRAM = 2, 5
WORD_PREFIX = "\x00"  # marks word features apart from character n-grams
# Additive smoothing of the per-class feature shares; 0.05 scored best of 0.01-1 (ungated top-1
# on the regression and held-out sets), lower values over-trust single rare n-grams.
ALPHA = 0.05
_MAX_CACHED_WORDS = 50_000


def grams(word: str) -> list[str]:
    """The character n-grams of one word padded with spaces."""
    padded = f" {word} "
    return [
        padded[start : start + n]
        for n in range(MIN_GRAM, MAX_GRAM + 1)
        for start in range(len(padded) - n + 1)
    ]


class Featurizer:
    """Texts as arrays of feature ids; the feature index grows only while training."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self._word_ids: dict[str, np.ndarray] = {}
        self.frozen = False

    def _ids(self, keys: Iterable[str]) -> np.ndarray:
        if self.frozen:
            found = [self.index[k] for k in keys if k in self.index]
        else:
            found = [self.index.setdefault(k, len(self.index)) for k in keys]
        return np.array(found, dtype=np.int64)

    def _word(self, word: str) -> np.ndarray:
        ids = self._word_ids.get(word)
        if ids is None:
            ids = self._ids(grams(word))
            if len(self._word_ids) >= _MAX_CACHED_WORDS:
                self._word_ids.clear()
            if not self.frozen or len(ids):
                self._word_ids[word] = ids
        return ids

    def features(self, words: Sequence[str], content: Sequence[str]) -> np.ndarray:
        """The feature ids of a text, one per occurrence."""
        keys = [WORD_PREFIX + w for w in content]
        keys += [f"{WORD_PREFIX}{a} {b}" for a, b in itertools.pairwise(content)]
        parts = [self._word(w) for w in words]
        parts.append(self._ids(keys))
        return np.concatenate(parts)

    def encode(
        self, words: Sequence[str], content: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The distinct feature ids of a text and their raw counts."""
        ids, counts = np.unique(self.features(words, content), return_counts=True)
        return ids, counts.astype(np.float64)


class NaiveBayes:
    """Multinomial naive Bayes on TF-IDF weights, trained once; :meth:`log_scores` per query."""

    def __init__(
        self,
        texts: Iterable[tuple[Sequence[str], Sequence[str], int, float]],
        n_classes: int,
        alpha: float = ALPHA,
    ) -> None:
        """Train on ``(words, content words, class index, weight)`` for each text."""
        self.featurizer = Featurizer()
        labels_list: list[int] = []
        weights_list: list[float] = []
        features: list[np.ndarray] = []
        for words, content, label, wt in texts:
            features.append(self.featurizer.features(words, content))
            labels_list.append(label)
            weights_list.append(wt)
        self.featurizer.frozen = True
        feature_count = len(self.featurizer.index)
        texts_count = len(features)
        # one np.unique over (text, feature) pairs instead of one per text: the distinct
        # features of every text and their counts, ordered by text, then feature
        lengths = np.array([len(f) for f in features], dtype=np.int64)
        pairs = np.repeat(np.arange(texts_count), lengths) * max(feature_count, 1)
        pairs += np.concatenate(features) if features else np.zeros(0, dtype=np.int64)
        cells_of_text, raw_counts = np.unique(pairs, return_counts=True)
        owner, pos = np.divmod(cells_of_text, max(feature_count, 1))
        raw = raw_counts.astype(np.float64)
        # each feature appears once per text after np.unique, so df is a plain bincount
        df = np.bincount(pos, minlength=feature_count)
        self.idf = np.log((1 + texts_count) / (1 + df)) + 1.0
        weights = (1.0 + np.log(raw)) * self.idf[pos]
        norms = np.sqrt(np.bincount(owner, weights=weights**2, minlength=texts_count))
        labels = np.array(labels_list, dtype=np.int64)
        text_weight = np.array(weights_list)
        unit = weights / norms[owner]
        # the texts as rows of L2-normalised TF-IDF weights, for a second model on the same
        # features (faq.second); handed over once by training_rows()
        self._rows: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = (
            owner,
            pos,
            unit,
            texts_count,
        )
        mass = unit * text_weight[owner]
        cells, inverse = np.unique(pos * n_classes + labels[owner], return_inverse=True)
        totals = np.bincount(inverse, weights=mass, minlength=len(cells))
        feature_of, class_of = np.divmod(cells, n_classes)
        class_mass = np.bincount(class_of, weights=totals, minlength=n_classes)
        # log P(f|c) = log(n_cf + a) - log(N_c + a F), stored as the part above the a-only floor
        self._post_class = class_of.astype(np.intp)
        self._post_value = np.log(totals + alpha) - math.log(alpha)
        self._post_start = np.searchsorted(feature_of, np.arange(feature_count + 1))
        self._floor = math.log(alpha) - np.log(class_mass + alpha * feature_count)
        self.n_classes = n_classes

    @property
    def feature_count(self) -> int:
        return len(self.featurizer.index)

    def training_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The training texts' (row, feature, weight) triples and their count, once: the
        arrays are dropped here so that the model does not keep them."""
        if self._rows is None:
            raise RuntimeError("the training rows were handed over already")
        rows, self._rows = self._rows, None
        return rows

    def unit_weights(self, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """A text's L2-normalised TF-IDF weights, in the order of ``ids``."""
        return _unit_weights(self, ids, counts)

    def log_scores(self, positions: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Each class's log joint score (uniform prior) for one text, encoded by
        ``featurizer.encode`` (its feature ids and counts)."""
        if not len(positions):
            return np.zeros(self.n_classes)
        weights = (1.0 + np.log(raw)) * self.idf[positions]
        weights /= np.linalg.norm(weights)
        starts, ends = self._post_start[positions], self._post_start[positions + 1]
        lengths = ends - starts
        # every posting of every query feature at once: offsets into the flat postings arrays
        offsets = np.repeat(ends - np.cumsum(lengths), lengths) + np.arange(lengths.sum())
        values = self._post_value[offsets] * np.repeat(weights, lengths)
        sums = np.bincount(self._post_class[offsets], weights=values, minlength=self.n_classes)
        return self._floor * weights.sum() + sums


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from log scores."""
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


class Neighbours:
    """Cosine similarity of a text to its nearest member of a group of texts (TF-IDF weights).

    Used beside the classifier where one example should count on its own: the off-topic
    examples. Members are stored as postings (feature -> members using it), as in NaiveBayes.
    """

    def __init__(
        self, model: NaiveBayes, groups: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]]
    ) -> None:
        self.model = model
        self._groups = [self._postings(group) for group in groups]

    def _postings(
        self, members: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        feature_count = self.model.feature_count
        cells: list[np.ndarray] = []
        values: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for number, (ids, counts) in enumerate(members):
            if len(ids):
                cells.append(ids)
                values.append(_unit_weights(self.model, ids, counts))
                owners.append(np.full(len(ids), number, dtype=np.intp))
        if not cells:
            empty = np.zeros(0)
            return np.zeros(feature_count + 1, dtype=np.int64), empty.astype(np.intp), empty, 0
        feature = np.concatenate(cells)
        order = np.argsort(feature, kind="stable")
        start = np.searchsorted(feature[order], np.arange(feature_count + 1))
        return start, np.concatenate(owners)[order], np.concatenate(values)[order], len(members)

    def similarity(self, group: int, ids: np.ndarray, counts: np.ndarray) -> float:
        """The highest cosine between a text and the members of one group (0-1)."""
        start, owner, value, size = self._groups[group]
        if not size or not len(ids):
            return 0.0
        weights = _unit_weights(self.model, ids, counts)
        starts, ends = start[ids], start[ids + 1]
        lengths = ends - starts
        if not lengths.sum():
            return 0.0
        offsets = np.repeat(ends - np.cumsum(lengths), lengths) + np.arange(lengths.sum())
        sums = np.bincount(
            owner[offsets], weights=value[offsets] * np.repeat(weights, lengths), minlength=size
        )
        return float(sums.max())


def _unit_weights(model: NaiveBayes, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A text's L2-normalised TF-IDF weights, in the order of ``ids``."""
    weights = (1.0 + np.log(counts)) * model.idf[ids]
    return weights / np.linalg.norm(weights)
