"""Stage 5, dedup: articles -> labelled copies and stories, within a run and across runs.

``articles`` (DedupArticles: url, canonical and exact layers, labels, stories), ``near/``
(MinHash + LSH near-duplicates), ``story/`` (same-story edges across outlets and languages),
``components`` (distributed connected components), ``history`` (signatures of earlier runs),
``streaming/`` (the streaming job: links fetched once, every layer across windows in state).
"""

from transforms.dedup.articles import DedupArticles, DedupOutputs
from transforms.dedup.components import ConnectedComponents
from transforms.dedup.history import ReadHistory
from transforms.dedup.streaming import SkipSeenLinks, StreamDedup

__all__ = [
    "ConnectedComponents",
    "DedupArticles",
    "DedupOutputs",
    "ReadHistory",
    "SkipSeenLinks",
    "StreamDedup",
]
