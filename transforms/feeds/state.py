"""Feed state between runs: conditional-GET validators and the hashes that say nothing is new."""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

import apache_beam as beam
from apache_beam.pvalue import PBegin, PCollection

from transforms.core.records import (
    FeedEntry,
    FeedSource,
    FeedState,
)
from transforms.core.tables import ReadParquetRecords


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def items_digest(entries: Sequence[FeedEntry], rejected: Sequence[tuple[str, str, str]]) -> str:
    """Hash of a feed's items (order-insensitive), ignoring channel fields like lastBuildDate."""
    items = sorted(
        json.dumps([e.link, e.guid, e.title, e.summary, e.published], ensure_ascii=False)
        for e in entries
    )
    items.extend(sorted(json.dumps(list(r), ensure_ascii=False) for r in rejected))
    return sha256_hex("\n".join(items).encode("utf-8"))


def conditional_headers(previous: Optional[FeedState]) -> dict[str, str]:
    """``If-None-Match`` / ``If-Modified-Since`` from the feed's stored validators."""
    if previous is None:
        return {}
    headers = {}
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def next_state(
    source: FeedSource,
    previous: Optional[FeedState],
    *,
    status: int,
    headers: Mapping[str, str],
    body_sha256: str,
    items_sha256: str,
    entry_count: int,
    changed: bool,
    run_id: str,
    now: str,
) -> FeedState:
    """The feed's state after this run's poll (validators of a 304 fall back to the stored ones)."""
    keep = previous if status == 304 else None
    return FeedState(
        feed_url=source.feed_url,
        outlet_id=source.outlet_id,
        etag=headers.get("etag") or (keep.etag if keep else None),
        last_modified=headers.get("last-modified") or (keep.last_modified if keep else None),
        body_sha256=body_sha256,
        items_sha256=items_sha256,
        entry_count=entry_count,
        status=status,
        changed=changed,
        checked_at=now,
        changed_at=now if changed or previous is None else previous.changed_at,
        run_id=run_id,
    )


def state_order(state: FeedState) -> tuple[str, str]:
    """Which of two stored states of a feed is the latest."""
    return (state.checked_at, state.run_id)


def latest_state(states: Iterable[FeedState]) -> Optional[FeedState]:
    """The most recent of a feed's stored states (None for none)."""
    return max(states, key=state_order, default=None)


class ReadFeedStates(beam.PTransform):
    """Stored feed states of the given files -> ``(feed_url, latest FeedState)``."""

    def __init__(self, paths: Iterable[str]) -> None:
        super().__init__()
        self._paths = list(paths)

    def expand(self, pbegin: PBegin) -> PCollection:
        return (
            pbegin
            | "FeedStateRecords" >> ReadParquetRecords(self._paths, FeedState)
            | "KeyByFeed" >> beam.Map(lambda s: (s.feed_url, s))
            | "LatestPerFeed" >> beam.CombinePerKey(latest_state)
        )
