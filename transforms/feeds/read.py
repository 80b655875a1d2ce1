"""Stage 1: read outlets' feeds (RSS/Atom/RDF/JSON-less) into FeedEntry records.

feedparser is given bytes and response headers only, never a URL: it must not fetch anything itself.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
import feedparser
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.core.outputs import DEAD, FILTERED, dead_letter, filtered, unexpected
from transforms.core.records import DeadLetter, FeedEntry, FeedSource, FeedState, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.core.textutil import html_fragment_to_text, unique_clean
from transforms.core.timeutil import struct_time_to_iso, utc_now_iso
from transforms.core.urls import normalize_url, resolve_url, unwrap_redirector
from transforms.fetch.ledger import conditional_headers, items_digest, next_state, sha256_hex
from transforms.net.client import (
    FetchError,
    HttpClient,
    HttpResponse,
    TransportOptions,
    build_transport,
)
from transforms.net.warc import close_transport

STAGE = "read_feeds"
COLLAPSE_STAGE = "collapse_entries"
STATES = "feed_states"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


class FeedError(Exception):
    """The document is not a usable feed."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class ParsedFeed(NamedTuple):
    """Entries of one feed plus entries that could not be used, with reasons."""

    entries: list[FeedEntry]
    rejected: list[tuple[str, str, str]]  # (url or guid, reason, detail)
    bozo: Optional[str]


def _first(*values: Any) -> Optional[str]:
    """Return the first non-empty string among ``values``."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _entry_link(entry: Any) -> Optional[str]:
    """Return the article link of an entry: ``link``, else an alternate link, else a URL guid."""
    links = entry.get("links") or []
    alternates = [
        link.get("href")
        for link in links
        if isinstance(link, dict) and link.get("rel", "alternate") == "alternate"
    ]
    guid = entry.get("id")
    guid_link = guid if entry.get("guidislink") or (guid or "").startswith("http") else None
    return _first(entry.get("link"), *alternates, guid_link)


def _entry_image(entry: Any) -> Optional[str]:
    """Return an image URL from Media RSS, enclosures or a ``<thumbnail>`` element."""
    candidates: list[Optional[str]] = []
    for key in ("media_content", "media_thumbnail"):
        for item in entry.get(key) or []:
            if isinstance(item, dict):
                medium = (item.get("medium") or item.get("type") or "image").lower()
                if medium.startswith("image"):
                    candidates.append(item.get("url"))
    for link in entry.get("links") or []:
        is_enclosure = isinstance(link, dict) and link.get("rel") == "enclosure"
        if is_enclosure and (link.get("type") or "").lower().startswith("image"):
            candidates.append(link.get("href"))
    thumb = entry.get("thumbnail")
    if isinstance(thumb, str):
        candidates.append(thumb)
    return _first(*candidates)


def _entry_authors(entry: Any) -> list[str]:
    """Return the entry's author names as a clean list."""
    names: list[Optional[str]] = []
    for author in entry.get("authors") or []:
        if isinstance(author, dict):
            names.append(author.get("name") or author.get("email"))
    if not names:
        names.append(entry.get("author"))
    return unique_clean(html_fragment_to_text(n) for n in names if isinstance(n, str))


def _entry_categories(entry: Any) -> list[str]:
    """Return category terms (``<category>``, Atom ``category term``)."""
    terms = [
        t.get("term") or t.get("label") for t in entry.get("tags") or [] if isinstance(t, dict)
    ]
    return unique_clean(t for t in terms if isinstance(t, str))


def parse_feed(source: FeedSource, body: bytes, content_type: str, final_url: str) -> ParsedFeed:
    """Parse a feed document into entries; raise FeedError when it is not a feed at all."""
    if not body.strip():
        raise FeedError("empty_feed", "the feed response has an empty body")
    parsed = feedparser.parse(
        body,
        response_headers={"content-type": content_type or "", "content-location": final_url},
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    bozo = repr(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    raw_entries = parsed.get("entries") or []
    if not raw_entries and not parsed.get("version"):
        raise FeedError("malformed_feed", f"not a recognizable RSS/Atom feed: {bozo or 'no items'}")
    feed_meta = parsed.get("feed") or {}
    feed_title = html_fragment_to_text(feed_meta.get("title")) or None
    language = _first(feed_meta.get("language"))
    feed_language = language.lower().replace("_", "-") if language else None
    entries: list[FeedEntry] = []
    rejected: list[tuple[str, str, str]] = []
    for position, raw in enumerate(raw_entries):
        raw_link = _entry_link(raw)
        link = resolve_url(final_url, raw_link)
        if link is not None:
            # Fetch the article itself, not the aggregator's redirect page (Google News ...).
            link = unwrap_redirector(link)
        if link is None:
            ident = raw_link or _first(raw.get("id"), raw.get("title")) or f"#{position}"
            reason = "no_link" if not raw_link else "unsupported_link"
            rejected.append((ident, reason, f"entry {position} of {source.feed_url}"))
            continue
        image = resolve_url(final_url, _entry_image(raw))
        entries.append(
            FeedEntry(
                outlet_id=source.outlet_id,
                feed_url=source.feed_url,
                feed_title=feed_title,
                feed_language=feed_language,
                outlet_languages=list(source.languages),
                guid=_first(raw.get("id")),
                link=link,
                title=html_fragment_to_text(raw.get("title")) or None,
                summary=html_fragment_to_text(raw.get("summary")) or None,
                published=struct_time_to_iso(
                    raw.get("published_parsed") or raw.get("updated_parsed")
                ),
                authors=_entry_authors(raw),
                categories=_entry_categories(raw),
                image_url=image,
                position=position,
            )
        )
    return ParsedFeed(entries=entries, rejected=rejected, bozo=bozo)


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
    ) -> None:
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._incremental = incremental
        self._run_id = run_id
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

    def finish_bundle(self) -> None:
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
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._states = states
        self._run_id = run_id

    def expand(self, sources: PCollection) -> Any:  # FeedOutputs
        incremental = self._states is not None
        read = ReadFeedFn(self._fetch, self._replay_dir, incremental, self._run_id)
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
