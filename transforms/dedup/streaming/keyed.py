"""The sharded stateful steps of streaming dedup: indexes, term counts, the article store, the join.

Each step runs in the **global** window after a per-window GroupByKey, so it sees one key's
arrivals of one window at once (sorted by stable keys, never by arrival order) and compares them
with what earlier windows left in its state. Every stored entry carries its expiry (the window's
end + ``ttl_s``); entries are dropped once a later window passes it, and a watermark timer clears
a key when its last entry has expired.

- ``CopyIndexFn`` (key: url key, canonical key, content hash or LSH band key): an exact key links
  each new article to the first article of that key (batch's star edges); a band key sends the
  new article's MinHash and fingerprints to every article sharing the band (candidates).
- ``TermDfFn`` (key: a shard of the vocabulary): document frequencies over the TTL, per article
  as of its window.
- ``PostingIndexFn`` (key: term): an inverted index of every article's terms; an article queries
  its most distinctive terms and is compared with the nearest articles in time under each.
- ``ArticleStoreFn`` (key: article id): keeps each article's MinHash, fingerprints and story
  features once, and answers the requests sent to it: near-duplicate checks on the shingle
  fingerprints (``verify_pairs``) and same-story scores (the batch scorer and IDF).
- ``AttachLabelsFn`` (key: article id): joins the resolver's decision back onto the article.
"""

from collections.abc import Iterable, Iterator
from typing import Any, Optional

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.core.records import Article
from transforms.dedup.articles import Edge, near_edge
from transforms.dedup.near.hashing import unpack_signature
from transforms.dedup.near.pairs import PairHalves, verify_pairs
from transforms.dedup.near.settings import NearDupSettings
from transforms.dedup.story.edges import candidate_terms, epoch_hours, pair_threshold
from transforms.dedup.story.scoring import IdfFn, IdfTable, StoryScorer, TermScorer
from transforms.dedup.story.settings import StoryFeatures, StorySettings
from transforms.dedup.streaming.elements import (
    ALL_ARTICLES_TERM,
    COPY_KEY_METHODS,
    Assignment,
    CopyPost,
    NearRequest,
    Posting,
    StoreNear,
    StoreStory,
    StoryItem,
    StoryRequest,
    fingerprint_array,
)

STAGE = "stream_dedup"
NEAR_REQUESTS = "near_requests"
# An article is indexed under this many times ``candidate_keys`` of its terms (measured on
# giveme5w1h in 24 windows: docs/streaming.md).
STORED_TERMS_PER_KEY = 2
# A posting list keeps at most this many articles (the latest by time): a query compares with the
# ``posting_cap`` nearest in time, so older entries of a hot term would almost never be reached.
POSTINGS_KEPT_PER_CAP = 4

# State and timer specs (module-level: Beam matches them by identity).
_REFS_SPEC = ReadModifyWriteStateSpec("refs", PickleCoder())
_REFS_EXPIRY_SPEC = TimerSpec("refs_expiry", TimeDomain.WATERMARK)
_COUNTS_SPEC = ReadModifyWriteStateSpec("counts", PickleCoder())
_COUNTS_EXPIRY_SPEC = TimerSpec("counts_expiry", TimeDomain.WATERMARK)
_POSTINGS_SPEC = ReadModifyWriteStateSpec("postings", PickleCoder())
_POSTINGS_EXPIRY_SPEC = TimerSpec("postings_expiry", TimeDomain.WATERMARK)
_NEAR_SPEC = ReadModifyWriteStateSpec("near", PickleCoder())
_STORY_SPEC = ReadModifyWriteStateSpec("story", PickleCoder())
_STORE_EXPIRY_SPEC = TimerSpec("store_expiry", TimeDomain.WATERMARK)
_ARTICLES_SPEC = BagStateSpec("articles", PickleCoder())
_ASSIGNED_SPEC = BagStateSpec("assigned", PickleCoder())
_JOIN_EXPIRY_SPEC = TimerSpec("join_expiry", TimeDomain.WATERMARK)
_ARTICLES = beam.DoFn.StateParam(_ARTICLES_SPEC)
_ASSIGNED = beam.DoFn.StateParam(_ASSIGNED_SPEC)
_COUNTS = beam.DoFn.StateParam(_COUNTS_SPEC)
_NEAR = beam.DoFn.StateParam(_NEAR_SPEC)
_POSTINGS = beam.DoFn.StateParam(_POSTINGS_SPEC)
_REFS = beam.DoFn.StateParam(_REFS_SPEC)
_STORY = beam.DoFn.StateParam(_STORY_SPEC)
_COUNTS_EXPIRY = beam.DoFn.TimerParam(_COUNTS_EXPIRY_SPEC)
_JOIN_EXPIRY = beam.DoFn.TimerParam(_JOIN_EXPIRY_SPEC)
_POSTINGS_EXPIRY = beam.DoFn.TimerParam(_POSTINGS_EXPIRY_SPEC)
_REFS_EXPIRY = beam.DoFn.TimerParam(_REFS_EXPIRY_SPEC)
_STORE_EXPIRY = beam.DoFn.TimerParam(_STORE_EXPIRY_SPEC)


