"""Stage 2: fetch each entry's article page, politely (transforms/fetch/politeness.py) and safely.

FetchPages keys entries by host, groups them (``HostGroup``), spreads the groups over workers and
fetches each group in a ``FetchEngine``: per-host concurrency and pacing, robots.txt, retries
through the host's queue, host backoff, a worker-wide cap on requests in flight. Every entry ends
as a page, a filtered item (``not_html``, ``empty_body``, ``robots_disallowed`` ...) or a dead
letter (``http_404``, ``timeout``, ``blocked_address``, ``host_backed_off`` ...).
"""

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from transforms.core.outputs import DEAD, FILTERED, dead_letter, filtered
from transforms.core.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.fetch.politeness import (
    FetchEngine,
    HostBackoff,
    HostGroup,
    Outcome,
    host_key,
    split_host,
    worker_slots,
)
from transforms.net.charset import resolve_charset
from transforms.net.client import HttpClient, TransportOptions, build_transport
from transforms.net.content import HTML_TYPES, looks_like_html
from transforms.net.live import UrllibTransport
from transforms.net.transport import NOT_MODIFIED, FetchError, HttpResponse, Transport
from transforms.net.warc import close_transport as close_archive

STAGE = "fetch_pages"
BACKED_OFF = "hosts_backed_off"
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


# Host groups one engine works on at once: a few per request slot, since a paced host uses its
# slot only part of the time (the rest it waits for its next turn).
_GROUPS_PER_SLOT = 4


class FetchOutputs(NamedTuple):
    """FetchPages' outputs: the stage triple plus the hosts it backed off."""

    main: PCollection
    filtered: PCollection
    dead_letters: PCollection
    hosts_backed_off: PCollection


def page_from_response(
    entry: FeedEntry, response: HttpResponse
) -> Union[FetchedPage, FilteredItem]:
    """Turn a final response into the page, or a filtered item (not modified, empty, not HTML)."""
    if response.status == NOT_MODIFIED:
        # Pages are fetched unconditionally; a 304 has no body to use.
        return filtered(STAGE, entry.link, entry.outlet_id, "not_modified", "HTTP 304")
    content_type = response.content_type
    if not response.body.strip():
        return filtered(
            STAGE,
            entry.link,
            entry.outlet_id,
            "empty_body",
            f"HTTP {response.status} with an empty body",
        )
    is_html = content_type in HTML_TYPES if content_type else looks_like_html(response.body)
    if content_type in {"application/xml", "text/xml"}:
        is_html = looks_like_html(response.body)
    if not is_html:
        return filtered(
            STAGE,
            entry.link,
            entry.outlet_id,
            "not_html",
            f"Content-Type {content_type or '(none)'}",
        )
    return FetchedPage(
        entry=entry,
        url=response.url,
        status=response.status,
        content_type=content_type or "text/html",
        # The codec the body is in (BOM, checked declarations, detection): extraction decodes with
        # it, so a wrong header charset does not turn into mojibake.
        charset=resolve_charset(response.body, response.charset).codec,
        body=response.body,
        fetched_at=response.fetched_at,
        redirects=list(response.redirects),
    )


def fetch_page(
    client: HttpClient, entry: FeedEntry
) -> Union[FetchedPage, FilteredItem, DeadLetter]:
    """Fetch ``entry.link`` with retries, without politeness (one-off use and tests)."""
    try:
        response = client.get(entry.link, accept=HTML_ACCEPT)
    except FetchError as exc:
        return dead_letter(STAGE, entry.link, entry.outlet_id, exc.error_type, str(exc))
    return page_from_response(entry, response)


def key_by_host(entry: FeedEntry) -> tuple[str, FeedEntry]:
    """Key an entry by the host its link points at."""
    return host_key(entry.link), entry


def page_transport(fetch: FetchSettings, replay: TransportOptions | str | None) -> Transport:
    """Pages' transport: replay, or live HTTP with pools sized for the caps; archived if asked."""
    # Idle connections kept per host, and hosts whose pools stay open.
    return build_transport(
        replay,
        live=lambda: UrllibTransport(
            pool_size=fetch.per_host_concurrency,
            num_pools=_GROUPS_PER_SLOT * fetch.max_in_flight,
        ),
    )


def close_transport(transport: Optional[Transport]) -> None:
    """Close the transport's WARC archive file, if it writes one."""
    close_archive(transport)


