"""Decide a window's labels: copy groups, canonical copies, stories, story rows (pure + one DoFn).

The sharded steps (``keyed.py``) find the edges; this step turns one window's new articles and
their edges into labels, by batch's rules, against a small memory of what earlier windows
decided: for each remembered article its copy group's canonical copy and its story, and for each
story its members. That memory is the only place where labels of earlier articles live, so it is
one key (``RESOLVER_KEY``): it holds ids and a few fields per article (no texts, no signatures).

Batch's rules, as a run with history applies them, with earlier windows as the history:

- copy edges (url, canonical_url, exact_text, near_duplicate) make copy groups; a group that
  reaches an earlier window's group keeps that group's canonical copy (the earliest of them if it
  reaches several: the other groups' canonical copies become aliases of it), otherwise its
  canonical copy is its earliest published article, then URL; every other new member gets
  ``duplicate_of`` and the strongest layer that linked it;
- same-story edges are kept when strong, or when they are among a new article's ``top_k`` best
  (``neighbour_votes``/``keep_edge``; an earlier window's article does not vote: its edges to
  later windows are not known yet, so a weak edge to it must also reach ``cross_window_floor``);
- stories are connected components over both; a story that reaches earlier stories keeps the
  one whose first article is earliest; the others merge into it (their members join it, their ids
  become aliases so later articles that reach them get the surviving id);
- an original is labelled ``same_story`` when its story holds more than one copy group.

Rows already written are never rewritten: an original written before its coverage arrived keeps
its null label (batch, seeing both at once, labels it ``same_story``).
"""

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import DedupSignature, Story
from transforms.dedup.articles import (
    COPY_METHODS,
    METHOD_RANK,
    Edge,
    Node,
    NodeState,
    OrderKey,
    best_link,
    choose_story_id,
    story_of,
)
from transforms.dedup.story.edges import Vote, keep_edge, neighbour_votes
from transforms.dedup.story.settings import StorySettings
from transforms.dedup.streaming.elements import Assignment, NodeInfo
from transforms.dedup.streaming.keyed import STAGE, at_micros, micros, ttl_micros

RESOLVER_KEY = ""
STORIES = "stories"
ALREADY_WRITTEN = "already_written"

Token = tuple[str, str]


class Label(NamedTuple):
    """What later windows need of a decided article: its canonical copy and its story."""

    root: str
    root_order: OrderKey
    story_id: str
    expiry: int


class Member(NamedTuple):
    """A story member: the fields of its story row, its canonical copy, and its expiry."""

    node: NodeInfo
    root: str
    expiry: int


@dataclass
class StoryMemo:
    """A remembered story: the order key of its first article and its members within the TTL."""

    root_order: OrderKey
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class Memory:
    """The resolver's state: labels per article, members per story, where merged groups went."""

    labels: dict[str, Label] = field(default_factory=dict)
    stories: dict[str, StoryMemo] = field(default_factory=dict)
    # A merged story's id -> (the surviving story's id, expiry).
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)
    # A merged copy group's canonical copy -> (the surviving canonical copy, its order, expiry).
    copy_aliases: dict[str, tuple[str, OrderKey, int]] = field(default_factory=dict)

    def expire(self, now: int) -> None:
        """Forget articles, story members and aliases whose expiry has passed."""
        self.labels = {k: v for k, v in self.labels.items() if v.expiry >= now}
        for story_id in list(self.stories):
            memo = self.stories[story_id]
            memo.members = {k: m for k, m in memo.members.items() if m.expiry >= now}
            if not memo.members:
                del self.stories[story_id]
        self.aliases = {k: v for k, v in self.aliases.items() if v[1] >= now}
        self.copy_aliases = {k: v for k, v in self.copy_aliases.items() if v[2] >= now}

    def story_of(self, story_id: str) -> str:
        """The surviving id of a story (following merges)."""
        seen = {story_id}
        while story_id in self.aliases:
            story_id = self.aliases[story_id][0]
            if story_id in seen:
                break
            seen.add(story_id)
        return story_id

    def root_of(self, article_id: str) -> tuple[str, OrderKey]:
        """The canonical copy (and its order key) of a remembered article's copy group."""
        label = self.labels[article_id]
        root, order = label.root, label.root_order
        seen = {root}
        while root in self.copy_aliases:
            root, order, _until = self.copy_aliases[root]
            if root in seen:
                break
            seen.add(root)
        return root, order

    def story_order(self, story_id: str, fallback: OrderKey) -> OrderKey:
        """Order key of a story's first article (``fallback`` if the story is not remembered)."""
        memo = self.stories.get(story_id)
        return memo.root_order if memo is not None else fallback


