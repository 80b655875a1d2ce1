"""Record types that flow between stages.

Typed NamedTuples so that Beam infers schema-aware coders. No ``from __future__ import annotations``
here: Beam reads these hints at runtime and string annotations make them infer as ``Any``
(STYLE.md). Timestamps are ISO-8601 UTC strings (``2023-09-14T08:00:00Z``) inside the pipeline;
the sinks turn them into Parquet timestamps.
"""

from typing import List, NamedTuple, Optional

SCHEMA_VERSION = 3


class FeedSource(NamedTuple):
    """One feed of one outlet, as configured."""

    outlet_id: str
    feed_url: str
    outlet_name: str
    country: str
    languages: List[str]


class FeedEntry(NamedTuple):
    """One item of a feed, with the feed-level fields later stages can use."""

    outlet_id: str
    feed_url: str
    feed_title: Optional[str]
    feed_language: Optional[str]
    outlet_languages: List[str]
    guid: Optional[str]
    link: str
    title: Optional[str]
    summary: Optional[str]
    published: Optional[str]
    authors: List[str]
    categories: List[str]
    image_url: Optional[str]
    position: int


class FetchedPage(NamedTuple):
    """The HTTP response for one feed entry's link."""

    entry: FeedEntry
    url: str
    status: int
    content_type: str
    charset: Optional[str]
    body: bytes
    fetched_at: str
    redirects: List[str]


class Article(NamedTuple):
    """One normalized article: the row written to ``<output>/articles/``."""

    article_id: str
    url: str
    source_url: str
    canonical_url: str
    outlet_id: str
    feed_url: str
    guid: Optional[str]
    title: Optional[str]
    description: Optional[str]
    text: str
    authors: List[str]
    published_at: Optional[str]
    date_source: Optional[str]
    language: str
    language_confidence: float
    language_source: str
    language_hints: List[str]
    categories: List[str]
    tags: List[str]
    image_url: Optional[str]
    sitename: Optional[str]
    word_count: int
    fetched_at: str
    content_hash: str
    # too_short, paywalled, possibly_truncated, no_body_used_summary (docs/quality-extraction.md);
    # fallback_body, mixed_charset, and possibly_truncated for a body that is a tiny share of a
    # large page's text (docs/hostile-pages.md).
    quality_flags: List[str]
    duplicate_of: Optional[str]
    dup_method: Optional[str]
    schema_version: int
    # Added in schema version 2 (with defaults, so version-1 constructors keep working):
    # where the title came from (jsonld, og, h1, title, itemprop, feed) ...
    title_source: Optional[str] = None
    # ... and the publication time as the source stated it: ISO 8601 with its UTC offset, or a
    # bare day (YYYY-MM-DD) when no time was given. published_at is the same instant in UTC.
    published_local: Optional[str] = None
    # Added in schema version 3: the story (coverage of one event across outlets and languages)
    # this article belongs to, set by DedupArticles for every row ...
    story_id: str = ""
    # ... and how strongly it is linked to its group: 1.0 for URL/canonical/exact-text copies,
    # the 5-shingle Jaccard for near-duplicates (estimated from MinHash when the other copy was
    # stored by an earlier run), the story score for same-story coverage.
    dup_score: Optional[float] = None


class DeadLetter(NamedTuple):
    """An item that failed unexpectedly, with enough context to retry or debug it."""

    stage: str
    url: str
    outlet_id: str
    error_type: str
    error_message: str
    failed_at: str


class FilteredItem(NamedTuple):
    """An item dropped on purpose (expected condition), with the reason."""

    stage: str
    url: str
    outlet_id: str
    # e.g. not_html, no_text; not_article (a link list) and no_body (a script shell) from extraction
    # (docs/hostile-pages.md).
    reason: str
    detail: str
    filtered_at: str


class DedupSignature(NamedTuple):
    """What dedup keeps of an article to compare it with later runs (``<output>/signatures/``)."""

    article_id: str
    url: str
    outlet_id: str
    language: str
    title: Optional[str]
    published_at: Optional[str]
    fetched_at: str
    url_key: str
    canonical_key: str
    content_hash: str
    story_id: str
    duplicate_of: Optional[str]
    dup_method: Optional[str]
    # Same-story features (transforms/dedup/story/): prefixed terms and their weights.
    story_terms: List[str]
    story_weights: List[float]
    # Near-duplicate signature (transforms/dedup/near/): 128 little-endian uint32 MinHash
    # values; None when the text is too short to be compared.
    minhash: Optional[bytes] = None


class Story(NamedTuple):
    """One story and all its coverage, as of a run (``<output>/stories/``)."""

    story_id: str
    first_seen: str
    last_seen: str
    article_count: int
    outlet_count: int
    outlets: List[str]
    languages: List[str]
    representative_title: Optional[str]
    representative_id: str
    member_ids: List[str]
    run_id: str


class FeedState(NamedTuple):
    """What incremental polling keeps of one feed between runs (``<output>/state/feeds/``)."""

    feed_url: str
    outlet_id: str
    # Validators the server sent, echoed as If-None-Match / If-Modified-Since next run.
    etag: Optional[str]
    last_modified: Optional[str]
    # sha256 of the body as served, and of its items (link, guid, title, summary, published):
    # the second ignores channel fields such as lastBuildDate that change on every request.
    body_sha256: str
    items_sha256: str
    entry_count: int
    # 200 or 304, and whether this poll found new content (False: "not modified").
    status: int
    changed: bool
    checked_at: str
    changed_at: str
    run_id: str


class LedgerEntry(NamedTuple):
    """One link a run fetched for good: later runs skip it (``<output>/ledger/``)."""

    # normalize_url(link): the key CollapseEntries groups by.
    link_key: str
    url: str
    outlet_id: str
    # fetched (an HTML page), or a permanent failure: not_html, http_404, http_410, too_large.
    outcome: str
    fetched_at: str
    first_seen_run: str
