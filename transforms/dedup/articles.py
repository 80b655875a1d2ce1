"""Stage 5: cross-outlet dedup. Copies are labelled and coverage is grouped into stories; no row
is ever deleted.

Layers propose edges between articles:

- ``url``: the same article URL up to edition and wrapper (``transforms.core.urls.url_key``:
  tracking parameters, ``www.``/``m.``/AMP variants, redirector links);
- ``canonical_url``: the same ``rel=canonical``/``og:url`` (same key function);
- ``exact_text``: the same normalized body (content hash);
- ``near_duplicate``: a lightly edited copy, 5-word-shingle Jaccard >= ``near_threshold``
  (``transforms/dedup/near/``: MinHash + LSH, verified);
- ``same_story``: other coverage of the same event (``transforms/dedup/story/``), which groups
  stories but never makes a copy.

Copies form *copy groups* (connected components, ``transforms/dedup/components.py``); the
canonical copy of a group is its earliest published article, then URL, and every other member
gets ``duplicate_of``, ``dup_method`` (the strongest layer that linked it) and ``dup_score``.
Story groups are components over all edges; every article gets a ``story_id``.

Earlier runs take part through their stored signatures (``<output>/signatures/``): a new article
can be a copy of an old one and join an old story, keeping the old canonical copy and the old
``story_id``. Old rows are never rewritten. A new article whose id is already stored is filtered
(``already_stored``): re-running a day does not write it twice.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import Article, DedupSignature, Story
from transforms.core.urls import stable_id, url_key
from transforms.dedup.components import ConnectedComponents
from transforms.dedup.near.edges import NearDuplicateEdges
from transforms.dedup.near.settings import NearDupEdge, NearDupSettings
from transforms.dedup.story.edges import SameStoryEdges
from transforms.dedup.story.features import story_features
from transforms.dedup.story.settings import StoryFeatures, StorySettings

STAGE = "dedup"
# Lower rank = stronger evidence; a row reports the strongest layer that linked it.
METHOD_RANK: dict[str, int] = {
    "url": 0,
    "canonical_url": 1,
    "exact_text": 2,
    "near_duplicate": 3,
    "same_story": 4,
}
COPY_METHODS = frozenset({"url", "canonical_url", "exact_text", "near_duplicate"})

OrderKey = tuple[bool, str, str, str]
# Bodies shorter than this are not matched by text: identical short bodies are boilerplate
# (video pages, "subscribe" stubs), not copies. On giveme5w1h an 89-character CNN video blurb
# shared by a North Korea and a Las Vegas article merged the two stories. Same value as
# extract.min_words, the too_short flag.
MIN_WORDS_FOR_TEXT_MATCH = 40
DEFAULT_STORY = StorySettings()
DEFAULT_NEAR = NearDupSettings()


class Edge(NamedTuple):
    """Two articles linked by ``method`` with a strength in 0..1 (``a`` and ``b`` are ids)."""

    a: str
    b: str
    method: str
    score: float


class Node(NamedTuple):
    """A signature in this run's graph, new (this run) or old (from an earlier run)."""

    signature: DedupSignature
    is_new: bool


def canonical_order(published_at: Optional[str], url: str, article_id: str) -> OrderKey:
    """Sort key of the canonical copy: earliest published first (unknown last), then URL, id."""
    return (published_at is None, published_at or "", url, article_id)


def node_order(sig: DedupSignature) -> OrderKey:
    """The canonical-copy sort key of a signature."""
    return canonical_order(sig.published_at, sig.url, sig.article_id)


def signature_of(article: Article, story: StorySettings = DEFAULT_STORY) -> DedupSignature:
    """The comparable, storable part of an article (story and copy labels filled in later)."""
    features = story_features(
        article.title,
        article.description,
        article.text,
        article.language,
        article.published_at or article.fetched_at,
        article.article_id,
        story,
    )
    return DedupSignature(
        article_id=article.article_id,
        url=article.url,
        outlet_id=article.outlet_id,
        language=article.language,
        title=article.title,
        published_at=article.published_at,
        fetched_at=article.fetched_at,
        url_key=url_key(article.url),
        canonical_key=url_key(article.canonical_url),
        content_hash=article.content_hash if article.word_count >= MIN_WORDS_FOR_TEXT_MATCH else "",
        story_id="",
        duplicate_of=None,
        dup_method=None,
        story_terms=features.terms,
        story_weights=features.weights,
    )