class WindowLabels(NamedTuple):
    """What the resolver decided for one window."""

    assignments: list[Assignment]
    stories: list[Story]
    filtered: list[tuple[NodeInfo, str]]


class _UnionFind:
    """Union-find over tokens; the smaller root wins, so results do not depend on input order."""

    def __init__(self) -> None:
        self.parent: dict[Token, Token] = {}

    def find(self, token: Token) -> Token:
        self.parent.setdefault(token, token)
        root = token
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[token] != root:
            self.parent[token], token = root, self.parent[token]
        return root

    def union(self, a: Token, b: Token) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self.parent[high] = low

    def groups(self) -> dict[Token, list[Token]]:
        out: dict[Token, list[Token]] = {}
        for token in sorted(self.parent):
            out.setdefault(self.find(token), []).append(token)
        return out


def as_signature(node: NodeInfo) -> DedupSignature:
    """A signature carrying what batch's ``story_of``/``choose_story_id`` read of an article."""
    return DedupSignature(
        article_id=node.article_id,
        url=node.url,
        outlet_id=node.outlet_id,
        language=node.language,
        title=node.title,
        published_at=node.published_at,
        fetched_at=node.fetched_at,
        url_key="",
        canonical_key="",
        content_hash="",
        story_id="",
        duplicate_of=None,
        dup_method=None,
        story_terms=[],
        story_weights=[],
    )


def as_states(nodes: Iterable[NodeInfo]) -> list[NodeState]:
    """Batch's node states for ``nodes`` (as new nodes), to call its story functions."""
    return [NodeState(Node(as_signature(n), True), "", "", None, None) for n in nodes]


def new_story_id(nodes: Sequence[NodeInfo]) -> str:
    """The id of a story that starts in this window: batch's, from its earliest article."""
    return choose_story_id(as_states(nodes))


def _fresh_nodes(
    memory: Memory, nodes: Iterable[NodeInfo]
) -> tuple[dict[str, NodeInfo], list[tuple[NodeInfo, str]]]:
    """The window's new articles by id, and the ones to filter (written before, or twice)."""
    fresh: dict[str, NodeInfo] = {}
    dropped: list[tuple[NodeInfo, str]] = []
    for node in sorted(nodes, key=lambda n: (n.order, n.fetched_at)):
        if node.article_id in memory.labels:
            dropped.append((node, f"article {node.article_id} was written in an earlier window"))
        elif node.article_id in fresh:
            dropped.append((node, f"article {node.article_id} arrived twice in one window"))
        else:
            fresh[node.article_id] = node
    return fresh, dropped


def _window_edges(memory: Memory, fresh: dict[str, NodeInfo], edges: Iterable[Edge]) -> list[Edge]:
    """Edges with a new end first, to a new or remembered article; one per pair and method."""
    best: dict[tuple[str, str, str], Edge] = {}
    for edge in edges:
        a, b = (edge.a, edge.b) if edge.a in fresh else (edge.b, edge.a)
        if a == b or a not in fresh or (b not in fresh and b not in memory.labels):
            continue
        key = (min(a, b), max(a, b), edge.method)
        if key not in best or edge.score > best[key].score:
            best[key] = Edge(a, b, edge.method, edge.score)
    return [best[key] for key in sorted(best)]


def cross_window_floor(settings: StorySettings) -> float:
    """The least score of a weak edge to an earlier window: halfway from threshold to strong."""
    return (settings.threshold + settings.strong_threshold) / 2


