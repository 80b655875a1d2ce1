"""Same-story layer (L4): scored edges between articles about the same event.

Different outlets rarely share long word n-grams, and never across languages, so this layer
compares language-independent evidence instead: names and places (transliterated to ASCII and
folded, so Путин ≈ Putin and Vostochnyy ≈ Vostochny), numbers (separators and scale words
normalized, so "11 juta" = "11 million"), dates (month-day, from any of several languages and
numeric forms) and the content words of titles and leads. Each article becomes a ``StoryFeatures``
record (a few dozen weighted terms); two articles score the IDF-weighted cosine of their terms.

Candidates come from an inverted index: every article posts its most distinctive terms (by weight
times IDF) under ``(time bucket, term)`` keys; a ``GroupByKey`` gathers each posting list, capped so
that a hot term costs at most ``posting_cap`` comparisons per member. Nothing compares all pairs.
Posting lists carry article ids only. Each list tells each member its partners, and each article
sums a partner's evidence over the lists they share (a pair sharing several keys is compared once,
with the summed IDF of the keys it shares as its evidence); each article then
keeps its ``max_candidates`` candidates with the most evidence (a pair is compared when either end
keeps it, so the comparisons grow linearly with the articles, not with their density), and the
pairs are then joined with both articles' features (two ``CoGroupByKey``s), so an article's
features travel once per candidate pair, not once per key it posts: weighted by IDF once, at the
first join (``weighted_copy``), so that the second only sums products (``copy_similarity``).
Pairs beyond the window (up to ``far_window_hours``) come from a second index of the same terms with
longer buckets. Document frequencies are a Beam combine (a dict per bundle) passed as a side input.
An edge is kept when it is strong, or when it clears a lower threshold and is among the ``top_k``
best edges of an end (of both ends with ``mutual``); only same-language edges within the window may
pass for their score alone. Each article adds at most ``top_k`` weak links, which keeps single-link
chaining across events rare once the integration joins edges into connected components. Across
languages only names, numbers and dates are compared, since content words of two languages never
match.

The scorer is pluggable (``StoryScorer``): ``EmbeddingBlendScorer`` mixes in the cosine of vectors
that ``EmbedStories`` computes with Beam's ``RunInference`` from any ``ModelHandler``
(``SentenceEmbeddingHandler`` wraps sentence-transformers, behind the ``embeddings`` extra).

Measured numbers, the way the defaults were chosen and the limits: ``docs/dedup-story.md``.
No ``from __future__ import annotations`` here: Beam reads ``StoryFeatures``' hints at runtime.
"""

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import AsSingleton, PCollection
from apache_beam.transforms import combiners

from transforms.core.timeutil import parse_iso
from transforms.dedup.story.scoring import (
    TERM_SEP,
    IdfFn,
    IdfTable,
    StoryScorer,
    TermScorer,
    WeightedCopy,
    copy_similarity,
    idf_value,
    joined_terms,
    weighted_copy,
)
from transforms.dedup.story.settings import STAGE, StoryEdge, StoryFeatures, StorySettings


def epoch_hours(published_at: Optional[str]) -> Optional[float]:
    """Hours since the Unix epoch of an ISO-8601 time, or None when absent or unparseable."""
    parsed = parse_iso(published_at)
    return parsed.timestamp() / 3600.0 if parsed else None


def time_buckets(hours: float, window_hours: float) -> tuple[int, int]:
    """The two buckets an article posts to: any two articles within the window share one."""
    home = math.floor(hours / window_hours)
    return home, home + 1


def candidate_terms(
    features: StoryFeatures, idf: IdfFn, df: Mapping[str, int], k: int
) -> list[str]:
    """The article's ``k`` most distinctive terms (weight times IDF) that another article shares."""
    ranked = sorted(
        (
            (-w * idf(t), t)
            for t, w in zip(features.terms, features.weights, strict=True)
            if df.get(t, 1) >= 2
        ),
    )
    return [t for _, t in ranked[:k]]


# Seed of the random hyperplanes: fixed, so every worker and every run draws the same ones.
HYPERPLANE_SEED = 20230914


@lru_cache(maxsize=8)
def _hyperplanes(count: int, dim: int) -> Any:
    """``count`` random hyperplanes (normals) in ``dim`` dimensions, the same on every machine."""
    return np.random.default_rng([HYPERPLANE_SEED, dim]).standard_normal((count, dim))