def micros(timestamp: Any) -> int:
    """A Beam timestamp in microseconds."""
    return int(Timestamp.of(timestamp).micros)


def at_micros(value: int) -> Timestamp:
    """The Beam timestamp of ``value`` microseconds."""
    return Timestamp(micros=value)


def ttl_micros(ttl_s: float) -> int:
    """A TTL in seconds as microseconds."""
    return int(Duration.of(ttl_s).micros)


def unique_posts(posts: Iterable[Any], known: set[str], key: Any) -> list[Any]:
    """Posts of ids not stored yet, one per id, sorted by ``key`` (stable, not arrival order)."""
    by_id: dict[str, Any] = {}
    for post in posts:
        if post.article_id not in known:
            by_id.setdefault(post.article_id, post)
    return sorted(by_id.values(), key=key)


class CopyIndexFn(beam.DoFn):
    """Exact keys -> copy edges to the key's first article; band keys -> near-duplicate requests.

    State per key: ``(article id, order, expiry)`` of the articles posted under it. A band key
    holding more than ``max_bucket`` articles is not used (counted), as batch skips such buckets.
    """

    def __init__(self, ttl_s: float, max_bucket: int) -> None:
        self._ttl = ttl_micros(ttl_s)
        self._max_bucket = max_bucket
        self._over_cap = Metrics.counter(STAGE, "band_buckets_over_cap")

    def process(
        self,
        kv: tuple[str, Iterable[CopyPost]],
        timestamp: Any = beam.DoFn.TimestampParam,
        refs: Any = _REFS,
        expiry: Any = _REFS_EXPIRY,
    ) -> Iterator[Any]:
        key, grouped = kv
        now = micros(timestamp)
        stored = [ref for ref in refs.read() or [] if ref[2] >= now]
        posts = unique_posts(grouped, {ref[0] for ref in stored}, lambda p: p.order)
        if not posts:
            return
        method = COPY_KEY_METHODS[key[0]]
        if method == "near_duplicate":
            if len(stored) + len(posts) > self._max_bucket:
                self._over_cap.inc()
                return
            earlier = [ref[0] for ref in stored]
            for post in posts:
                assert post.minhash is not None and post.fingerprints is not None
                request = NearRequest(post.article_id, post.minhash, post.fingerprints)
                for other in earlier:
                    yield TaggedOutput(NEAR_REQUESTS, (other, request))
                earlier.append(post.article_id)
        else:
            members = [(ref[1], ref[0]) for ref in stored]
            for post in posts:
                if members:
                    # A star to the key's first article, as batch links a key group.
                    yield Edge(post.article_id, min(members)[1], method, 1.0)
                members.append((post.order, post.article_id))
        stored.extend((post.article_id, post.order, now + self._ttl) for post in posts)
        refs.write(stored)
        expiry.set(at_micros(max(ref[2] for ref in stored)))

    @on_timer(_REFS_EXPIRY_SPEC)
    def expire(self, refs: Any = _REFS) -> None:
        refs.clear()


