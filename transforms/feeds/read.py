"""Stage 1: read outlets' feeds (RSS/Atom/RDF/JSON-less) into FeedEntry records.

feedparser is given bytes and response headers only, never a URL: it must not fetch anything itself.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.core.outputs import DEAD, FILTERED, dead_letter, filtered, unexpected
from transforms.core.progress import FEEDS, ProgressAddress, ProgressReporter
from transforms.core.records import DeadLetter, FeedEntry, FeedSource, FeedState, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.core.timeutil import utc_now_iso
from transforms.feeds.parse import FeedError, parse_feed
from transforms.feeds.state import conditional_headers, items_digest, next_state, sha256_hex
from transforms.net.client import HttpClient, TransportOptions, build_transport
from transforms.net.transport import FetchError, HttpResponse
from transforms.net.warc import close_transport

STAGE = "read_feeds"


STATES = "feed_states"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


def read_feed(
    client: HttpClient, source: FeedSource
) -> Iterator[Union[FeedEntry, FilteredItem, DeadLetter]]:
    """Fetch and parse one feed; yield entries, rejected entries and at most one dead letter."""
    try:
        response: HttpResponse = client.get(source.feed_url, accept=FEED_ACCEPT)
        parsed = parse_feed(
            source, response.body, response.headers.get("content-type", ""), response.url
        )
    except (FetchError, FeedError) as exc:
        yield dead_letter(STAGE, source.feed_url, source.outlet_id, exc.error_type, str(exc))
        return
    yield from parsed.entries
    for ident, reason, detail in parsed.rejected:
        yield filtered(STAGE, ident, source.outlet_id, reason, detail)


def poll_feed(
    client: HttpClient, source: FeedSource, previous: Optional[FeedState], run_id: str
) -> Iterator[Union[FeedEntry, FilteredItem, DeadLetter, FeedState]]:
    """Conditional GET of one feed: its entries only if it changed since ``previous``, its state.

    Not modified: a 304, the same body (sha256), or the same items (the body differs only in
    channel fields such as lastBuildDate, or the server rotated its ETag). A 200 with different
    items is new content whatever the ETag says.
    """
    now = utc_now_iso()
    try:
        response = client.get(
            source.feed_url, accept=FEED_ACCEPT, extra_headers=conditional_headers(previous)
        )
        if response.status == 304 or (
            previous is not None and sha256_hex(response.body) == previous.body_sha256
        ):
            if previous is None:
                raise FeedError("unexpected_304", "304 Not Modified to an unconditional request")
            yield next_state(
                source,
                previous,
                status=response.status,
                headers=response.headers,
                body_sha256=previous.body_sha256,
                items_sha256=previous.items_sha256,
                entry_count=previous.entry_count,
                changed=False,
                run_id=run_id,
                now=now,
            )
            return
        parsed = parse_feed(
            source, response.body, response.headers.get("content-type", ""), response.url
        )
    except (FetchError, FeedError) as exc:
        yield dead_letter(STAGE, source.feed_url, source.outlet_id, exc.error_type, str(exc))
        return
    items_sha256 = items_digest(parsed.entries, parsed.rejected)
    changed = previous is None or items_sha256 != previous.items_sha256
    yield next_state(
        source,
        previous,
        status=response.status,
        headers=response.headers,
        body_sha256=sha256_hex(response.body),
        items_sha256=items_sha256,
        entry_count=len(parsed.entries),
        changed=changed,
        run_id=run_id,
        now=now,
    )
    if not changed:
        return
    yield from parsed.entries
    for ident, reason, detail in parsed.rejected:
        yield filtered(STAGE, ident, source.outlet_id, reason, detail)


class ReadFeedFn(beam.DoFn):
    """Fetch and parse feeds; the HTTP client is built once per worker in ``setup``.

    With ``incremental`` each feed is polled against its stored state (side input) and the new
    state goes to the ``feed_states`` output.
    """

    def __init__(
        self,
        fetch: FetchSettings,
        replay_dir: "TransportOptions | str | None",
        incremental: bool = False,
        run_id: str = "",
        progress: Optional[ProgressAddress] = None,
    ) -> None:
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._incremental = incremental
        self._run_id = run_id
        self._progress = ProgressReporter(progress) if progress else None
        self._transport: object = None
        self._client: Optional[HttpClient] = None
        self._feeds_failed = Metrics.counter(STAGE, "feeds_failed")
        self._not_modified = Metrics.counter(STAGE, "feeds_not_modified")
        self._entries = Metrics.counter(STAGE, "entries")

    def setup(self) -> None:
        transport = build_transport(self._replay_dir)
        self._transport = transport
        self._client = HttpClient(self._fetch, transport)

    def process(
        self, source: FeedSource, states: Optional[Mapping[str, FeedState]] = None
    ) -> Iterable[Any]:
        assert self._client is not None
        try:
            if self._incremental:
                previous = (states or {}).get(source.feed_url)
                items = list(poll_feed(self._client, source, previous, self._run_id))
            else:
                items = list(read_feed(self._client, source))
        except Exception as exc:
            items = [unexpected(STAGE, source.feed_url, source.outlet_id, exc)]
        for item in items:
            if isinstance(item, FeedEntry):
                self._entries.inc()
                yield item
            elif isinstance(item, FeedState):
                if not item.changed:
                    self._not_modified.inc()
                yield TaggedOutput(STATES, item)
            elif isinstance(item, FilteredItem):
                yield TaggedOutput(FILTERED, item)
            else:
                self._feeds_failed.inc()
                yield TaggedOutput(DEAD, item)
        if self._progress is not None:
            self._progress.add(FEEDS)

    def finish_bundle(self) -> None:
        if self._progress is not None:
            self._progress.flush()
        # A WARC archive file per bundle: closed here, so it is complete when the bundle commits.
        close_transport(self._transport)

    def teardown(self) -> None:
        close_transport(self._transport)


class FeedOutputs(NamedTuple):
    """ReadFeeds' outputs: StageOutputs plus the feeds' new states (incremental runs only)."""

    main: PCollection
    filtered: PCollection
    dead_letters: PCollection
    states: PCollection


class ReadFeeds(beam.PTransform):
    """FeedSource -> FeedEntry, with rejected entries and failed feeds as side outputs.

    Given ``states`` (``(feed_url, FeedState)`` of earlier runs), feeds are polled incrementally
    and only changed feeds yield entries; ``states`` of the output holds this run's feed states.
    """

    def __init__(
        self,
        fetch: FetchSettings,
        replay_dir: "TransportOptions | str | None" = None,
        *,
        states: Optional[PCollection] = None,
        run_id: str = "",
        progress: Optional[ProgressAddress] = None,
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._states = states
        self._run_id = run_id
        self._progress = progress

    def expand(self, sources: PCollection) -> Any:  # FeedOutputs
        incremental = self._states is not None
        read = ReadFeedFn(self._fetch, self._replay_dir, incremental, self._run_id, self._progress)
        side = [beam.pvalue.AsDict(self._states)] if self._states is not None else []
        results = (
            sources
            # One feed per bundle element; spread feeds over workers before fetching.
            | "ReshuffleFeeds" >> beam.Reshuffle()
            | "FetchAndParseFeeds"
            >> beam.ParDo(read, *side)
            .with_output_types(FeedEntry)
            .with_outputs(FILTERED, DEAD, STATES, main="entries")
        )
        return FeedOutputs(
            main=results.entries,
            filtered=results[FILTERED],
            dead_letters=results[DEAD],
            states=results[STATES],
        )