def vector_keys(vector: Sequence[float], bands: int, bits: int) -> list[str]:
    """SimHash band keys of a vector: close vectors share at least one key with high probability."""
    if not vector or bands <= 0 or bits <= 0:
        return []
    signs = _hyperplanes(bands * bits, len(vector)) @ np.asarray(vector, dtype=float) >= 0.0
    return [
        f"v:{band}:"
        + "".join("1" if bit else "0" for bit in signs[band * bits : (band + 1) * bits])
        for band in range(bands)
    ]


class _Member(NamedTuple):
    """An article in a posting list: whether it is from this run, its time and id.

    Only the id travels through the posting lists (an article posts to up to 48 of them); its
    features join the candidate pairs afterwards, once per pair (``JoinFirst``, ``JoinSecond``).
    It travels as a plain tuple (``MemberRecord``), which Beam's coder writes natively: a
    NamedTuple would be pickled, 125 bytes and ~6 µs per record instead of 66 bytes and ~2 µs.
    """

    is_new: bool
    hours: float
    article_id: str


# A ``_Member`` as it travels through ``GroupPostings``.
MemberRecord = tuple[bool, float, str]


def candidate_pairs(members: Sequence[_Member], cap: int) -> Iterator[tuple[_Member, _Member]]:
    """Pairs of a posting list to compare: all of them, or time neighbours within ``cap`` places."""
    unique: dict[str, _Member] = {}
    for member in members:
        # An article may come both from this run and from history: this run's copy wins.
        seen = unique.get(member.article_id)
        if seen is None or (member.is_new and not seen.is_new):
            unique[member.article_id] = member
    ordered = sorted(unique.values(), key=lambda m: (m.hours, m.article_id))
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 : i + 1 + cap]:
            if first.is_new or second.is_new:
                yield first, second


def pair_threshold(
    a: StoryFeatures, b: StoryFeatures, settings: StorySettings, near: bool = True
) -> float:
    """The score an edge must reach: by language, and at least ``far_threshold`` when far apart."""
    return languages_threshold(a.language, b.language, settings, near)


def languages_threshold(
    a_language: str, b_language: str, settings: StorySettings, near: bool = True
) -> float:
    """``pair_threshold`` of two articles in these languages."""
    same = a_language == b_language
    base = settings.threshold if same else settings.cross_language_threshold
    return base if near else max(base, settings.far_threshold)


class SharedTermCounts(beam.CombineFn):
    """Document frequencies of the terms found in at least two articles: ``{term: count}``.

    One input per article (its terms, unique), counted into a dict: one element per article
    instead of one per term (~94 per article, two steps each in ``Count.PerElement``). A term in
    one article links nothing; leaving those out keeps the side input small.
    """

    def create_accumulator(self) -> dict[str, int]:
        """No terms counted."""
        return {}

    def add_input(self, counts: dict[str, int], terms: Iterable[str]) -> dict[str, int]:
        """Count one article's terms."""
        get = counts.get
        for term in terms:
            counts[term] = get(term, 0) + 1
        return counts

    def merge_accumulators(self, accumulators: Iterable[dict[str, int]]) -> dict[str, int]:
        """Sum the counts into the first accumulator."""
        parts = iter(accumulators)
        merged = next(parts, None)
        if merged is None:
            return {}
        for part in parts:
            get = merged.get
            for term, count in part.items():
                merged[term] = get(term, 0) + count
        return merged

    def extract_output(self, counts: dict[str, int]) -> dict[str, int]:
        """The terms in two articles or more."""
        return {term: count for term, count in counts.items() if count >= 2}


class _IdfFn(beam.DoFn):
    """A DoFn reading the document frequencies: one ``IdfTable`` per element (its weighted terms
    stay bounded by the element), all sharing the IDFs computed so far for the side input."""

    _shared: Optional[IdfTable] = None

    def element_idf(self, df: Mapping[str, int], n_docs: int) -> IdfTable:
        """A fresh table for one element over the shared IDFs of this side input."""
        shared = self._shared
        if shared is None or shared.df is not df or shared.n_docs != max(1, n_docs):
            shared = self._shared = IdfTable(df, n_docs)
        return IdfTable(df, n_docs, shared)


