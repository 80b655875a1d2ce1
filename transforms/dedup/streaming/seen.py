"""Fetch each link once: the streaming analogue of the batch ledger (global window + TTL).

A feed lists the same article on every poll; its link is let through the first time and filtered
(``already_fetched``) while it keeps being listed. State lives in the *global* window (state in a
fixed window would forget a link at every window boundary) and each sighting pushes a watermark
timer to ``now + ttl_s``, so a link is fetched again only after it has been absent from every feed
for ``ttl_s``.
"""

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.core.outputs import FILTERED, filtered
from transforms.core.records import FeedEntry
from transforms.core.urls import normalize_url

SEEN_STAGE = "stream_seen"

# State and timer specs, and their DoFn parameters (module-level: Beam matches them by identity).
SEEN_SPEC = ReadModifyWriteStateSpec("seen", StrUtf8Coder())
SEEN_EXPIRY_SPEC = TimerSpec("seen_expiry", TimeDomain.WATERMARK)
_SEEN = beam.DoFn.StateParam(SEEN_SPEC)
_SEEN_EXPIRY = beam.DoFn.TimerParam(SEEN_EXPIRY_SPEC)


class _SkipSeenLinkFn(beam.DoFn):
    """Let a link through the first time; filter it while it is seen again within the TTL."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl = Duration.of(ttl_s)
        self._skipped = Metrics.counter(SEEN_STAGE, "already_fetched")

    def process(
        self,
        kv: tuple[str, FeedEntry],
        timestamp: Any = beam.DoFn.TimestampParam,
        seen: Any = _SEEN,
        expiry: Any = _SEEN_EXPIRY,
    ) -> Iterable[Any]:
        _link_key, entry = kv
        # Every sighting pushes the expiry back: forget a link only once no feed lists it.
        expiry.set(Timestamp.of(timestamp) + self._ttl)
        first_seen = seen.read()
        if first_seen is None:
            seen.write(Timestamp.of(timestamp).to_rfc3339())
            yield entry
            return
        self._skipped.inc()
        yield TaggedOutput(
            FILTERED,
            filtered(
                SEEN_STAGE,
                entry.link,
                entry.outlet_id,
                "already_fetched",
                f"listed since {first_seen}",
            ),
        )

    @on_timer(SEEN_EXPIRY_SPEC)
    def expire(self, seen: Any = _SEEN) -> None:
        seen.clear()


class SkipSeenLinks(beam.PTransform):
    """FeedEntry -> entries not seen within the TTL, + ``already_fetched`` (global window)."""

    def __init__(self, ttl_s: float) -> None:
        super().__init__()
        self._ttl_s = ttl_s

    def expand(self, entries: PCollection) -> Any:
        results = (
            entries
            | "IntoGlobalWindow" >> beam.WindowInto(GlobalWindows())
            | "KeyByLink"
            >> beam.Map(lambda e: (normalize_url(e.link), e)).with_output_types(
                tuple[str, FeedEntry]
            )
            | "SkipSeen"
            >> beam.ParDo(_SkipSeenLinkFn(self._ttl_s))
            .with_output_types(FeedEntry)
            .with_outputs(FILTERED, main="entries")
        )
        return results.entries, results[FILTERED]
