"""Streaming dedup: fetch each link once, and label copies and stories across windows.

``seen`` (SkipSeenLinks: the streaming ledger), ``elements`` (what flows between the steps),
``keyed`` (indexes, term counts and the article store: keyed state with a TTL), ``resolve``
(a window's labels, stories and merges), ``dedup`` (StreamDedup, the composite).
"""

from transforms.dedup.streaming.dedup import StreamDedup, StreamDedupOutputs
from transforms.dedup.streaming.seen import SkipSeenLinks

__all__ = ["SkipSeenLinks", "StreamDedup", "StreamDedupOutputs"]