class _PostKeysFn(_IdfFn):
    """Post an article under (reach, time bucket, term) for each of its most distinctive terms.

    Near keys (``candidate_keys`` terms, buckets as wide as ``window_hours``) find the pairs
    within the window; far keys (the first ``far_candidate_keys`` of those terms, buckets as wide
    as ``far_window_hours``) find the pairs further apart. The two indexes are apart so that a
    long far bucket never crowds a near posting list out of its ``posting_cap``.
    """

    def __init__(self, settings: StorySettings) -> None:
        """Keep the settings and declare the counter."""
        self.settings = settings
        self.undated = Metrics.counter(STAGE, "undated_articles")

    def process(
        self, element: tuple[bool, StoryFeatures], df: Mapping[str, int], n_docs: int
    ) -> Iterator[tuple[tuple[bool, int, str], MemberRecord]]:
        """Yield ((near, bucket, term), member) for each candidate key and each of its buckets."""
        is_new, features = element
        hours = epoch_hours(features.published_at)
        if hours is None:
            self.undated.inc()
            return
        idf = self.element_idf(df, n_docs)
        member: MemberRecord = (is_new, hours, features.article_id)
        settings = self.settings
        keys = candidate_terms(features, idf, df, settings.candidate_keys)
        far_keys = keys[: settings.far_candidate_keys]
        keys += vector_keys(features.vector, settings.vector_bands, settings.vector_bits)
        for term in keys:
            for bucket in time_buckets(hours, settings.window_hours):
                yield (True, bucket, term), member
        if settings.far_window_hours > settings.window_hours:
            for term in far_keys:
                for bucket in time_buckets(hours, settings.far_window_hours):
                    yield (False, bucket, term), member


def posting_pairs(
    near_list: bool, bucket: int, members: Sequence[_Member], settings: StorySettings
) -> Iterator[tuple[tuple[str, str], bool]]:
    """The pairs one posting list stands for: ``((a, b), near)`` with ``a < b``.

    A near list stands for its pairs within ``window_hours``, a far list for those between
    ``window_hours`` and ``far_window_hours``; both articles post to two buckets, and a pair
    belongs to the later bucket they share. The same pair may come from several terms' lists.
    """
    window = settings.window_hours if near_list else settings.far_window_hours
    for first, second in candidate_pairs(members, settings.posting_cap):
        gap = abs(first.hours - second.hours)
        if gap > window or (not near_list and gap <= settings.window_hours):
            continue
        shared = max(math.floor(first.hours / window), math.floor(second.hours / window))
        if bucket != shared:
            continue
        a, b = sorted((first.article_id, second.article_id))
        yield (a, b), gap <= settings.window_hours


# One posting list's word on one of its members: (the list's evidence, the members it pairs
# with within the window, those it pairs with beyond it).
ListCandidates = tuple[int, list[str], list[str]]


def posting_candidates(
    near_list: bool,
    bucket: int,
    members: Sequence[_Member],
    settings: StorySettings,
    evidence: int,
) -> Iterator[tuple[str, ListCandidates]]:
    """``posting_pairs`` told to each end: ``(article_id, (evidence, near ids, far ids))``.

    One record per member and list instead of one per pair and list: both ends of a pair get it
    from every list they share, so each end's sum over its records is the pair's evidence.
    """
    near_others: dict[str, list[str]] = {}
    far_others: dict[str, list[str]] = {}
    for (a, b), near in posting_pairs(near_list, bucket, members, settings):
        others = near_others if near else far_others
        others.setdefault(a, []).append(b)
        others.setdefault(b, []).append(a)
    for article_id in sorted(near_others.keys() | far_others.keys()):
        yield (
            article_id,
            (evidence, near_others.get(article_id, []), far_others.get(article_id, [])),
        )