def _kept_story_edges(
    fresh: dict[str, NodeInfo],
    edges: Sequence[Edge],
    settings: StorySettings,
    languages: Mapping[str, str],
) -> list[Edge]:
    """Same-story edges that batch's rank rule keeps, with this window's articles as the voters.

    An earlier window's article does not vote: its edges to later windows are not known yet, and
    letting it vote over the edges it has seen so far kept chains. With one voter the rule is
    half blind, so a weak edge to an earlier window must also reach ``cross_window_floor``
    (giveme5w1h in 24 windows: precision 0.911 -> 1.000 at the same recall; docs/streaming.md).
    As in batch, only a same-language edge may pass for its score alone; every stored article is
    within the TTL, which plays the batch window's part (no far edges in streaming).
    """

    def same_language(a: str, b: str) -> bool:
        return a in languages and languages.get(a) == languages.get(b)

    incident: dict[str, list[tuple[str, float, bool, bool]]] = {}
    for edge in edges:
        bypass = same_language(edge.a, edge.b)
        incident.setdefault(edge.a, []).append((edge.b, edge.score, True, bypass))
        if edge.b in fresh:
            incident.setdefault(edge.b, []).append((edge.a, edge.score, True, bypass))
    votes: dict[tuple[str, str], list[Vote]] = {}
    for node_id in sorted(incident):
        for pair, vote in neighbour_votes(node_id, incident[node_id], settings.top_k):
            votes.setdefault(pair, []).append(vote)
    kept = {
        pair
        for pair, pair_votes in votes.items()
        if keep_edge(pair_votes, settings.strong_threshold, settings.mutual)
    }
    floor = cross_window_floor(settings)
    return [
        e
        for e in edges
        if (min(e.a, e.b), max(e.a, e.b)) in kept and (e.b in fresh or e.score >= floor)
    ]


def _best_links(edges: Iterable[Edge], fresh: dict[str, NodeInfo]) -> dict[str, tuple[int, float]]:
    """The strongest link of every new article over the given edges."""
    links: dict[str, list[tuple[int, float]]] = {}
    for edge in edges:
        link = (METHOD_RANK[edge.method], edge.score)
        for end in (edge.a, edge.b):
            if end in fresh:
                links.setdefault(end, []).append(link)
    return {node_id: best_link(found) for node_id, found in links.items()}


def resolve_window(
    memory: Memory,
    nodes: Iterable[NodeInfo],
    edges: Iterable[Edge],
    now: int,
    ttl: int,
    settings: StorySettings,
    run_id: str,
) -> WindowLabels:
    """Label one window's articles against ``memory`` (updated in place) by batch's rules."""
    memory.expire(now)
    fresh, dropped = _fresh_nodes(memory, nodes)
    window_edges = _window_edges(memory, fresh, edges)
    copy_edges = [e for e in window_edges if e.method in COPY_METHODS]
    languages = {
        member_id: member.node.language
        for memo in memory.stories.values()
        for member_id, member in memo.members.items()
    }
    languages.update((node_id, node.language) for node_id, node in fresh.items())
    story_edges = _kept_story_edges(
        fresh, [e for e in window_edges if e.method == "same_story"], settings, languages
    )

    # Copy groups: new articles and the canonical copies of earlier groups they reach.
    copies = _UnionFind()
    root_orders: dict[str, OrderKey] = {}
    for node_id in fresh:
        copies.find(("n", node_id))
    for edge in copy_edges:
        if edge.b in fresh:
            other: Token = ("n", edge.b)
        else:
            root, root_orders[root] = memory.root_of(edge.b)
            other = ("r", root)
        copies.union(("n", edge.a), other)
    expiry = now + ttl
    canonical: dict[str, tuple[str, OrderKey]] = {}
    for members in copies.groups().values():
        old = sorted((root_orders[t[1]], t[1]) for t in members if t[0] == "r")
        new = [(fresh[t[1]].order, t[1]) for t in members if t[0] == "n"]
        order, root = old[0] if old else min(new)
        for _order, merged in old[1:]:
            # Two earlier copy groups are one: later copies of either point at the survivor.
            memory.copy_aliases[merged] = (root, order, expiry)
        for _kind, node_id in new:
            canonical[node_id] = (root, order)

    # Stories: new articles and the earlier stories they reach, over copy and story edges.
    stories = _UnionFind()
    for node_id in fresh:
        stories.find(("n", node_id))
    for edge in [*copy_edges, *story_edges]:
        if edge.b in fresh:
            other = ("n", edge.b)
        else:
            other = ("s", memory.story_of(memory.labels[edge.b].story_id))
        stories.union(("n", edge.a), other)
    story_ids: dict[str, str] = {}
    touched: list[str] = []
    for members in stories.groups().values():
        new_nodes = [fresh[t[1]] for t in members if t[0] == "n"]
        if not new_nodes:
            continue
        first = min(new_nodes, key=lambda n: n.order)
        old = sorted((memory.story_order(t[1], first.order), t[1]) for t in members if t[0] == "s")
        if old:
            story_id = old[0][1]
            memory.stories.setdefault(story_id, StoryMemo(old[0][0]))
            for _order, absorbed in old[1:]:
                _merge(memory, absorbed, story_id)
        else:
            story_id = new_story_id(new_nodes)
            memory.stories[story_id] = StoryMemo(first.order)
        memo = memory.stories[story_id]
        for node in new_nodes:
            root, order = canonical[node.article_id]
            memory.labels[node.article_id] = Label(root, order, story_id, expiry)
            memo.members[node.article_id] = Member(node, root, expiry)
            story_ids[node.article_id] = story_id
        touched.append(story_id)

    copy_links = _best_links(copy_edges, fresh)
    story_links = _best_links(story_edges, fresh)
    assignments = []
    for node_id in sorted(fresh):
        story_id = story_ids[node_id]
        root, _order = canonical[node_id]
        memo = memory.stories[story_id]
        if root != node_id:
            rank, score = copy_links[node_id]
            method = next(m for m, r in METHOD_RANK.items() if r == rank)
            assignments.append(Assignment(node_id, story_id, root, method, score))
        elif node_id in story_links and len({m.root for m in memo.members.values()}) > 1:
            # Other coverage of its story exists: an original, labelled as coverage.
            score = story_links[node_id][1]
            assignments.append(Assignment(node_id, story_id, None, "same_story", score))
        else:
            assignments.append(Assignment(node_id, story_id, None, None, None))
    rows = [
        story_of(
            as_states(m.node for m in memory.stories[story_id].members.values()),
            story_id,
            run_id,
        )
        for story_id in sorted(set(touched))
    ]
    return WindowLabels(assignments, rows, dropped)


