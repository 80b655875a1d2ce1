"""Stage 2, fetch: ``FeedEntry`` -> ``FetchedPage``, politely, once per link; or pages from WARC.

``pages`` (FetchPages), ``politeness`` (per-host caps, pacing, robots.txt), ``ledger`` (links
fetched by earlier runs), ``warc_input`` (CC-NEWS-style WARC files instead of feeds).
"""

from transforms.fetch.ledger import ReadLedger, RecordFetchOutcomes, SkipFetchedLinks
from transforms.fetch.pages import FetchOutputs, FetchPages
from transforms.fetch.warc_input import ReadWarcPages, WarcPages

__all__ = [
    "FetchOutputs",
    "FetchPages",
    "ReadLedger",
    "ReadWarcPages",
    "RecordFetchOutcomes",
    "SkipFetchedLinks",
    "WarcPages",
]
