"""Streaming state: fetch each link once, and label copies across windows (global window + TTL).

Batch dedup (``transforms/dedup/articles.py``) compares a whole run at once with GroupByKeys; a
streaming job never has "the whole run", so these transforms keep what they have seen in per-key
state in the *global* window (state in a fixed window would only catch copies inside that window)
and a watermark timer clears each key ``ttl_s`` after it was set (the state would otherwise grow
forever).

- ``SkipSeenLinks``: the streaming analogue of the batch ledger. A feed lists the same article on
  every poll; its link is let through the first time and filtered (``already_fetched``) while it
  keeps being listed. Each sighting pushes the TTL back, so a link is fetched again only after it
  has been absent from every feed for ``ttl_s``.
- ``StreamDedup``: three layers, one stateful step each, strongest first: ``url`` (url_key of the
  article URL), ``canonical_url`` (url_key of rel=canonical) and ``exact_text`` (content hash,
  bodies of at least 40 words as in batch). The first article seen for a key is the original; a
  later one is labelled ``duplicate_of`` = the original's id, ``dup_method`` = the layer. An
  article labelled by an earlier layer does not get a second label, but registers its original
  under the later layers' keys if they are free, so copies of copies point at the first article.
  The TTL counts from the first article (not refreshed): a copy arriving more than ``ttl_s``
  after its original is written unlabelled. Re-fetching the very same article id while it is
  remembered is filtered (``already_written``), so an article is written once.
"""

from collections.abc import Iterable
from typing import Any, Optional

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import Article, FeedEntry
from transforms.core.urls import normalize_url, url_key
from transforms.dedup.articles import MIN_WORDS_FOR_TEXT_MATCH

DEDUP_STAGE = "stream_dedup"
SEEN_STAGE = "stream_seen"
# Strongest evidence first: an article gets the label of the first layer that matches.
LAYERS = ("url", "canonical_url", "exact_text")


def layer_key(article: Article, layer: str) -> str:
    """The state key of ``article`` in ``layer``; "" when the layer cannot compare it."""
    if layer == "url":
        return url_key(article.url)
    if layer == "canonical_url":
        return url_key(article.canonical_url) if article.canonical_url else ""
    if layer == "exact_text":
        # Short identical bodies are boilerplate, not copies (same rule as batch dedup).
        return article.content_hash if article.word_count >= MIN_WORDS_FOR_TEXT_MATCH else ""
    raise ValueError(f"unknown dedup layer {layer!r}")


def original_id(article: Article) -> str:
    """The id an article's copies should point at: its own, or its original's."""
    return article.duplicate_of or article.article_id


def decide_copy(
    article: Article, layer: str, known: Optional[str]
) -> tuple[Optional[Article], Optional[str]]:
    """Compare ``article`` with the id stored for its key: (article to emit or None, id to store).

    None as the article means: the same article was already written (filter it).
    """
    if known is None:
        return article, original_id(article)
    if known == article.article_id:
        return None, None
    if article.duplicate_of is not None:
        return article, None
    return article._replace(duplicate_of=known, dup_method=layer, dup_score=1.0), None


def with_story(article: Article) -> Article:
    """Streaming has no story grouping: an article's story is its copy group (its original)."""
    return article._replace(story_id=original_id(article))


# State and timer specs, and their DoFn parameters (module-level: Beam matches them by identity).
FIRST_SPEC = ReadModifyWriteStateSpec("first", StrUtf8Coder())
SEEN_SPEC = ReadModifyWriteStateSpec("seen", StrUtf8Coder())
FIRST_EXPIRY_SPEC = TimerSpec("first_expiry", TimeDomain.WATERMARK)
SEEN_EXPIRY_SPEC = TimerSpec("seen_expiry", TimeDomain.WATERMARK)
_FIRST = beam.DoFn.StateParam(FIRST_SPEC)
_SEEN = beam.DoFn.StateParam(SEEN_SPEC)
_FIRST_EXPIRY = beam.DoFn.TimerParam(FIRST_EXPIRY_SPEC)
_SEEN_EXPIRY = beam.DoFn.TimerParam(SEEN_EXPIRY_SPEC)


