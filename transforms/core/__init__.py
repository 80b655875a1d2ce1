"""The shared core: record types at every stage boundary, settings, and small pure helpers.

``records`` and ``settings`` import nothing of newsbeam's; the other modules (``schemas``,
``outputs``, ``tables``, ``urls``, ``textutil``, ``timeutil``, ``langtags``) only the core.
"""

from transforms.core.outputs import StageOutputs
from transforms.core.records import (
    Article,
    DeadLetter,
    DedupSignature,
    FeedEntry,
    FeedSource,
    FeedState,
    FetchedPage,
    FilteredItem,
    LedgerEntry,
    Story,
)
from transforms.core.settings import ConfigError, PipelineConfig, load_config
from transforms.core.tables import ReadParquetRecords

__all__ = [
    "Article",
    "ConfigError",
    "DeadLetter",
    "DedupSignature",
    "FeedEntry",
    "FeedSource",
    "FeedState",
    "FetchedPage",
    "FilteredItem",
    "LedgerEntry",
    "PipelineConfig",
    "ReadParquetRecords",
    "StageOutputs",
    "Story",
    "load_config",
]