class _PostingCandidatesFn(beam.DoFn):
    """A posting list's candidates (``posting_candidates``) with the IDF of the list's term."""

    def __init__(self, settings: StorySettings) -> None:
        """Keep the settings and declare the counter."""
        self.settings = settings
        self.capped = Metrics.counter(STAGE, "posting_lists_capped")

    def process(
        self,
        element: tuple[tuple[bool, int, str], Iterable[MemberRecord]],
        df: Mapping[str, int],
        n_docs: int,
    ) -> Iterator[tuple[str, ListCandidates]]:
        """Yield ``(article_id, (evidence, near ids, far ids))`` for the list's members."""
        (near_list, bucket, term), grouped = element
        members = [_Member(*record) for record in grouped]
        if not any(m.is_new for m in members):
            return
        if len(members) > self.settings.posting_cap + 1:
            self.capped.inc()
        evidence = evidence_of(term, df, n_docs)
        yield from posting_candidates(near_list, bucket, members, self.settings, evidence)


def evidence_of(term: str, df: Mapping[str, int], n_docs: int) -> int:
    """What sharing a key says about a pair: the key term's IDF, in millionths.

    An integer, so that a pair's sum is exact in any order of combining (floats are not
    associative, and a last-bit difference could reorder two candidates between runs). A key
    missing from ``df`` (a SimHash band of the vectors) counts as a term of one article: rare.
    """
    return round(idf_value(df.get(term, 1), n_docs) * 1_000_000)


def summed_evidence(lists: Iterable[ListCandidates]) -> list[tuple[str, int, bool]]:
    """An article's candidates over all the lists it is in: ``(other, summed evidence, near)``.

    ``near`` is a property of the pair (its time gap), the same from every list.
    """
    totals: dict[str, int] = {}
    near: set[str] = set()
    for evidence, near_others, far_others in lists:
        for other in near_others:
            totals[other] = totals.get(other, 0) + evidence
        near.update(near_others)
        for other in far_others:
            totals[other] = totals.get(other, 0) + evidence
    return [(other, total, other in near) for other, total in totals.items()]


def kept_candidates(
    article_id: str, candidates: Iterable[tuple[str, int, bool]], limit: int
) -> Iterator[tuple[tuple[str, str], bool]]:
    """The ``limit`` candidates of an article with the most evidence (all when ``limit`` is 0).

    Ties go to the smaller id, so the choice does not depend on the order of arrival.
    """
    ranked = sorted(candidates, key=lambda c: (-c[1], c[0]))
    for other, _, near in ranked[:limit] if limit else ranked:
        yield (article_id, other) if article_id < other else (other, article_id), near


class PackedFeatures(NamedTuple):
    """``StoryFeatures`` in flat fields: the copy that travels with each candidate pair.

    An article's features are copied once per candidate pair; a few strings and byte strings
    instead of ~200 objects keep those copies about five times smaller in a worker's memory.
    """

    article_id: str
    published_at: Optional[str]
    language: str
    terms: str
    weights: bytes
    vector: bytes


def pack_features(features: StoryFeatures) -> PackedFeatures:
    """Pack features losslessly (weights and vector as float64 bytes)."""
    return PackedFeatures(
        features.article_id,
        features.published_at,
        features.language,
        joined_terms(features.terms, features.article_id),
        array("d", features.weights).tobytes(),
        array("d", features.vector).tobytes(),
    )


def unpack_features(packed: PackedFeatures) -> StoryFeatures:
    """The ``StoryFeatures`` that ``pack_features`` packed, exactly."""
    return StoryFeatures(
        article_id=packed.article_id,
        published_at=packed.published_at,
        language=packed.language,
        terms=packed.terms.split(TERM_SEP) if packed.terms else [],
        weights=array("d", packed.weights).tolist(),
        vector=array("d", packed.vector).tolist(),
    )


def preferred_features(copies: Iterable[tuple[bool, StoryFeatures]]) -> Optional[StoryFeatures]:
    """The features of an article seen in this run and/or in history: this run's copy wins."""
    best: Optional[tuple[bool, StoryFeatures]] = None
    for copy in copies:
        if best is None or (copy[0] and not best[0]):
            best = copy
    return best[1] if best else None


def uses_weighted_copies(scorer: StoryScorer) -> bool:
    """Whether pairs can carry IDF-weighted copies (``copy_similarity``) instead of features.

    Only the default term scorer: another scorer reads the features themselves (a vector ...).
    """
    return type(scorer) is TermScorer


# What travels with a candidate pair to its second end: the first end's weighted copy or features.
FirstCopy = tuple[Union[WeightedCopy, PackedFeatures], bool]