class _FirstSeenDedupFn(beam.DoFn):
    """One dedup layer: remember the first article id per key, label later ones, expire by TTL."""

    def __init__(self, layer: str, ttl_s: float) -> None:
        self._layer = layer
        self._ttl = Duration.of(ttl_s)
        self._labelled = Metrics.counter(DEDUP_STAGE, f"labelled_{layer}")
        self._expired = Metrics.counter(DEDUP_STAGE, f"expired_{layer}")

    def process(
        self,
        kv: tuple[str, Article],
        timestamp: Any = beam.DoFn.TimestampParam,
        first: Any = _FIRST,
        expiry: Any = _FIRST_EXPIRY,
    ) -> Iterable[Any]:
        key, article = kv
        if not key:
            yield article  # this layer cannot compare it (no canonical URL, short text)
            return
        out, store = decide_copy(article, self._layer, first.read())
        if store is not None:
            first.write(store)
            # TTL from the original's event time: state is cleared once the watermark passes it.
            expiry.set(Timestamp.of(timestamp) + self._ttl)
        if out is None:
            yield TaggedOutput(
                FILTERED,
                filtered(
                    DEDUP_STAGE,
                    article.url,
                    article.outlet_id,
                    "already_written",
                    f"article {article.article_id} was written earlier ({self._layer} state)",
                ),
            )
            return
        if out.dup_method == self._layer:
            self._labelled.inc()
        yield out

    @on_timer(FIRST_EXPIRY_SPEC)
    def expire(self, first: Any = _FIRST) -> None:
        self._expired.inc()
        first.clear()


class StreamDedup(beam.PTransform):
    """Article -> Article labelled across windows (url, canonical_url, exact_text), + filtered.

    Returns ``(articles, filtered)``, both in the global window (re-window downstream).
    """

    def __init__(self, ttl_s: float) -> None:
        super().__init__()
        self._ttl_s = ttl_s

    def expand(self, articles: PCollection) -> Any:
        current = articles | "IntoGlobalWindow" >> beam.WindowInto(GlobalWindows())
        dropped = []
        for layer in LAYERS:
            label = "".join(part.title() for part in layer.split("_"))
            results = (
                current
                | f"KeyBy{label}"
                >> beam.Map(lambda a, layer=layer: (layer_key(a, layer), a)).with_output_types(
                    tuple[str, Article]
                )
                | f"Dedup{label}"
                >> beam.ParDo(_FirstSeenDedupFn(layer, self._ttl_s))
                .with_output_types(Article)
                .with_outputs(FILTERED, main="articles")
            )
            current = results.articles
            dropped.append(results[FILTERED])
        labelled = current | "StoryIsCopyGroup" >> beam.Map(with_story).with_output_types(Article)
        return labelled, tuple(dropped) | "AllDedupFiltered" >> beam.Flatten()


class _SkipSeenLinkFn(beam.DoFn):
    """Let a link through the first time; filter it while it is seen again within the TTL."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl = Duration.of(ttl_s)
        self._skipped = Metrics.counter(SEEN_STAGE, "already_fetched")

    def process(
        self,
        kv: tuple[str, FeedEntry],
        timestamp: Any = beam.DoFn.TimestampParam,
        seen: Any = _SEEN,
        expiry: Any = _SEEN_EXPIRY,
    ) -> Iterable[Any]:
        _link_key, entry = kv
        # Every sighting pushes the expiry back: forget a link only once no feed lists it.
        expiry.set(Timestamp.of(timestamp) + self._ttl)
        first_seen = seen.read()
        if first_seen is None:
            seen.write(Timestamp.of(timestamp).to_rfc3339())
            yield entry
            return
        self._skipped.inc()
        yield TaggedOutput(
            FILTERED,
            filtered(
                SEEN_STAGE,
                entry.link,
                entry.outlet_id,
                "already_fetched",
                f"listed since {first_seen}",
            ),
        )

    @on_timer(SEEN_EXPIRY_SPEC)
    def expire(self, seen: Any = _SEEN) -> None:
        seen.clear()


class SkipSeenLinks(beam.PTransform):
    """FeedEntry -> entries not seen within the TTL, + ``already_fetched`` (global window)."""

    def __init__(self, ttl_s: float) -> None:
        super().__init__()
        self._ttl_s = ttl_s

    def expand(self, entries: PCollection) -> Any:
        results = (
            entries
            | "IntoGlobalWindow" >> beam.WindowInto(GlobalWindows())
            | "KeyByLink"
            >> beam.Map(lambda e: (normalize_url(e.link), e)).with_output_types(
                tuple[str, FeedEntry]
            )
            | "SkipSeen"
            >> beam.ParDo(_SkipSeenLinkFn(self._ttl_s))
            .with_output_types(FeedEntry)
            .with_outputs(FILTERED, main="entries")
        )
        return results.entries, results[FILTERED]