def features_of_signature(sig: DedupSignature) -> StoryFeatures:
    """The same-story features a signature carries."""
    return StoryFeatures(
        article_id=sig.article_id,
        published_at=sig.published_at or sig.fetched_at,
        language=sig.language,
        terms=list(sig.story_terms),
        weights=list(sig.story_weights),
    )


EXACT_LAYERS: Sequence[tuple[str, Callable[[DedupSignature], str]]] = (
    ("url", lambda s: s.url_key),
    ("canonical_url", lambda s: s.canonical_key),
    ("exact_text", lambda s: s.content_hash),
)


def star_edges(method: str, members: Iterable[tuple[OrderKey, bool]]) -> list[Edge]:
    """Link every member of a key group to its first member; nothing for groups without news.

    A star (not a clique) keeps the edge count linear. Groups of old articles only were linked
    when they were new.
    """
    ordered = sorted(set(members))
    if len(ordered) < 2 or not any(is_new for _order, is_new in ordered):
        return []
    first = ordered[0][0][3]
    return [Edge(order[3], first, method, 1.0) for order, _new in ordered[1:]]


def stored_edges(node: Node) -> list[Edge]:
    """Rebuild an old copy group: an old duplicate points at its old canonical copy again."""
    sig = node.signature
    if node.is_new or not sig.duplicate_of or sig.dup_method not in COPY_METHODS:
        return []
    return [Edge(sig.article_id, sig.duplicate_of, sig.dup_method, 1.0)]


def near_text(article: Article) -> list[tuple[str, str]]:
    """The (id, body) the near-duplicate layer compares; short bodies are not compared."""
    if article.word_count < MIN_WORDS_FOR_TEXT_MATCH:
        return []
    return [(article.article_id, article.text)]


def near_history(sig: DedupSignature) -> list[tuple[str, bytes]]:
    """An old article's stored MinHash signature, if it has one."""
    return [(sig.article_id, sig.minhash)] if sig.minhash else []


def near_edge(edge: NearDupEdge) -> Edge:
    """A verified near-duplicate pair as a copy edge scored by its estimated Jaccard."""
    return Edge(edge.a, edge.b, "near_duplicate", round(edge.score, 4))


class ArticleLabels(NamedTuple):
    """The labels of a written article that its stored signature repeats."""

    story_id: str
    duplicate_of: Optional[str]
    dup_method: Optional[str]


def labels_of(article: Article) -> tuple[str, ArticleLabels]:
    """An article's id and labels: all ``JoinLabels`` needs of it (not its text)."""
    return article.article_id, ArticleLabels(
        article.story_id, article.duplicate_of, article.dup_method
    )


def labelled_signature(kv: tuple[str, dict[str, list[Any]]]) -> Iterable[DedupSignature]:
    """The signature to store: labels of the written article plus its MinHash, if any."""
    _id, parts = kv
    minhash = parts["minhash"][0] if parts["minhash"] else None
    for labels in parts["article"]:
        yield with_labels(parts["sig"][0], labels)._replace(minhash=minhash)


def edge_pair(edge: Edge) -> tuple[str, str]:
    """The undirected pair of an edge, for connected components."""
    return (edge.a, edge.b) if edge.a < edge.b else (edge.b, edge.a)


def edge_ends(edge: Edge) -> Iterable[tuple[str, tuple[int, float]]]:
    """Each end of an edge with the edge's (rank, score)."""
    link = (METHOD_RANK[edge.method], edge.score)
    yield edge.a, link
    yield edge.b, link


def best_link(links: Iterable[tuple[int, float]]) -> tuple[int, float]:
    """The strongest link: lowest rank (strongest layer), then highest score."""
    return min(links, key=lambda link: (link[0], -link[1]))


class NodeState(NamedTuple):
    """A node with its copy group, story group and strongest copy and story links."""

    node: Node
    copy_label: str
    story_label: str
    copy_link: Optional[tuple[int, float]]
    story_link: Optional[tuple[int, float]]


