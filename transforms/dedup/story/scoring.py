"""Score two articles' story features: IDF-weighted cosine of comparable terms; scorers."""

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, Optional, Protocol

from transforms.dedup.story.settings import StoryFeatures


def idf_value(df: int, n_docs: int) -> float:
    """BM25's IDF, ln(1 + (N - df + 0.5) / (df + 0.5)): near 0 for terms in every article."""
    df = max(1, min(df, n_docs))
    return math.log1p((n_docs - df + 0.5) / (df + 0.5))


class IdfTable:
    """IDF of terms from document frequencies; a term missing from ``df`` occurs in one article.

    Also keeps each article's IDF-weighted terms (``weighted``) once computed: a table lives for
    one posting list or one article's candidates, so it is bounded by their size.
    """

    def __init__(
        self, df: Mapping[str, int], n_docs: int, shared: Optional["IdfTable"] = None
    ) -> None:
        """Wrap document frequencies ``df`` over ``n_docs`` articles.

        With ``shared`` (a table of the same ``df`` and ``n_docs``), reuse its IDF values: a new
        table per posting list keeps its weighted terms apart but not the IDFs.
        """
        self.df = df
        self.n_docs = max(1, n_docs)
        self._cache: dict[str, float] = shared._cache if shared is not None else {}
        self._rare = idf_value(1, self.n_docs)
        self._weighted: dict[tuple[str, bool], Weighted] = {}

    def __call__(self, term: str) -> float:
        """IDF of ``term``."""
        value = self._cache.get(term)
        if value is None:
            count = self.df.get(term)
            if count is None:  # in one article: the same IDF for all of them, not cached
                return self._rare
            value = self._cache[term] = idf_value(count, self.n_docs)
        return value

    def weighted(self, features: StoryFeatures, anchors_only: bool) -> "Weighted":
        """``weighted_terms`` of an article, computed once per table."""
        key = (features.article_id, anchors_only)
        found = self._weighted.get(key)
        if found is None:
            found = self._weighted[key] = weighted_terms(features, self, anchors_only)
        return found


IdfFn = Callable[[str], float]


# Terms that mean the same in every language: names and places, numbers, dates.
ANCHOR_KINDS = ("e:", "n:", "d:")


class Weighted(NamedTuple):
    """An article's comparable terms in order, each weight times IDF, and their squared norm."""

    values: dict[str, float]
    norm2: float


def weighted_terms(features: StoryFeatures, idf: IdfFn, anchors_only: bool) -> Weighted:
    """The terms a comparison reads (all, or names/numbers/dates only), weighted by IDF."""
    values = {
        t: w * idf(t)
        for t, w in zip(features.terms, features.weights, strict=True)
        if not anchors_only or t.startswith(ANCHOR_KINDS)
    }
    norm2 = 0.0
    for value in values.values():
        norm2 += value * value
    return Weighted(values, norm2)


def story_similarity(a: StoryFeatures, b: StoryFeatures, idf: IdfFn) -> float:
    """IDF-weighted cosine: sum(wa*wb*idf^2) / (|wa*idf| * |wb*idf|), anchors only across languages.

    Same language: over all terms. Different languages: over names, numbers and dates only:
    content words of two languages rarely coincide, so across languages they would only dilute
    the cosine (seed vs English wire report: 0.17 with them, 0.38 without).
    """
    anchors_only = a.language != b.language
    if isinstance(idf, IdfTable):
        wa, wb = idf.weighted(a, anchors_only), idf.weighted(b, anchors_only)
    else:
        wa, wb = weighted_terms(a, idf, anchors_only), weighted_terms(b, idf, anchors_only)
    if len(wb.values) < len(wa.values):
        wa, wb = wb, wa
    return cosine_of(sparse_dot(wa.values.items(), wb.values), wa.norm2, wb.norm2)


def sparse_dot(items: Iterable[tuple[str, float]], other: Mapping[str, float]) -> float:
    """Sum of ``value * other[term]`` over ``items`` whose term ``other`` has, in their order."""
    dot = 0.0
    for term, value in items:
        found = other.get(term)
        if found is not None:
            dot += value * found
    return dot


