"""CC-NEWS-style input: the HTML responses of WARC files as ``FetchedPage`` records, no feed."""

import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PBegin, PCollection, TaggedOutput
from warcio.exceptions import ArchiveLoadFailed

from transforms.core.outputs import DEAD, FILTERED, dead_letter, filtered, unexpected
from transforms.core.records import Article, DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.core.urls import host_of, is_http_url
from transforms.net.content import HTML_TYPES, looks_like_html
from transforms.net.warc import WarcResponse, iter_responses

STAGE = "read_warc"
# A WARC file that cannot be read on (corrupt gzip, not a WARC) fails as a whole, like a feed.
FILES_STAGE = "read_warc_files"
FILES = "files"
ENTRIES = "entries"


def outlet_of(url: str) -> str:
    """Outlet id of a page without a registry: its host, without ``www.``."""
    return host_of(url).removeprefix("www.") or "unknown"


def entry_of(source: str, position: int, resp: WarcResponse) -> FeedEntry:
    """The FeedEntry a WARC record stands for (no feed: link = target URI, outlet = host)."""
    return FeedEntry(
        outlet_id=outlet_of(resp.target_uri),
        feed_url=source,
        feed_title=None,
        feed_language=None,
        outlet_languages=[],
        guid=resp.record_id or None,
        link=resp.target_uri,
        title=None,
        summary=None,
        # WARC-Date is the crawl time, not the publication time: it only stands in for a missing
        # page date after extraction (fill_published_from_warc_date), never before.
        published=None,
        authors=[],
        categories=[],
        image_url=None,
        position=position,
    )


def _charset(content_type: str) -> Optional[str]:
    """The charset parameter of a Content-Type value, if any."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'").lower()
    return None


def page_of(entry: FeedEntry, resp: WarcResponse) -> Union[FetchedPage, FilteredItem, DeadLetter]:
    """A WARC response as a fetched page, or why it is not one (same rules as FetchPages)."""
    link, outlet = entry.link, entry.outlet_id
    if not is_http_url(link):
        return filtered(STAGE, link or resp.record_id, outlet, "unsupported_link", "not http(s)")
    if resp.decode_error:
        return dead_letter(STAGE, link, outlet, "decode_error", resp.decode_error)
    if resp.too_large:
        return dead_letter(STAGE, link, outlet, "too_large", "payload exceeds fetch.max_bytes")
    if 300 <= resp.status < 400:
        target = resp.headers.get("location", "")
        return filtered(STAGE, link, outlet, "redirect", f"HTTP {resp.status} to {target}")
    if resp.status != 200:
        return filtered(STAGE, link, outlet, "http_status", f"HTTP {resp.status}")
    raw_type = resp.headers.get("content-type", "")
    content_type = raw_type.split(";")[0].strip().lower()
    if not resp.body.strip():
        return filtered(STAGE, link, outlet, "empty_body", "HTTP 200 with an empty body")
    is_html = content_type in HTML_TYPES if content_type else looks_like_html(resp.body)
    if content_type in {"application/xml", "text/xml"}:
        is_html = looks_like_html(resp.body)
    if not is_html:
        return filtered(STAGE, link, outlet, "not_html", f"Content-Type {content_type or '(none)'}")
    return FetchedPage(
        entry=entry,
        url=link,
        status=200,
        content_type=content_type or "text/html",
        charset=_charset(raw_type),
        body=resp.body,
        fetched_at=resp.warc_date,
        redirects=[],
    )


def fill_published_from_warc_date(article: Article) -> Article:
    """Last resort for pages that state no date: the crawl time (``date_source`` ``warc``)."""
    if article.published_at is not None:
        return article
    return article._replace(published_at=article.fetched_at, date_source="warc")


class ReadWarcRecordsFn(beam.DoFn):
    """Stream one WARC file: every response record is an entry, then a page or a reason why not."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._records = Metrics.counter(STAGE, "response_records")
        self._pages = Metrics.counter(STAGE, "html_pages")

    def process(self, readable: fileio.ReadableFile) -> Iterable[Any]:
        path = readable.metadata.path
        yield TaggedOutput(FILES, path)
        position = 0
        try:
            with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                for resp in iter_responses(stream, self._max_bytes):
                    entry = entry_of(path, position, resp)
                    position += 1
                    self._records.inc()
                    yield TaggedOutput(ENTRIES, entry)
                    result: Union[FetchedPage, FilteredItem, DeadLetter]
                    try:
                        result = page_of(entry, resp)
                    except Exception as exc:
                        # The entry was counted: it must leave as a dead letter, not vanish.
                        result = unexpected(STAGE, entry.link, entry.outlet_id, exc)
                    if isinstance(result, FetchedPage):
                        self._pages.inc()
                        yield result
                    elif isinstance(result, FilteredItem):
                        yield TaggedOutput(FILTERED, result)
                    else:
                        yield TaggedOutput(DEAD, result)
        except Exception as exc:
            # The records before the damage were emitted and counted; the rest of the file is
            # lost as a whole, like a feed that cannot be read.
            known = isinstance(exc, (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error))
            error_type = "warc_unreadable" if known else f"unexpected:{type(exc).__name__}"
            detail = f"after {position} response records: {type(exc).__name__}: {exc}"
            yield TaggedOutput(DEAD, dead_letter(FILES_STAGE, path, "", error_type, detail))


class WarcPages(NamedTuple):
    """What ReadWarcPages returns."""

    main: PCollection  # FetchedPage
    entries: PCollection  # FeedEntry, one per response record considered
    files: PCollection  # str, one per WARC file opened
    filtered: PCollection
    dead_letters: PCollection


class ReadWarcPages(beam.PTransform):
    """WARC files matching a pattern -> FetchedPage per HTML 200 response; the rest with reasons."""

    def __init__(self, pattern: str, max_bytes: int) -> None:
        super().__init__()
        self._pattern = pattern
        self._max_bytes = max_bytes

    def expand(self, pbegin: PBegin) -> Any:  # WarcPages
        results = (
            pbegin
            | "MatchWarcFiles" >> fileio.MatchFiles(self._pattern)
            # Files are the unit of parallelism; within a file records stream through extraction
            # without being held in memory (no reshuffle of the bodies).
            | "OpenWarcFiles" >> fileio.ReadMatches()
            | "ReadWarcRecords"
            >> beam.ParDo(ReadWarcRecordsFn(self._max_bytes))
            .with_output_types(FetchedPage)
            .with_outputs(ENTRIES, FILES, FILTERED, DEAD, main="pages")
        )
        return WarcPages(
            main=results.pages,
            entries=results[ENTRIES],
            files=results[FILES],
            filtered=results[FILTERED],
            dead_letters=results[DEAD],
        )
