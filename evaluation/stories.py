"""Same-story evaluation: labelled articles (giveme5w1h layout), pairwise scores, baselines."""

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from evaluation.labelled import LabelledArticle
from evaluation.parallel import load_set
from transforms.dedup.story.edges import SameStoryEdges
from transforms.dedup.story.embeddings import EmbedStories, embedding_text
from transforms.dedup.story.features import story_features
from transforms.dedup.story.scoring import StoryScorer
from transforms.dedup.story.settings import StoryEdge, StoryFeatures, StorySettings


def components(edges: Iterable[tuple[str, str]], nodes: Iterable[str] = ()) -> dict[str, str]:
    """Connected components by union-find: each node -> the smallest node id of its component."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        """Root of ``node``, compressing the path."""
        root = parent.setdefault(node, node)
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for node in nodes:
        find(node)
    for a, b in edges:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            low, high = sorted((root_a, root_b))
            parent[high] = low
    return {node: find(node) for node in sorted(parent)}


def _pairs(n: int) -> int:
    """Number of unordered pairs among ``n`` items."""
    return n * (n - 1) // 2


def pairwise_scores(gold: Mapping[str, str], predicted: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of a grouping against gold groups (over the gold's items)."""
    cells = Counter((gold[item], predicted.get(item, item)) for item in gold)
    true_pos = sum(_pairs(n) for n in cells.values())
    gold_pos = sum(_pairs(n) for n in Counter(gold.values()).values())
    pred_pos = sum(_pairs(n) for n in Counter(predicted.get(i, i) for i in gold).values())
    precision = true_pos / pred_pos if pred_pos else 1.0
    recall = true_pos / gold_pos if gold_pos else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    sizes = Counter(predicted.get(i, i) for i in gold)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "groups": len(sizes),
        "largest_group": max(sizes.values()) if sizes else 0,
    }


def grouping_errors(gold: Mapping[str, str], predicted: Mapping[str, str]) -> dict[str, int]:
    """Over-merging and splitting: groups holding several events, events spread over groups."""
    events_of: dict[str, set[str]] = defaultdict(set)
    groups_of: dict[str, set[str]] = defaultdict(set)
    for item, event in gold.items():
        group = predicted.get(item, item)
        events_of[group].add(event)
        groups_of[event].add(group)
    return {
        "events": len(groups_of),
        "groups": len(events_of),
        "merged_groups": sum(1 for events in events_of.values() if len(events) > 1),
        "split_events": sum(1 for groups in groups_of.values() if len(groups) > 1),
    }