def is_replay(replay: TransportOptions | str | None) -> bool:
    """True when responses come from a recording or WARC files (no server to be polite to)."""
    return bool(replay.replay if isinstance(replay, TransportOptions) else replay)


class FetchHostGroupFn(beam.DoFn):
    """Fetch host groups in an engine per bundle; clients and the thread pool live per worker."""

    def __init__(self, fetch: FetchSettings, replay_dir: TransportOptions | str | None) -> None:
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._transport: Optional[Transport] = None
        self._engine: Optional[FetchEngine] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._fetched = Metrics.counter(STAGE, "pages_fetched")
        self._failed = Metrics.counter(STAGE, "pages_failed")
        self._filtered = Metrics.counter(STAGE, "pages_filtered")
        self._backed_off = Metrics.counter(STAGE, "hosts_backed_off")

    def setup(self) -> None:
        fetch = self._fetch
        transport = page_transport(fetch, self._replay_dir)
        self._transport = transport
        self._client = HttpClient(fetch, transport)
        # robots.txt goes through the same transport (same address checks), with its own cap.
        robots = dataclasses.replace(fetch, max_bytes=fetch.robots_max_bytes)
        self._robots_client = HttpClient(robots, transport)
        self._executor = ThreadPoolExecutor(fetch.max_in_flight, thread_name_prefix="fetch")
        self._slots = worker_slots(fetch.max_in_flight)

    def start_bundle(self) -> None:
        assert self._executor is not None
        self._engine = FetchEngine(
            self._client,
            self._robots_client,
            self._fetch,
            self._executor,
            self._slots,
            page_from_response,
            HTML_ACCEPT,
            paced=not is_replay(self._replay_dir),
        )

    def process(
        self,
        group: HostGroup,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterable[Any]:
        assert self._engine is not None
        self._engine.add(group, (timestamp, window))
        # Return (and take the next group) once the engine has room, so that many hosts are
        # fetched at once; outcomes of any group are emitted as soon as they are known.
        limit = _GROUPS_PER_SLOT * self._fetch.max_in_flight
        for context, outcome in self._engine.run(until_active_below=limit):
            yield self._route(context, outcome)

    def finish_bundle(self) -> Iterable[Any]:
        assert self._engine is not None
        for context, outcome in self._engine.run():
            yield self._route(context, outcome)
        self._engine = None
        # A WARC archive file per bundle: closed here, so it is complete when the bundle commits.
        close_transport(self._transport)

    def teardown(self) -> None:
        close_transport(self._transport)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _route(self, context: Any, outcome: Outcome) -> Any:
        """Wrap an outcome in its group's window and send it to its output."""
        timestamp, window = context
        value = WindowedValue(outcome, timestamp, (window,))
        if isinstance(outcome, FetchedPage):
            self._fetched.inc()
            return value
        if isinstance(outcome, FilteredItem):
            self._filtered.inc()
            return TaggedOutput(FILTERED, value)
        if isinstance(outcome, HostBackoff):
            self._backed_off.inc()
            return TaggedOutput(BACKED_OFF, value)
        self._failed.inc()
        return TaggedOutput(DEAD, value)


class FetchPages(beam.PTransform):
    """FeedEntry -> FetchedPage, with filtered and failed fetches and the hosts backed off."""

    def __init__(
        self, fetch: FetchSettings, replay_dir: TransportOptions | str | None = None
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._replay_dir = replay_dir

    def expand(self, entries: PCollection) -> Any:  # FetchOutputs
        group_size = self._fetch.host_group_size
        groups = (
            entries
            | "KeyByHost" >> beam.Map(key_by_host)
            | "GroupByHost" >> beam.GroupByKey()
            | "SplitHostGroups"
            >> beam.FlatMap(lambda kv: split_host(kv[0], kv[1], group_size)).with_output_types(
                HostGroup
            )
            # One host group is one unit of work; spread the groups over workers.
            | "ReshuffleHostGroups" >> beam.Reshuffle()
        )
        results = groups | "FetchHostGroups" >> beam.ParDo(
            FetchHostGroupFn(self._fetch, self._replay_dir)
        ).with_output_types(FetchedPage).with_outputs(FILTERED, DEAD, BACKED_OFF, main="pages")
        return FetchOutputs(
            main=results.pages,
            filtered=results[FILTERED],
            dead_letters=results[DEAD],
            hosts_backed_off=results[BACKED_OFF],
        )