def node_state(kv: tuple[str, dict[str, list[Any]]]) -> Iterable[NodeState]:
    """Join a node with its labels; a node on no edge is its own group."""
    node_id, parts = kv
    for node in parts["node"]:
        copy_label = parts["copy"][0] if parts["copy"] else node_id
        story_label = parts["story"][0] if parts["story"] else node_id
        copy_links = [link for link in parts["links"] if link[0] < METHOD_RANK["same_story"]]
        story_links = [link for link in parts["links"] if link[0] == METHOD_RANK["same_story"]]
        yield NodeState(
            node=node,
            copy_label=copy_label,
            story_label=story_label,
            copy_link=best_link(copy_links) if copy_links else None,
            story_link=best_link(story_links) if story_links else None,
        )


def choose_canonical(states: Sequence[NodeState]) -> str:
    """The canonical copy of a group: an old canonical copy if the group has one, else the earliest.

    Rows written by earlier runs already point at their old canonical copy; keeping it keeps the
    group consistent across runs.
    """
    old_canonical = [
        s.node.signature for s in states if not s.node.is_new and not s.node.signature.duplicate_of
    ]
    pool = old_canonical or [s.node.signature for s in states]
    return min(pool, key=node_order).article_id


def copy_assignments(kv: tuple[str, Iterable[NodeState]]) -> Iterable[tuple[str, tuple[str, str]]]:
    """For every new member of a copy group: (id, ("canonical", canonical id))."""
    states = list(kv[1])
    canonical = choose_canonical(states)
    for state in states:
        if state.node.is_new:
            yield state.node.signature.article_id, ("canonical", canonical)


def choose_story_id(states: Sequence[NodeState]) -> str:
    """A story keeps the id an earlier run gave it (its earliest old member's), else a new one."""
    old = [s.node.signature for s in states if not s.node.is_new and s.node.signature.story_id]
    if old:
        return min(old, key=node_order).story_id
    first = min((s.node.signature for s in states), key=node_order)
    return "st" + stable_id("story", first.article_id, size=15)


def story_of(states: Sequence[NodeState], story_id: str, run_id: str) -> Story:
    """The stories-table row of a story as of this run (old members included)."""
    sigs = sorted((s.node.signature for s in states), key=node_order)
    seen = sorted(sig.published_at or sig.fetched_at for sig in sigs)
    outlets = sorted({sig.outlet_id for sig in sigs})
    return Story(
        story_id=story_id,
        first_seen=seen[0],
        last_seen=seen[-1],
        article_count=len(sigs),
        outlet_count=len(outlets),
        outlets=outlets,
        languages=sorted({sig.language for sig in sigs}),
        representative_title=next((sig.title for sig in sigs if sig.title), None),
        representative_id=sigs[0].article_id,
        member_ids=sorted(sig.article_id for sig in sigs),
        run_id=run_id,
    )


class _StoryAssignmentsFn(beam.DoFn):
    """Per story group: the story id for every new member, and the story's table row."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id

    def process(self, kv: tuple[str, Iterable[NodeState]]) -> Iterable[Any]:
        states = list(kv[1])
        if not any(s.node.is_new for s in states):
            return
        story_id = choose_story_id(states)
        yield TaggedOutput("stories", story_of(states, story_id, self._run_id))
        # Other coverage exists only if the story holds more than one copy group: a source and
        # its own syndicated copies are one piece of coverage, not several.
        coverage = len({s.copy_label for s in states}) > 1
        for state in states:
            if state.node.is_new:
                yield state.node.signature.article_id, ("story", story_id)
                yield state.node.signature.article_id, ("coverage", coverage)


def label_article(kv: tuple[str, dict[str, list[Any]]]) -> Iterable[Article]:
    """Apply the copy and story assignments to a new article."""
    _id, parts = kv
    assigned = dict(parts["assigned"])
    (state,) = parts["state"]
    for article in parts["article"]:
        canonical = assigned.get("canonical", article.article_id)
        story_id = assigned["story"]
        if canonical != article.article_id and state.copy_link is not None:
            rank, score = state.copy_link
            method = next(m for m, r in METHOD_RANK.items() if r == rank)
            yield article._replace(
                duplicate_of=canonical, dup_method=method, dup_score=score, story_id=story_id
            )
        elif state.story_link is not None and assigned["coverage"]:
            # Coverage of the same story, not a copy: keeps its own row as an original.
            yield article._replace(
                duplicate_of=None,
                dup_method="same_story",
                dup_score=state.story_link[1],
                story_id=story_id,
            )
        else:
            yield article._replace(
                duplicate_of=None, dup_method=None, dup_score=None, story_id=story_id
            )


def with_labels(sig: DedupSignature, labels: ArticleLabels) -> DedupSignature:
    """The signature to store: this run's labels of the article added."""
    return sig._replace(
        story_id=labels.story_id, duplicate_of=labels.duplicate_of, dup_method=labels.dup_method
    )