def cosine_of(dot: float, norm2: float, other_norm2: float) -> float:
    """The cosine from a dot product and two squared norms (0 unless all are positive)."""
    if dot <= 0.0 or norm2 == 0.0 or other_norm2 == 0.0:
        return 0.0
    return dot / math.sqrt(norm2 * other_norm2)


# Separates the terms of a packed article (terms are letters, digits and ``:``, never controls).
TERM_SEP = "\x1f"

# An article's IDF-weighted terms as they travel with each candidate pair to the other end's
# worker: (article id, language, terms joined by ``TERM_SEP``, their weights times IDF as float64
# bytes, squared norm of all of them, squared norm of the anchors, number of anchors). A plain
# tuple of strings, bytes and numbers: Beam's coder writes it without pickling.
WeightedCopy = tuple[str, str, str, bytes, float, float, int]


def joined_terms(terms: Sequence[str], article_id: str) -> str:
    """An article's terms joined by ``TERM_SEP``; a term holding the separator is refused."""
    if any(TERM_SEP in term for term in terms):
        raise ValueError(f"a story term of {article_id} contains the separator")
    return TERM_SEP.join(terms)


def weighted_copy(features: StoryFeatures, idf: "IdfTable") -> WeightedCopy:
    """``features`` weighted by IDF once, for ``copy_similarity`` at the other end of each pair."""
    full = idf.weighted(features, False)
    anchors = idf.weighted(features, True)
    return (
        features.article_id,
        features.language,
        joined_terms(list(full.values), features.article_id),
        array("d", full.values.values()).tobytes(),
        full.norm2,
        anchors.norm2,
        len(anchors.values),
    )


def copy_similarity(copy: WeightedCopy, b: StoryFeatures, idf: "IdfTable") -> float:
    """``story_similarity`` of the article ``copy`` was made from and ``b``, to the last bit.

    The same products summed in the same order (the side with fewer comparable terms is walked
    in term order), so the score does not depend on which of the two paths computed it.
    """
    _, language, joined, packed, norm2, anchor_norm2, anchor_count = copy
    anchors_only = language != b.language
    wb = idf.weighted(b, anchors_only)
    terms = joined.split(TERM_SEP) if joined else []
    values = array("d", packed).tolist()
    a_norm2, a_count = (anchor_norm2, anchor_count) if anchors_only else (norm2, len(terms))
    if len(wb.values) < a_count:
        dot = sparse_dot(wb.values.items(), dict(zip(terms, values, strict=True)))
        return cosine_of(dot, wb.norm2, a_norm2)
    # Across languages wb holds anchors only, so a's other terms are not found.
    return cosine_of(sparse_dot(zip(terms, values, strict=True), wb.values), a_norm2, wb.norm2)


def vector_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of two vectors (0 when either is empty or zero)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class StoryScorer(Protocol):
    """Scores a pair of articles in [0, 1]; higher means more likely the same event."""

    def score(self, a: StoryFeatures, b: StoryFeatures, idf: IdfFn) -> float:
        """Score of the pair."""
        ...


class TermScorer:
    """The default scorer: ``story_similarity`` of the articles' terms."""

    def score(self, a: StoryFeatures, b: StoryFeatures, idf: IdfFn) -> float:
        """IDF-weighted cosine of the terms."""
        return story_similarity(a, b, idf)


class EmbeddingBlendScorer:
    """Mixes the term cosine with the cosine of embeddings (when both articles have one)."""

    def __init__(self, embedding_weight: float = 0.5, base: Optional[StoryScorer] = None) -> None:
        """Blend with ``embedding_weight`` of the vector cosine over ``base`` (the term scorer)."""
        if not 0.0 <= embedding_weight <= 1.0:
            raise ValueError("embedding_weight must be within [0, 1]")
        self.embedding_weight = embedding_weight
        self.base: StoryScorer = base or TermScorer()

    def score(self, a: StoryFeatures, b: StoryFeatures, idf: IdfFn) -> float:
        """(1 - w) * term score + w * max(0, vector cosine); the term score without vectors."""
        terms = self.base.score(a, b, idf)
        if not a.vector or not b.vector:
            return terms
        cosine = max(0.0, vector_cosine(a.vector, b.vector))
        return (1.0 - self.embedding_weight) * terms + self.embedding_weight * cosine