def _merge(memory: Memory, absorbed: str, into: str) -> None:
    """Merge story ``absorbed`` into ``into``: its members move, its id becomes an alias."""
    memo = memory.stories.pop(absorbed, None)
    if memo is None:
        return
    memory.stories[into].members.update(memo.members)
    until = max(m.expiry for m in memo.members.values())
    memory.aliases[absorbed] = (into, until)
    Metrics.counter(STAGE, "stories_merged").inc()


def window_run_id(timestamp: int, window_s: float) -> str:
    """The ``run_id`` of a window's story rows: its start, as the output files name it."""
    size = ttl_micros(window_s)
    start = timestamp - timestamp % size
    when = dt.datetime.fromtimestamp(start / 1e6, dt.UTC)
    return when.strftime("%Y%m%dT%H%M%SZ")


_MEMORY_SPEC = ReadModifyWriteStateSpec("memory", PickleCoder())
_MEMORY_EXPIRY_SPEC = TimerSpec("memory_expiry", TimeDomain.WATERMARK)
_MEMORY = beam.DoFn.StateParam(_MEMORY_SPEC)
_MEMORY_EXPIRY = beam.DoFn.TimerParam(_MEMORY_EXPIRY_SPEC)


class ResolveWindowFn(beam.DoFn):
    """(RESOLVER_KEY, a window's NodeInfo and Edge items) -> Assignment; ``stories``; filtered."""

    def __init__(self, ttl_s: float, window_s: float, settings: StorySettings) -> None:
        self._ttl = ttl_micros(ttl_s)
        self._window_s = window_s
        self._settings = settings

    def process(
        self,
        kv: tuple[str, Iterable[Any]],
        timestamp: Any = beam.DoFn.TimestampParam,
        memory_state: Any = _MEMORY,
        expiry: Any = _MEMORY_EXPIRY,
    ) -> Iterator[Any]:
        _key, items = kv
        items = list(items)
        nodes = [item for item in items if isinstance(item, NodeInfo)]
        edges = [item for item in items if isinstance(item, Edge)]
        if not nodes:
            return
        now = micros(timestamp)
        memory = memory_state.read() or Memory()
        result = resolve_window(
            memory,
            nodes,
            edges,
            now,
            self._ttl,
            self._settings,
            window_run_id(now, self._window_s),
        )
        memory_state.write(memory)
        expiry.set(at_micros(now + self._ttl))
        for node, detail in result.filtered:
            yield Assignment(node.article_id, "", None, None, None, ALREADY_WRITTEN, detail)
            yield TaggedOutput(
                FILTERED, filtered(STAGE, node.url, node.outlet_id, ALREADY_WRITTEN, detail)
            )
        for assignment in result.assignments:
            if assignment.dup_method:
                Metrics.counter(STAGE, f"labelled_{assignment.dup_method}").inc()
            yield assignment
        for story in result.stories:
            yield TaggedOutput(STORIES, story)

    @on_timer(_MEMORY_EXPIRY_SPEC)
    def expire(self, memory_state: Any = _MEMORY) -> None:
        memory_state.clear()
