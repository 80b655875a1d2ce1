"""Stage 1, feeds: the outlet registry -> polled and parsed feeds -> one ``FeedEntry`` per link.

``outlets`` (registry, OPML), ``read`` (poll with conditional GET), ``parse`` (feedparser),
``state`` (what a feed looked like last time), ``collapse`` (one entry per link).
"""

from transforms.feeds.collapse import CollapseEntries
from transforms.feeds.outlets import feed_sources, load_outlets
from transforms.feeds.read import FeedOutputs, ReadFeeds
from transforms.feeds.state import ReadFeedStates

__all__ = [
    "CollapseEntries",
    "FeedOutputs",
    "ReadFeedStates",
    "ReadFeeds",
    "feed_sources",
    "load_outlets",
]