class _ToSecondFn(_IdfFn):
    """(a, {features, pairs (b, near)}) -> (b, (a's copy, near)) for each pair of a.

    a's copy is made once for all its pairs: with the default scorer its terms weighted by IDF
    (``weighted_copy``), else its packed features.
    """

    def __init__(self, weighted: bool) -> None:
        """``weighted``: send ``weighted_copy``s (``uses_weighted_copies``)."""
        self.weighted = weighted

    def process(
        self,
        element: tuple[str, dict[str, Iterable[Any]]],
        df: Mapping[str, int],
        n_docs: int,
    ) -> Iterator[tuple[str, FirstCopy]]:
        """Yield ``(b, (copy of a, near))`` for each pair ``(b, near)`` of a."""
        _, joined = element
        first = preferred_features(joined["features"])
        if first is None:
            return
        copy: Union[WeightedCopy, PackedFeatures]
        if self.weighted:
            copy = weighted_copy(first, self.element_idf(df, n_docs))
        else:
            copy = pack_features(first)
        for second, near in joined["pairs"]:
            yield second, (copy, near)


class _ScorePairsFn(_IdfFn):
    """(b, {features, firsts}): score b with each first's copy; emit the pairs that pass."""

    def __init__(self, settings: StorySettings, scorer: StoryScorer) -> None:
        """Keep the settings and the scorer (pickled with the DoFn)."""
        self.settings = settings
        self.scorer = scorer
        self.compared = Metrics.counter(STAGE, "pairs_compared")

    def process(
        self,
        element: tuple[str, dict[str, Iterable[Any]]],
        df: Mapping[str, int],
        n_docs: int,
    ) -> Iterator[tuple[tuple[str, str], tuple[float, bool, bool]]]:
        """Yield ((a, b), (score, near, may_bypass)) for the pairs whose score passes.

        ``near``: within ``window_hours``. ``may_bypass``: the pair may be kept for its score
        alone (``strong_threshold``), which only near same-language pairs may; the others need
        the rank rule.
        """
        _, joined = element
        b = preferred_features(joined["features"])
        if b is None:
            return
        idf = self.element_idf(df, n_docs)
        settings = self.settings
        for copy, near in joined["firsts"]:
            self.compared.inc()
            if isinstance(copy, PackedFeatures):
                a = unpack_features(copy)
                a_id, a_language = a.article_id, a.language
                score = self.scorer.score(a, b, idf)
            else:
                a_id, a_language = copy[0], copy[1]
                score = copy_similarity(copy, b, idf)
            if score >= languages_threshold(a_language, b.language, settings, near):
                yield (a_id, b.article_id), (score, near, near and a_language == b.language)


# (score, among the end's k best, may bypass the rank rule, within the window)
Vote = tuple[float, bool, bool, bool]


def neighbour_votes(
    node: str, edges: Iterable[tuple[str, float, bool, bool]], k: int
) -> list[tuple[tuple[str, str], Vote]]:
    """For each edge ``(other, score, near, may_bypass)`` of ``node``: (pair, this end's vote).

    A near edge is ranked among the node's near edges: a follow-up months later does not take
    the place of its best neighbour within the window. A far edge is ranked among all of them:
    it counts only when nothing within the window is closer.
    """
    ranked = sorted(edges, key=lambda e: (-e[1], e[0]))
    votes = []
    near_rank = 0
    for rank, (other, score, near, may_bypass) in enumerate(ranked):
        position = near_rank if near else rank
        near_rank += near
        pair = (node, other) if node < other else (other, node)
        votes.append((pair, (score, k <= 0 or position < k, may_bypass, near)))
    return votes


def keep_edge(votes: Iterable[Vote], strong: float, mutual: bool, far_mutual: bool = False) -> bool:
    """Keep a strong near same-language edge, else one that both ends (``mutual``; for far
    edges ``far_mutual``) or either end ranks among its top-k."""
    votes = list(votes)
    if any(v[2] and v[0] >= strong for v in votes):
        return True
    ranked = [v[1] for v in votes]
    both = mutual if all(v[3] for v in votes) else far_mutual
    return len(ranked) == 2 and all(ranked) if both else any(ranked)