class TermDfFn(beam.DoFn):
    """(shard, (article id, terms) of a window) -> (article id, {term: df}): df over the TTL.

    State per shard of the vocabulary: the running counts of its terms and one ``(expiry,
    counts)`` bucket per window, subtracted when the bucket expires. The pseudo-term
    ``ALL_ARTICLES_TERM`` counts every article, so its df is N. An article's df includes itself
    and the other articles of its window.
    """

    def __init__(self, ttl_s: float) -> None:
        self._ttl = ttl_micros(ttl_s)

    def process(
        self,
        kv: tuple[str, Iterable[tuple[str, list[str]]]],
        timestamp: Any = beam.DoFn.TimestampParam,
        counts: Any = _COUNTS,
        expiry: Any = _COUNTS_EXPIRY,
    ) -> Iterator[tuple[str, dict[str, int]]]:
        _shard, grouped = kv
        now = micros(timestamp)
        stored: Optional[tuple[dict[str, int], list[tuple[int, dict[str, int]]]]] = counts.read()
        total, buckets = stored if stored is not None else ({}, [])
        for bucket_expiry, bucket in buckets:
            if bucket_expiry < now:
                for term, count in bucket.items():
                    left = total[term] - count
                    if left:
                        total[term] = left
                    else:
                        del total[term]
        buckets = [b for b in buckets if b[0] >= now]
        terms_of = dict(sorted(grouped))  # one entry per article id
        window: dict[str, int] = {}
        for terms in terms_of.values():
            for term in set(terms):
                window[term] = window.get(term, 0) + 1
        for term, count in window.items():
            total[term] = total.get(term, 0) + count
        for article_id, terms in terms_of.items():
            yield article_id, {term: total[term] for term in terms}
        buckets.append((now + self._ttl, window))
        counts.write((total, buckets))
        expiry.set(at_micros(now + self._ttl))

    @on_timer(_COUNTS_EXPIRY_SPEC)
    def expire(self, counts: Any = _COUNTS) -> None:
        counts.clear()