def edge_scores(gold: Mapping[str, str], edges: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Precision/recall/F1 of the edges themselves (no transitive closure)."""
    pairs = {tuple(sorted(e)) for e in edges}
    true_pos = sum(1 for a, b in pairs if gold[a] == gold[b])
    gold_pos = sum(_pairs(n) for n in Counter(gold.values()).values())
    precision = true_pos / len(pairs) if pairs else 1.0
    recall = true_pos / gold_pos if gold_pos else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "edges": len(pairs),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


# When an article has no date, the pipeline uses its fetch time; in an evaluation all share one.
UNDATED_AT = "2000-01-01T00:00:00Z"

_SHINGLE_WORD_RE = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Word n-grams of lower-cased ``\\w+`` tokens."""
    words = _SHINGLE_WORD_RE.findall(text.lower())
    return frozenset(" ".join(words[i : i + n]) for i in range(max(0, len(words) - n + 1)))


def shingle_edges(
    texts: Mapping[str, str], threshold: float = 0.05, n: int = 3
) -> list[tuple[str, str]]:
    """Baseline: pairs whose word-``n``-shingle Jaccard reaches ``threshold`` (inverted index)."""
    sets = {key: shingles(text, n) for key, text in texts.items()}
    postings: dict[str, list[str]] = defaultdict(list)
    for key in sorted(sets):
        for shingle in sets[key]:
            postings[shingle].append(key)
    shared: Counter[tuple[str, str]] = Counter()
    for members in postings.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                shared[(a, b)] += 1
    edges = []
    for (a, b), common in sorted(shared.items()):
        union = len(sets[a]) + len(sets[b]) - common
        if union and common / union >= threshold:
            edges.append((a, b))
    return edges


def run_same_story_edges(
    features: Sequence[StoryFeatures],
    settings: StorySettings = StorySettings(),
    scorer: Optional[StoryScorer] = None,
    history: Sequence[StoryFeatures] = (),
    model_handler: Optional[ModelHandler] = None,
    texts: Optional[Mapping[str, str]] = None,
) -> list[StoryEdge]:
    """Run ``SameStoryEdges`` on FnApiRunner over in-memory features; return the sorted edges.

    With ``model_handler``, the new articles are first embedded from ``texts`` (by article id).
    """
    import tempfile

    from apache_beam.options.pipeline_options import PipelineOptions

    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "edges")
        options = PipelineOptions(flags=[], runner="FnApiRunner")
        with beam.Pipeline(options=options) as pipeline:
            if model_handler is None:
                new = pipeline | "CreateFeatures" >> beam.Create(list(features))
            else:
                embed = [(f, (texts or {}).get(f.article_id, "")) for f in features]
                new = (
                    pipeline
                    | "CreateFeatures" >> beam.Create(embed)
                    | "EmbedStories" >> EmbedStories(model_handler)
                )
            old = pipeline | "CreateHistory" >> beam.Create(list(history)) if history else None
            _ = (
                new
                | "SameStoryEdges" >> SameStoryEdges(settings, scorer=scorer, history=old)
                | "EdgeJson" >> beam.Map(lambda e: json.dumps(list(e)))
                | "WriteEdges" >> beam.io.WriteToText(prefix, shard_name_template="")
            )
        lines = Path(prefix).read_text(encoding="utf-8").splitlines()
    return sorted(StoryEdge(*json.loads(line)) for line in lines if line)


def features_of(
    article: LabelledArticle, settings: StorySettings = StorySettings()
) -> StoryFeatures:
    """``story_features`` of a labelled article."""
    return story_features(
        article.title,
        article.description,
        article.text,
        article.language,
        # Undated articles (translation pairs) get the pipeline's fallback: one fetch time.
        article.published_at or UNDATED_AT,
        article.article_id,
        settings,
    )


def evaluate_same_story(
    directory: str,
    settings: StorySettings = StorySettings(),
    events: Optional[Collection[str]] = None,
    scorer: Optional[StoryScorer] = None,
    model_handler: Optional[ModelHandler] = None,
) -> dict[str, Any]:
    """Pairwise P/R/F1 of same-story groups (edges joined into components) vs a shingle baseline.

    ``events`` restricts the evaluation to those gold events (for cross-validation splits);
    ``model_handler`` embeds the articles first (``EmbedStories``) for a scorer that uses vectors.
    """
    articles = [a for a in load_set(Path(directory)) if events is None or a.event_id in events]
    gold = {a.article_id: a.event_id for a in articles}
    edges = run_same_story_edges(
        [features_of(a, settings) for a in articles],
        settings,
        scorer,
        model_handler=model_handler,
        texts={a.article_id: embedding_text(a.title, a.description, a.text) for a in articles},
    )
    pairs = [(e.a, e.b) for e in edges]
    texts = {a.article_id: f"{a.title}\n{a.text}" for a in articles}
    baseline = shingle_edges(texts, threshold=0.05, n=3)
    return {
        "articles": len(articles),
        "events": len(set(gold.values())),
        "same_event_pairs": sum(_pairs(n) for n in Counter(gold.values()).values()),
        "same_story": {
            **pairwise_scores(gold, components(pairs, gold)),
            "edges": edge_scores(gold, pairs),
        },
        "shingle_baseline": {
            **pairwise_scores(gold, components(baseline, gold)),
            "edges": edge_scores(gold, baseline),
        },
    }


def event_split(event_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split events into two halves by a keyed hash of the id (stable across runs and machines)."""
    halves: tuple[list[str], list[str]] = ([], [])
    for event in sorted(set(event_ids)):
        digest = hashlib.blake2b(
            event.encode("utf-8"), digest_size=8, key=b"newsbeam-story"
        ).digest()
        halves[digest[0] & 1].append(event)
    return halves