def _to_edge(element: tuple[tuple[str, str], Iterable[Vote]]) -> StoryEdge:
    """Turn a kept pair into a ``StoryEdge``."""
    (a, b), votes = element
    return StoryEdge(a, b, round(max(v[0] for v in votes), 6))


class SameStoryEdges(beam.PTransform):
    """``PCollection[StoryFeatures]`` -> ``PCollection[StoryEdge]`` between same-story articles.

    With ``history`` (features of earlier runs' articles), also links new articles to old ones;
    never old to old (those edges were produced by the run that saw them).
    """

    def __init__(
        self,
        settings: StorySettings = StorySettings(),
        scorer: Optional[StoryScorer] = None,
        history: Optional[PCollection] = None,
    ) -> None:
        """Configure the layer; ``history`` is a PCollection of earlier runs' ``StoryFeatures``."""
        super().__init__()
        self.settings = settings
        self.scorer: StoryScorer = scorer or TermScorer()
        self.history = history

    def expand(self, features: PCollection) -> PCollection:
        """Count terms, post keys, pair posting lists, join features, score, keep ranked edges."""
        tagged = [features | "TagNew" >> beam.Map(lambda f: (True, f))]
        if self.history is not None:
            tagged.append(self.history | "TagHistory" >> beam.Map(lambda f: (False, f)))
        articles = tagged | "FlattenArticles" >> beam.Flatten()
        df = (
            articles
            | "TermsOf" >> beam.Map(lambda e: e[1].terms)
            | "CountTerms" >> beam.CombineGlobally(SharedTermCounts())
        )
        n_docs = articles | "CountArticles" >> combiners.Count.Globally()
        limit = self.settings.max_candidates
        pairs = (
            articles
            | "PostKeys"
            >> beam.ParDo(_PostKeysFn(self.settings), AsSingleton(df), AsSingleton(n_docs))
            | "GroupPostings" >> beam.GroupByKey()
            | (
                "PostingCandidates"
                >> beam.ParDo(
                    _PostingCandidatesFn(self.settings), AsSingleton(df), AsSingleton(n_docs)
                ).with_output_types(tuple[str, ListCandidates])
            )
            # The same pair may share several keys: it is compared once, with their summed
            # evidence, which each end adds up over the lists it is in.
            | "GroupCandidates" >> beam.GroupByKey()
            | (
                "KeepCandidates"
                >> beam.FlatMap(lambda kv: kept_candidates(kv[0], summed_evidence(kv[1]), limit))
            )
            # A pair that both ends keep comes twice.
            | "DistinctPairs" >> beam.Distinct()
        )
        by_id = articles | "KeyFeatures" >> beam.Map(lambda e: (e[1].article_id, e))
        firsts = (
            {
                "features": by_id,
                "pairs": pairs | "ByFirst" >> beam.Map(lambda p: (p[0][0], (p[0][1], p[1]))),
            }
            | "JoinFirst" >> beam.CoGroupByKey()
            | (
                "ToSecond"
                >> beam.ParDo(
                    _ToSecondFn(uses_weighted_copies(self.scorer)),
                    AsSingleton(df),
                    AsSingleton(n_docs),
                )
            )
        )
        scored = (
            {"features": by_id, "firsts": firsts}
            | "JoinSecond" >> beam.CoGroupByKey()
            | (
                "ScoreCandidates"
                >> beam.ParDo(
                    _ScorePairsFn(self.settings, self.scorer), AsSingleton(df), AsSingleton(n_docs)
                )
            )
        )
        k = self.settings.top_k
        strong = self.settings.strong_threshold
        mutual = self.settings.mutual
        far_mutual = self.settings.far_mutual
        return (
            scored
            | "ByEnd"
            >> beam.FlatMap(
                lambda kv: [
                    (kv[0][0], (kv[0][1], *kv[1])),
                    (kv[0][1], (kv[0][0], *kv[1])),
                ]
            )
            | "GroupByEnd" >> beam.GroupByKey()
            | "RankNeighbours" >> beam.FlatMap(lambda kv: neighbour_votes(kv[0], kv[1], k))
            | "GroupVotes" >> beam.GroupByKey()
            | "KeepRankedEdges"
            >> beam.Filter(lambda kv: keep_edge(kv[1], strong, mutual, far_mutual))
            | "ToEdges" >> beam.Map(_to_edge).with_output_types(StoryEdge)
        )
