"""Stage 5: label duplicates (never delete them).

Each layer proposes edges between articles that share a key (same URL, same canonical URL, same body
hash). Edges are joined into connected components; the canonical copy of a component is its earliest
published article (then URL), and every other member gets ``duplicate_of`` and ``dup_method``.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import AsSingleton, PCollection

from transforms.records import Article

STAGE = "dedup"
# Lower rank = stronger evidence; a row reports the strongest layer that linked it.
METHOD_RANK: dict[str, int] = {
    "url": 0,
    "canonical_url": 1,
    "exact_text": 2,
    "near_duplicate": 3,
    "same_story": 4,
}

NodeKey = tuple[bool, str, str, str]


def canonical_order(article: Article) -> NodeKey:
    """Sort key of the canonical copy: earliest published first (unknown last), then URL, id."""
    published = article.published_at or ""
    return (article.published_at is None, published, article.url, article.article_id)


class Edge(NamedTuple):
    """Two articles found to be copies by ``method``."""

    a: NodeKey
    b: NodeKey
    method: str


EXACT_LAYERS: Sequence[tuple[str, Callable[[Article], str]]] = (
    ("url", lambda a: a.url),
    ("canonical_url", lambda a: a.canonical_url),
    ("exact_text", lambda a: a.content_hash),
)


def star_edges(method: str, members: Iterable[NodeKey]) -> list[Edge]:
    """Link every member of a key group to the group's first member (a star, not a clique)."""
    ordered = sorted(set(members))
    return [Edge(node, ordered[0], method) for node in ordered[1:]]


class UnionFind:
    """Disjoint sets whose representative is always the smallest node (the canonical copy)."""

    def __init__(self) -> None:
        self.parent: dict[NodeKey, NodeKey] = {}
        self.rank: dict[NodeKey, int] = {}

    def find(self, node: NodeKey) -> NodeKey:
        """Return the representative of ``node``, compressing the path."""
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def add(self, edge: Edge) -> None:
        """Join the components of the edge's ends and remember the edge's method on both."""
        for node in (edge.a, edge.b):
            best = self.rank.get(node)
            rank = METHOD_RANK[edge.method]
            if best is None or rank < best:
                self.rank[node] = rank
        root_a, root_b = self.find(edge.a), self.find(edge.b)
        if root_a != root_b:
            low, high = sorted((root_a, root_b))
            self.parent[high] = low

    def merge(self, other: "UnionFind") -> None:
        """Fold another partial result into this one."""
        for node, rank in other.rank.items():
            best = self.rank.get(node)
            if best is None or rank < best:
                self.rank[node] = rank
        for node, parent in other.parent.items():
            root_a, root_b = self.find(node), self.find(parent)
            if root_a != root_b:
                low, high = sorted((root_a, root_b))
                self.parent[high] = low

    def labels(self) -> dict[str, tuple[str, str]]:
        """Map every non-canonical article id to (canonical article id, method)."""
        by_rank = {rank: method for method, rank in METHOD_RANK.items()}
        result: dict[str, tuple[str, str]] = {}
        for node in list(self.parent):
            root = self.find(node)
            if root != node:
                result[node[3]] = (root[3], by_rank[self.rank[node]])
        return result


class ComponentsFn(beam.CombineFn):
    """Combine duplicate edges into components. Memory grows with duplicates, not articles."""

    def create_accumulator(self) -> UnionFind:
        return UnionFind()

    def add_input(self, acc: UnionFind, edge: Edge) -> UnionFind:
        acc.add(edge)
        return acc

    def merge_accumulators(self, accs: Iterable[UnionFind]) -> UnionFind:
        merged = UnionFind()
        for acc in accs:
            merged.merge(acc)
        return merged

    def extract_output(self, acc: UnionFind) -> dict[str, tuple[str, str]]:
        return acc.labels()


def apply_label(article: Article, labels: dict[str, tuple[str, str]]) -> Article:
    """Set ``duplicate_of``/``dup_method`` from the component labels (canonical rows stay null)."""
    label: Optional[tuple[str, str]] = labels.get(article.article_id)
    if label is None:
        return article._replace(duplicate_of=None, dup_method=None)
    return article._replace(duplicate_of=label[0], dup_method=label[1])


class _CountDuplicatesFn(beam.DoFn):
    """Count labelled rows per method (visible in the runner's metrics)."""

    def process(self, article: Article) -> Iterable[Article]:
        if article.dup_method:
            Metrics.counter(STAGE, f"duplicates_{article.dup_method}").inc()
        yield article


class DedupArticles(beam.PTransform):
    """Label URL, canonical-URL and exact-body duplicates; every article keeps its row."""

    def expand(self, articles: PCollection) -> PCollection:
        edge_sets = []
        for method, key_fn in EXACT_LAYERS:
            label = "".join(part.capitalize() for part in method.split("_"))
            edges = (
                articles
                | f"KeyBy{label}" >> beam.Map(lambda a, f=key_fn: (f(a), canonical_order(a)))
                | f"GroupBy{label}" >> beam.GroupByKey()
                | f"{label}Edges" >> beam.FlatMap(lambda kv, m=method: star_edges(m, kv[1]))
            )
            edge_sets.append(edges)
        labels = (
            edge_sets
            | "FlattenEdges" >> beam.Flatten()
            | "ConnectComponents" >> beam.CombineGlobally(ComponentsFn())
        )
        return (
            articles
            | "ApplyLabels" >> beam.Map(apply_label, AsSingleton(labels))
            | "CountDuplicates" >> beam.ParDo(_CountDuplicatesFn()).with_output_types(Article)
        )
