"""Incremental polling: feed state between runs (conditional GET) and the seen-URL ledger.

Both tables live with the output and are partitioned by the day (``--as_of``) of the run that
wrote them, like the dedup signatures (``transforms/dedup/history.py``): the files to read are
listed when the graph is built, the last ``incremental.retention_days`` days before ``as_of``, and
a run never reads files written under its own run id (re-running a run id redoes it).

- ``<output>/state/feeds/date=YYYY-MM-DD/part-<run_id>-....parquet``: one ``FeedState`` per feed
  polled successfully (200 or 304); the latest row per feed wins. Its validators are sent as
  ``If-None-Match``/``If-Modified-Since``; a 304, the same body hash or the same items hash means
  the feed has nothing new (``feeds.not_modified``). The decision rests on the content, not on the
  ETag: a rotated ETag with the same items is unchanged, the same ETag with other items changed.
- ``<output>/ledger/date=YYYY-MM-DD/part-<run_id>-....parquet``: one ``LedgerEntry`` per link a run
  fetched for good (an HTML page, or a permanent failure: see ``LEDGER_DEAD_LETTERS``). Entries
  whose ``normalize_url(link)`` (the key ``CollapseEntries`` groups by) is in the ledger are
  filtered ``already_fetched`` at stage ``ledger`` instead of being fetched again. Transient
  failures (timeouts, 5xx, 429, connection errors) are not recorded: the next run tries again.
"""

from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import (
    DeadLetter,
    FeedEntry,
    FetchedPage,
    FilteredItem,
    LedgerEntry,
)
from transforms.core.tables import ReadParquetRecords
from transforms.core.urls import normalize_url

LEDGER_STAGE = "ledger"
FETCH_STAGE = "fetch_pages"
# Outcomes of the fetch stage that another fetch would only repeat: recorded in the ledger.
LEDGER_DEAD_LETTERS = frozenset({"http_404", "http_410", "too_large"})
LEDGER_FILTER_REASONS = frozenset({"not_html"})


def ledger_entry(
    item: Union[FetchedPage, FilteredItem, DeadLetter], run_id: str
) -> Optional[LedgerEntry]:
    """The ledger row of one fetch outcome, or None when the link should be tried again."""
    if isinstance(item, FetchedPage):
        link, outlet, outcome, when = (
            item.entry.link,
            item.entry.outlet_id,
            "fetched",
            item.fetched_at,
        )
    elif isinstance(item, FilteredItem):
        if item.stage != FETCH_STAGE or item.reason not in LEDGER_FILTER_REASONS:
            return None
        link, outlet, outcome, when = item.url, item.outlet_id, item.reason, item.filtered_at
    else:
        if item.stage != FETCH_STAGE or item.error_type not in LEDGER_DEAD_LETTERS:
            return None
        link, outlet, outcome, when = item.url, item.outlet_id, item.error_type, item.failed_at
    return LedgerEntry(
        link_key=normalize_url(link),
        url=link,
        outlet_id=outlet,
        outcome=outcome,
        fetched_at=when,
        first_seen_run=run_id,
    )


def skip_fetched(
    link_key: str, entries: Sequence[FeedEntry], ledger: Sequence[LedgerEntry]
) -> Iterable[Union[FeedEntry, FilteredItem]]:
    """Pass entries whose link no earlier run fetched; filter the others (``already_fetched``)."""
    if not ledger:
        yield from entries
        return
    first = min(ledger, key=lambda e: (e.fetched_at, e.first_seen_run))
    for entry in entries:
        yield filtered(
            LEDGER_STAGE,
            entry.link,
            entry.outlet_id,
            "already_fetched",
            f"{first.outcome} by run {first.first_seen_run} at {first.fetched_at} ({link_key})",
        )


class _SkipFetchedFn(beam.DoFn):
    """Route entries of links in the ledger to ``filtered``, the others on."""

    def __init__(self) -> None:
        self._skipped = Metrics.counter(LEDGER_STAGE, "already_fetched")

    def process(self, group: tuple[str, dict[str, list[Any]]]) -> Iterable[Any]:
        link_key, joined = group
        for item in skip_fetched(link_key, list(joined["entries"]), list(joined["ledger"])):
            if isinstance(item, FilteredItem):
                self._skipped.inc()
                yield TaggedOutput(FILTERED, item)
            else:
                yield item


class SkipFetchedLinks(beam.PTransform):
    """FeedEntry -> entries no earlier run fetched; the others filtered (joined by link key)."""

    def __init__(self, ledger: PCollection) -> None:
        super().__init__()
        self._ledger = ledger

    def expand(self, entries: PCollection) -> Any:  # (entries, filtered)
        keyed_entries = entries | "KeyEntriesByLink" >> beam.Map(
            lambda e: (normalize_url(e.link), e)
        )
        keyed_ledger = self._ledger | "KeyLedgerByLink" >> beam.Map(lambda r: (r.link_key, r))
        results = (
            {"entries": keyed_entries, "ledger": keyed_ledger}
            | "JoinLedger" >> beam.CoGroupByKey()
            | "SkipFetched"
            >> beam.ParDo(_SkipFetchedFn())
            .with_output_types(FeedEntry)
            .with_outputs(FILTERED, main="entries")
        )
        return results.entries, results[FILTERED]


class RecordFetchOutcomes(beam.PTransform):
    """This run's fetch outcomes (pages, filtered, dead letters) -> the ledger rows to store."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self._run_id = run_id

    def expand(self, outcomes: Any) -> PCollection:  # a tuple of PCollections
        run_id = self._run_id
        return (
            tuple(outcomes)
            | "FlattenFetchOutcomes" >> beam.Flatten()
            | "ToLedgerEntries"
            >> beam.FlatMap(
                lambda item: [e for e in [ledger_entry(item, run_id)] if e]
            ).with_output_types(LedgerEntry)
        )


class ReadLedger(ReadParquetRecords):
    """Stored ledger rows of the given files (an empty PCollection when there are none)."""

    def __init__(self, paths: Iterable[str]) -> None:
        super().__init__(paths, LedgerEntry)
