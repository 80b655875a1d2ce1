"""Collapse entries that several feeds list with the same link into one, in a stable order."""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import apache_beam as beam
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import FeedEntry, FilteredItem
from transforms.core.textutil import unique_clean
from transforms.core.urls import normalize_url

COLLAPSE_STAGE = "collapse_entries"


def entry_order(entry: FeedEntry) -> tuple[str, str, int]:
    """Sort key deciding which of several entries with the same link is kept."""
    return (entry.outlet_id, entry.feed_url, entry.position)


def collapse_same_link(
    link_key: str, entries: Sequence[FeedEntry]
) -> Iterator[Union[FeedEntry, FilteredItem]]:
    """Keep one entry per link (merging categories); the others become filtered items."""
    ordered = sorted(entries, key=entry_order)
    kept = ordered[0]
    if len(ordered) > 1:
        merged = unique_clean(c for e in ordered for c in e.categories)
        kept = kept._replace(categories=merged)
    yield kept
    for other in ordered[1:]:
        yield filtered(
            COLLAPSE_STAGE,
            other.link,
            other.outlet_id,
            "duplicate_entry",
            f"same link as entry {kept.position} of {kept.feed_url} ({link_key})",
        )


class CollapseSameLinkFn(beam.DoFn):
    """Route the kept entry of a link group to the main output, the others to ``filtered``."""

    def process(self, group: tuple[str, Iterable[FeedEntry]]) -> Iterable[Any]:
        link_key, entries = group
        for item in collapse_same_link(link_key, list(entries)):
            yield item if isinstance(item, FeedEntry) else TaggedOutput(FILTERED, item)


class CollapseEntries(beam.PTransform):
    """Fetch each link once: entries sharing a normalized link collapse into one."""

    def expand(self, entries: PCollection) -> Any:  # (entries, filtered)
        results = (
            entries
            | "KeyByLink" >> beam.Map(lambda e: (normalize_url(e.link), e))
            | "GroupByLink" >> beam.GroupByKey()
            | "KeepOnePerLink"
            >> beam.ParDo(CollapseSameLinkFn())
            .with_output_types(FeedEntry)
            .with_outputs(FILTERED, main="entries")
        )
        return results.entries, results[FILTERED]
