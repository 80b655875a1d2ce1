"""Parse one feed document (RSS, Atom, RDF, JSON Feed via feedparser) into ``FeedEntry`` records."""

from typing import Any, NamedTuple, Optional

import feedparser

from transforms.core.records import FeedEntry, FeedSource
from transforms.core.textutil import html_fragment_to_text, unique_clean
from transforms.core.timeutil import struct_time_to_iso
from transforms.core.urls import resolve_url, unwrap_redirector


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
