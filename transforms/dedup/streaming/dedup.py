"""StreamDedup: batch dedup's five layers across windows, with keyed state and a TTL.

```
Article (fixed windows)
  -> Signatures      url/canonical/content keys, MinHash + band keys, story features (batch's)
  -> CopyIndex       state per exact key and LSH band key -> copy edges, near-duplicate requests
  -> CountTerms      state per vocabulary shard: document frequencies over the TTL -> StoryItems
  -> PostingIndex    state per term: inverted index -> same-story requests
  -> ArticleStore    state per article id: MinHash, fingerprints, story item -> verified edges
  -> Resolve         one small state: labels, stories, merges -> Assignment, Story rows, filtered
  -> AttachLabels    state per article id: the article with its labels
```

Every stateful step runs in the global window after a GroupByKey per fixed window: the window's
arrivals for a key are processed together, sorted by stable keys, against what earlier windows
stored. Details and limits: docs/streaming.md ("Near-duplicates and stories").
"""

from collections.abc import Iterable
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.pvalue import PCollection
from apache_beam.transforms import trigger
from apache_beam.transforms.window import FixedWindows, GlobalWindows

from transforms.core.outputs import FILTERED
from transforms.core.records import Article
from transforms.dedup.articles import DEFAULT_NEAR, DEFAULT_STORY
from transforms.dedup.near.settings import NearDupSettings
from transforms.dedup.story.settings import StorySettings
from transforms.dedup.streaming.elements import (
    StoreNear,
    StoreStory,
    StreamSignature,
    copy_posts,
    stream_signature,
    term_posts,
)
from transforms.dedup.streaming.keyed import (
    NEAR_REQUESTS,
    ArticleStoreFn,
    AttachLabelsFn,
    CopyIndexFn,
    PostingIndexFn,
    TermDfFn,
    postings,
    story_item,
)
from transforms.dedup.streaming.resolve import RESOLVER_KEY, STORIES, ResolveWindowFn

# A stateful step's input: a str key (a deterministic coder) and one window's items.
Grouped = tuple[str, Iterable[Any]]


class StreamDedupOutputs(NamedTuple):
    """Labelled articles, story rows of the windows that touched them, filtered re-fetches."""

    articles: PCollection
    stories: PCollection
    filtered: PCollection


def store_near(sig: StreamSignature) -> list[tuple[str, StoreNear]]:
    """The store message of an article's MinHash and fingerprints, if it has them."""
    if sig.minhash is None or sig.fingerprints is None:
        return []
    return [(sig.node.article_id, StoreNear(sig.minhash, sig.fingerprints))]


class StreamDedup(beam.PTransform):
    """Article -> labelled Article (url, canonical, exact, near, same story), Story rows, filtered.

    ``articles`` may be in any windowing: they are re-windowed into ``window_s`` fixed windows
    (late firings within ``allowed_lateness_s``, like the output windows). Outputs carry their
    window's end as timestamp and are in the global window (re-window downstream).
    """

    def __init__(
        self,
        ttl_s: float,
        window_s: float,
        allowed_lateness_s: float = 0.0,
        near: Optional[NearDupSettings] = DEFAULT_NEAR,
        story: StorySettings = DEFAULT_STORY,
    ) -> None:
        super().__init__()
        self._ttl_s = ttl_s
        self._window_s = window_s
        self._lateness_s = allowed_lateness_s
        self._near = near
        self._story = story

    def _windows(self) -> beam.WindowInto:
        """Fixed windows firing at the watermark and per late element (a new instance per use)."""
        return beam.WindowInto(
            FixedWindows(self._window_s),
            trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
            allowed_lateness=self._lateness_s,
        )

    def _keyed_state(self, pcoll: PCollection, name: str, step: beam.ParDo) -> Any:
        """Group one window's items per key, then run the stateful ``step`` in the global window."""
        return (
            pcoll
            | f"{name}Group" >> beam.GroupByKey()
            | f"{name}Global" >> beam.WindowInto(GlobalWindows())
            | name >> step
        )

    def _rewindow(self, parts: dict[str, PCollection], label: str) -> PCollection:
        """Re-window each input into the fixed windows, then flatten them."""
        return [
            pcoll | f"{label}{name}Windows" >> self._windows() for name, pcoll in parts.items()
        ] | f"{label}All" >> beam.Flatten()

    def expand(self, articles: PCollection) -> Any:  # StreamDedupOutputs
        ttl, near, story = self._ttl_s, self._near, self._story
        windowed = articles | "DedupWindows" >> self._windows()
        sigs = windowed | "Signatures" >> beam.Map(stream_signature, near, story).with_output_types(
            StreamSignature
        )

        copy = self._keyed_state(
            sigs | "CopyPosts" >> beam.FlatMap(copy_posts),
            "CopyIndex",
            beam.ParDo(CopyIndexFn(ttl, (near or DEFAULT_NEAR).max_bucket))
            .with_input_types(Grouped)
            .with_outputs(NEAR_REQUESTS, main="edges"),
        )

        term_counts = self._keyed_state(
            sigs | "TermPosts" >> beam.FlatMap(term_posts),
            "CountTerms",
            beam.ParDo(TermDfFn(ttl)).with_input_types(Grouped),
        )
        items = (
            {
                "features": sigs
                | "KeyFeatures" >> beam.Map(lambda s: (s.node.article_id, s.features)),
                "df": term_counts | "TermCountWindows" >> self._windows(),
            }
            | "JoinTermCounts" >> beam.CoGroupByKey()
            | "StoryItems" >> beam.FlatMap(story_item)
        )
        story_requests = self._keyed_state(
            items | "Postings" >> beam.FlatMap(postings, story),
            "PostingIndex",
            beam.ParDo(PostingIndexFn(ttl, story)).with_input_types(Grouped),
        )
        store_input = self._rewindow(
            {
                "StoreNear": sigs | "StoreNear" >> beam.FlatMap(store_near),
                "StoreStory": items
                | "StoreStory" >> beam.Map(lambda i: (i.features.article_id, StoreStory(i))),
                "NearRequests": copy[NEAR_REQUESTS],
                "StoryRequests": story_requests,
            },
            "Store",
        )
        store_edges = self._keyed_state(
            store_input,
            "ArticleStore",
            beam.ParDo(ArticleStoreFn(ttl, near, story)).with_input_types(Grouped),
        )

        resolver_input = self._rewindow(
            {
                "Nodes": sigs | "Nodes" >> beam.Map(lambda s: s.node),
                "CopyEdges": copy.edges,
                "StoreEdges": store_edges,
            },
            "Resolver",
        ) | "KeyForResolver" >> beam.Map(lambda item: (RESOLVER_KEY, item))
        resolved = self._keyed_state(
            resolver_input,
            "Resolve",
            beam.ParDo(ResolveWindowFn(ttl, self._window_s, story))
            .with_input_types(Grouped)
            .with_outputs(STORIES, FILTERED, main="assignments"),
        )

        labelled = (
            (
                windowed
                | "ArticlesGlobal" >> beam.WindowInto(GlobalWindows())
                | "KeyArticles" >> beam.Map(lambda a: (a.article_id, a)),
                resolved.assignments | "KeyAssignments" >> beam.Map(lambda d: (d.article_id, d)),
            )
            | "ArticlesAndLabels" >> beam.Flatten()
            | "AttachLabels"
            >> beam.ParDo(AttachLabelsFn(ttl))
            .with_input_types(tuple[str, Any])
            .with_output_types(Article)
        )
        return StreamDedupOutputs(labelled, resolved[STORIES], resolved[FILTERED])
