"""Stage 2: fetch each entry's article page."""

from collections.abc import Iterable
from typing import Any, Optional, Union

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.common import DEAD, FILTERED, StageOutputs, dead_letter, filtered, unexpected
from transforms.http import FetchError, HttpClient, build_client
from transforms.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.settings import FetchSettings

STAGE = "fetch_pages"
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def looks_like_html(body: bytes) -> bool:
    """Sniff an HTML document when the server sent no usable Content-Type."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    return head.startswith(_HTML_SNIFF) or b"<html" in head


def fetch_page(
    client: HttpClient, entry: FeedEntry
) -> Union[FetchedPage, FilteredItem, DeadLetter]:
    """Fetch ``entry.link``; return the page, a filtered item (not HTML, empty) or a dead letter."""
    try:
        response = client.get(entry.link, accept=HTML_ACCEPT)
    except FetchError as exc:
        return dead_letter(STAGE, entry.link, entry.outlet_id, exc.error_type, str(exc))
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
        charset=response.charset,
        body=response.body,
        fetched_at=response.fetched_at,
        redirects=list(response.redirects),
    )


class FetchPageFn(beam.DoFn):
    """Fetch pages with a client built once per worker."""

    def __init__(self, fetch: FetchSettings, replay_dir: Optional[str]) -> None:
        self._fetch = fetch
        self._replay_dir = replay_dir
        self._client: Optional[HttpClient] = None
        self._fetched = Metrics.counter(STAGE, "pages_fetched")
        self._failed = Metrics.counter(STAGE, "pages_failed")

    def setup(self) -> None:
        self._client = build_client(self._fetch, self._replay_dir)

    def process(self, entry: FeedEntry) -> Iterable[Any]:
        assert self._client is not None
        try:
            result = fetch_page(self._client, entry)
        except Exception as exc:
            result = unexpected(STAGE, entry.link, entry.outlet_id, exc)
        if isinstance(result, FetchedPage):
            self._fetched.inc()
            yield result
        elif isinstance(result, FilteredItem):
            yield TaggedOutput(FILTERED, result)
        else:
            self._failed.inc()
            yield TaggedOutput(DEAD, result)


class FetchPages(beam.PTransform):
    """FeedEntry -> FetchedPage, with filtered (non-HTML, empty) and failed fetches."""

    def __init__(self, fetch: FetchSettings, replay_dir: Optional[str] = None) -> None:
        super().__init__()
        self._fetch = fetch
        self._replay_dir = replay_dir

    def expand(self, entries: PCollection) -> Any:  # StageOutputs
        results = (
            entries
            # Fetching is I/O bound: spread entries over workers rather than keep feed bundles.
            | "ReshuffleEntries" >> beam.Reshuffle()
            | "FetchPage"
            >> beam.ParDo(FetchPageFn(self._fetch, self._replay_dir))
            .with_output_types(FetchedPage)
            .with_outputs(FILTERED, DEAD, main="pages")
        )
        return StageOutputs(
            main=results.pages,
            filtered=results[FILTERED],
            dead_letters=results[DEAD],
        )