def story_item(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[StoryItem]:
    """Join an article's features with its terms' document frequencies (N under the "" term)."""
    _id, parts = kv
    df = {term: count for shard in parts["df"] for term, count in shard.items()}
    n_docs = max(1, df.pop(ALL_ARTICLES_TERM, 1))
    for features in list(parts["features"])[:1]:
        yield StoryItem(features, df, n_docs)


def stored_terms(features: StoryFeatures, idf: IdfFn, k: int) -> list[str]:
    """The ``k`` terms an article is indexed under for later articles: weight x IDF, any df.

    Unlike the query terms (``candidate_terms``, which need another article to share the term),
    no df filter: the terms nobody has used yet are the ones later coverage of a new event will
    share, and they have the highest IDF now.
    """
    ranked = sorted((-w * idf(t), t) for t, w in zip(features.terms, features.weights, strict=True))
    return [t for _, t in ranked[:k]]


def postings(item: StoryItem, settings: StorySettings) -> list[tuple[str, Posting]]:
    """Post an article under its indexed terms, and query its ``candidate_keys`` best terms.

    The query terms are batch's ``candidate_terms`` (weight x IDF, shared with another article)
    over the document frequencies as of the article's window; it is indexed under its
    ``STORED_TERMS_PER_KEY * candidate_keys`` best terms (``stored_terms``).
    """
    features = item.features
    hours = epoch_hours(features.published_at)
    if hours is None:
        Metrics.counter(STAGE, "undated_articles").inc()
        return []
    idf = IdfTable(item.df, item.n_docs)
    query = set(candidate_terms(features, idf, item.df, settings.candidate_keys))
    stored = set(stored_terms(features, idf, STORED_TERMS_PER_KEY * settings.candidate_keys))
    return [
        (
            term,
            Posting(features.article_id, hours, item if term in query else None, term in stored),
        )
        for term in sorted(query | stored)
    ]


class PostingIndexFn(beam.DoFn):
    """(term, postings of a window) -> (stored article id, StoryRequest) for each candidate pair.

    A querying article is compared with the ``posting_cap`` articles indexed under the term that
    are nearest to it in time within ``window_hours``: earlier windows' and this window's (two
    articles of one window that would find each other are paired once, by the later in order).
    """

    def __init__(self, ttl_s: float, settings: StorySettings) -> None:
        self._ttl = ttl_micros(ttl_s)
        self._window = settings.window_hours
        self._cap = settings.posting_cap
        self._keep = settings.posting_cap * POSTINGS_KEPT_PER_CAP

    def process(
        self,
        kv: tuple[str, Iterable[Posting]],
        timestamp: Any = beam.DoFn.TimestampParam,
        stored_state: Any = _POSTINGS,
        expiry: Any = _POSTINGS_EXPIRY,
    ) -> Iterator[tuple[str, StoryRequest]]:
        _term, grouped = kv
        now = micros(timestamp)
        stored = [ref for ref in stored_state.read() or [] if ref[2] >= now]
        posts = unique_posts(grouped, {ref[0] for ref in stored}, lambda p: (p.hours, p.article_id))
        if not posts:
            return
        for i, post in enumerate(posts):
            if post.item is None:
                continue
            others = [(ref[0], ref[1]) for ref in stored] + [
                (other.article_id, other.hours)
                for j, other in enumerate(posts)
                # Indexed here, and not the later of two that would find each other.
                if j != i and other.store and not (other.item and post.store and j > i)
            ]
            nearest = sorted(
                (abs(hours - post.hours), other_id)
                for other_id, hours in others
                if abs(hours - post.hours) <= self._window
            )
            for _gap, other_id in nearest[: self._cap]:
                yield other_id, StoryRequest(post.item)
        stored.extend(
            (post.article_id, post.hours, now + self._ttl) for post in posts if post.store
        )
        if not stored:
            return
        if len(stored) > self._keep:
            stored = sorted(stored, key=lambda ref: (ref[1], ref[0]))[-self._keep :]
        stored_state.write(stored)
        expiry.set(at_micros(max(ref[2] for ref in stored)))

    @on_timer(_POSTINGS_EXPIRY_SPEC)
    def expire(self, stored_state: Any = _POSTINGS) -> None:
        stored_state.clear()


def near_halves(
    article_id: str, stored: StoreNear, requests: list[NearRequest]
) -> list[PairHalves]:
    """The two halves of ``len(requests)`` pairs (requester, stored article) for verify_pairs."""
    n = len(requests)
    pair = np.arange(n, dtype=np.int64)
    own_signature = unpack_signature(stored.minhash)
    own_fingerprints = fingerprint_array(stored.fingerprints)
    return [
        PairHalves(
            pair=pair,
            side=np.zeros(n, dtype=np.uint8),
            history=False,
            ids=[r.article_id for r in requests],
            signatures=np.stack([unpack_signature(r.minhash) for r in requests]),
            fingerprints=[fingerprint_array(r.fingerprints) for r in requests],
        ),
        PairHalves(
            pair=pair,
            side=np.ones(n, dtype=np.uint8),
            history=False,
            ids=[article_id] * n,
            signatures=np.repeat(own_signature[None, :], n, axis=0),
            fingerprints=[own_fingerprints] * n,
        ),
    ]


def story_score(
    requester: StoryItem, stored: StoryItem, scorer: StoryScorer, settings: StorySettings
) -> Optional[float]:
    """The batch score of a pair if it passes its threshold, with the requester's (newer) IDF.

    Terms of both articles take the requester's document frequencies (counted up to its window);
    terms only the stored article has keep the counts of the stored article's window.
    """
    a, b = requester.features, stored.features
    hours_a, hours_b = epoch_hours(a.published_at), epoch_hours(b.published_at)
    if hours_a is None or hours_b is None or abs(hours_a - hours_b) > settings.window_hours:
        return None
    idf = IdfTable({**stored.df, **requester.df}, max(requester.n_docs, stored.n_docs))
    score = scorer.score(a, b, idf)
    return score if score >= pair_threshold(a, b, settings) else None


class ArticleStoreFn(beam.DoFn):
    """Per article id: keep its MinHash, fingerprints and story item; answer requests sent to it.

    Stores of the window come first, so two articles of one window can be compared. Near-duplicate
    requests are checked with the batch ``verify_pairs`` on the shingle fingerprints (both sides
    are known, so the check is exact, as for two articles of one batch run).
    """

    def __init__(
        self,
        ttl_s: float,
        near: Optional[NearDupSettings],
        story: StorySettings,
        scorer: Optional[StoryScorer] = None,
    ) -> None:
        self._ttl = ttl_micros(ttl_s)
        self._near = near
        self._story = story
        self._scorer: StoryScorer = scorer or TermScorer()
        self._unanswered = Metrics.counter(STAGE, "requests_for_unknown_articles")

    def process(
        self,
        kv: tuple[str, Iterable[Any]],
        timestamp: Any = beam.DoFn.TimestampParam,
        near_state: Any = _NEAR,
        story_state: Any = _STORY,
        expiry: Any = _STORE_EXPIRY,
    ) -> Iterator[Edge]:
        article_id, grouped = kv
        messages = list(grouped)
        now = micros(timestamp)
        near = near_state.read()
        story = story_state.read()
        near = near if near is not None and near[1] >= now else None
        story = story if story is not None and story[1] >= now else None
        for message in messages:
            if isinstance(message, StoreNear):
                near = (message, now + self._ttl)
                near_state.write(near)
            elif isinstance(message, StoreStory):
                story = (message.item, now + self._ttl)
                story_state.write(story)
        near_requests = {
            m.article_id: m
            for m in messages
            if isinstance(m, NearRequest) and m.article_id != article_id
        }
        story_requests = {
            m.item.features.article_id: m.item
            for m in messages
            if isinstance(m, StoryRequest) and m.item.features.article_id != article_id
        }
        if near_requests and self._near is not None:
            if near is None:
                self._unanswered.inc(len(near_requests))
            else:
                requests = [near_requests[key] for key in sorted(near_requests)]
                edges, _stats = verify_pairs(near_halves(article_id, near[0], requests), self._near)
                yield from (near_edge(edge) for edge in edges)
        if story_requests:
            if story is None:
                self._unanswered.inc(len(story_requests))
            else:
                for other_id in sorted(story_requests):
                    score = story_score(
                        story_requests[other_id], story[0], self._scorer, self._story
                    )
                    if score is not None:
                        yield Edge(other_id, article_id, "same_story", round(score, 6))
        ends = [entry[1] for entry in (near, story) if entry is not None]
        if ends:
            expiry.set(at_micros(max(ends)))

    @on_timer(_STORE_EXPIRY_SPEC)
    def expire(
        self,
        near_state: Any = _NEAR,
        story_state: Any = _STORY,
    ) -> None:
        near_state.clear()
        story_state.clear()


def labelled(article: Article, assignment: Assignment) -> Article:
    """The article with the resolver's labels."""
    return article._replace(
        story_id=assignment.story_id,
        duplicate_of=assignment.duplicate_of,
        dup_method=assignment.dup_method,
        dup_score=assignment.dup_score,
    )


class AttachLabelsFn(beam.DoFn):
    """Join each article with its assignment (whichever comes first waits in state)."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl = ttl_micros(ttl_s)

    def process(
        self,
        kv: tuple[str, Any],
        timestamp: Any = beam.DoFn.TimestampParam,
        articles: Any = _ARTICLES,
        assigned: Any = _ASSIGNED,
        expiry: Any = _JOIN_EXPIRY,
    ) -> Iterator[Article]:
        _id, item = kv
        waiting = list(articles.read())
        decisions = list(assigned.read())
        (waiting if isinstance(item, Article) else decisions).append(item)
        while waiting and decisions:
            article, decision = waiting.pop(0), decisions.pop(0)
            if decision.filtered_reason is None:
                yield labelled(article, decision)
        articles.clear()
        assigned.clear()
        for article in waiting:
            articles.add(article)
        for decision in decisions:
            assigned.add(decision)
        if waiting or decisions:
            expiry.set(at_micros(micros(timestamp) + self._ttl))

    @on_timer(_JOIN_EXPIRY_SPEC)
    def expire(
        self,
        articles: Any = _ARTICLES,
        assigned: Any = _ASSIGNED,
    ) -> None:
        articles.clear()
        assigned.clear()