def stored_before(kv: tuple[str, dict[str, list[Any]]]) -> Iterable[tuple[str, bool]]:
    """``(id, True)`` for an id of this run that an earlier run stored too."""
    article_id, parts = kv
    if parts["new"] and parts["old"]:
        yield article_id, True


def split_already_stored(article: Article, stored: Mapping[str, bool]) -> Iterable[Any]:
    """New articles go on unless an earlier run stored the same id (then: filtered)."""
    if article.article_id in stored:
        yield TaggedOutput(
            FILTERED,
            filtered(
                STAGE,
                article.url,
                article.outlet_id,
                "already_stored",
                f"article {article.article_id} was written by an earlier run",
            ),
        )
    else:
        yield article


class _CountLabelsFn(beam.DoFn):
    """Count labelled rows per method (visible in the runner's metrics)."""

    def process(self, article: Article) -> Iterable[Article]:
        if article.dup_method:
            Metrics.counter(STAGE, f"labelled_{article.dup_method}").inc()
        yield article


class DedupOutputs(NamedTuple):
    """Labelled articles, this run's stories, signatures to store, and filtered re-ingestions."""

    articles: PCollection
    stories: PCollection
    signatures: PCollection
    filtered: PCollection


class DedupArticles(beam.PTransform):
    """Label copies and group stories across this run and the stored signatures of earlier runs."""

    def __init__(
        self,
        run_id: str = "run",
        history: Optional[PCollection] = None,
        rounds: int = 4,
        story: StorySettings = DEFAULT_STORY,
        near: Optional[NearDupSettings] = DEFAULT_NEAR,
    ) -> None:
        super().__init__()
        self._run_id = run_id
        self._history = history
        self._rounds = rounds
        self._story = story
        self._near = near

    def expand(self, articles: PCollection) -> Any:  # DedupOutputs
        history = self._history
        if history is None:
            history = articles.pipeline | "NoHistory" >> beam.Create([]).with_output_types(
                DedupSignature
            )
        # Only ids are joined (not whole articles): the ids seen before, usually none, are a
        # small side input of the split. On FnApiRunner a join holds its inputs decoded in
        # memory; joining the articles themselves cost 86 MB more peak RSS on 974 real pages
        # (770 -> 684 MB in process, benchmarks/pipeline.py's recording).
        stored = (
            {
                "new": articles | "KeyNewById" >> beam.Map(lambda a: (a.article_id, True)),
                "old": history | "KeyOldById" >> beam.Map(lambda s: (s.article_id, True)),
            }
            | "JoinStoredIds" >> beam.CoGroupByKey()
            | "StoredBefore" >> beam.FlatMap(stored_before)
        )
        split = articles | "SplitAlreadyStored" >> beam.FlatMap(
            split_already_stored, stored=beam.pvalue.AsDict(stored)
        ).with_output_types(Article).with_outputs(FILTERED, main="fresh")
        fresh = split.fresh
        story = self._story
        new_sigs = fresh | "NewSignatures" >> beam.Map(signature_of, story).with_output_types(
            DedupSignature
        )
        nodes = (
            new_sigs | "NewNodes" >> beam.Map(lambda s: Node(s, True)),
            history | "OldNodes" >> beam.Map(lambda s: Node(s, False)),
        ) | "AllNodes" >> beam.Flatten()

        copy_edges = [nodes | "StoredCopyEdges" >> beam.FlatMap(stored_edges)]
        for method, key_fn in EXACT_LAYERS:
            label = "".join(part.capitalize() for part in method.split("_"))
            copy_edges.append(
                nodes
                | f"KeyBy{label}"
                >> beam.FlatMap(
                    lambda n, f=key_fn: (
                        [(f(n.signature), (node_order(n.signature), n.is_new))]
                        if f(n.signature)
                        else []
                    )
                )
                | f"GroupBy{label}" >> beam.GroupByKey()
                | f"{label}Edges" >> beam.FlatMap(lambda kv, m=method: star_edges(m, kv[1]))
            )
        if self._near is not None:
            near = (
                fresh
                | "NearTexts" >> beam.FlatMap(near_text)
                | "NearDuplicates"
                >> (
                    NearDuplicateEdges(
                        self._near, history=history | "OldMinHashes" >> beam.FlatMap(near_history)
                    )
                )
            )
            copy_edges.append(near.edges | "NearEdges" >> beam.Map(near_edge))
            minhashes = near.signatures
        else:
            minhashes = articles.pipeline | "NoMinHashes" >> beam.Create([])
        copies = copy_edges | "CopyEdges" >> beam.Flatten()
        story_edges = (
            new_sigs
            | "NewStoryFeatures" >> beam.Map(features_of_signature)
            | "SameStory"
            >> SameStoryEdges(
                story,
                history=history | "OldStoryFeatures" >> beam.Map(features_of_signature),
            )
            | "StoryEdgesToEdges" >> beam.Map(lambda e: Edge(e.a, e.b, "same_story", e.score))
        )
        all_edges = (copies, story_edges) | "AllEdges" >> beam.Flatten()

        copy_labels = (
            copies
            | "CopyPairs" >> beam.Map(edge_pair)
            | "CopyGroups" >> ConnectedComponents(self._rounds)
        )
        story_labels = (
            all_edges
            | "StoryPairs" >> beam.Map(edge_pair)
            | "StoryGroups" >> ConnectedComponents(self._rounds)
        )
        links = all_edges | "EdgeEnds" >> beam.FlatMap(edge_ends)
        states = (
            {
                "node": nodes | "KeyNodes" >> beam.Map(lambda n: (n.signature.article_id, n)),
                "copy": copy_labels,
                "story": story_labels,
                "links": links,
            }
            | "JoinNodeLabels" >> beam.CoGroupByKey()
            | "NodeStates" >> beam.FlatMap(node_state)
        )
        canon = (
            states
            | "KeyByCopyGroup" >> beam.Map(lambda s: (s.copy_label, s))
            | "GroupCopies" >> beam.GroupByKey()
            | "ChooseCanonical" >> beam.FlatMap(copy_assignments)
        )
        stories = (
            states
            | "KeyByStoryGroup" >> beam.Map(lambda s: (s.story_label, s))
            | "GroupStories" >> beam.GroupByKey()
            | "AssignStories"
            >> beam.ParDo(_StoryAssignmentsFn(self._run_id)).with_outputs("stories", main="ids")
        )
        assigned = (canon, stories.ids) | "Assignments" >> beam.Flatten()
        labelled = (
            {
                "article": fresh | "KeyFresh" >> beam.Map(lambda a: (a.article_id, a)),
                "assigned": assigned,
                "state": states
                | "KeyStates" >> beam.Map(lambda s: (s.node.signature.article_id, s))
                | "OnlyNewStates" >> beam.Filter(lambda kv: kv[1].node.is_new),
            }
            | "JoinAssignments" >> beam.CoGroupByKey()
            | "LabelArticles" >> beam.FlatMap(label_article).with_output_types(Article)
            | "CountLabels" >> beam.ParDo(_CountLabelsFn()).with_output_types(Article)
        )
        signatures = (
            {
                "sig": new_sigs | "KeySignatures" >> beam.Map(lambda s: (s.article_id, s)),
                "article": labelled | "KeyLabelled" >> beam.Map(labels_of),
                "minhash": minhashes,
            }
            | "JoinLabels" >> beam.CoGroupByKey()
            | "LabelSignatures"
            >> beam.FlatMap(labelled_signature).with_output_types(DedupSignature)
        )
        return DedupOutputs(
            articles=labelled,
            stories=stories.stories,
            signatures=signatures,
            filtered=split[FILTERED],
        )
