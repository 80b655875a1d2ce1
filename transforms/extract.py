"""Stage 3: extract the article body and metadata from a fetched page with trafilatura."""

import codecs
import functools
import re
from collections.abc import Iterable
from configparser import ConfigParser
from typing import Any, Optional, Union

import apache_beam as beam
import trafilatura
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from trafilatura.settings import use_config

from transforms.common import FILTERED, StageOutputs, dead_letter, filtered, unexpected
from transforms.language import primary_subtag
from transforms.records import SCHEMA_VERSION, Article, DeadLetter, FetchedPage, FilteredItem
from transforms.settings import ExtractSettings
from transforms.textutil import (
    collapse_ws,
    content_hash,
    html_fragment_to_text,
    unique_clean,
    word_count,
)
from transforms.timeutil import normalize_iso
from transforms.urls import is_http_url, normalize_url, stable_id

STAGE = "extract_articles"
UNDETERMINED = "und"


def decode_html(body: bytes, charset: Optional[str]) -> Union[str, bytes]:
    """Decode with the declared charset when it is known and works; else let trafilatura sniff."""
    if charset:
        try:
            codecs.lookup(charset)
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return body


@functools.lru_cache(maxsize=8)
def trafilatura_config(max_tree_size: Optional[int]) -> ConfigParser:
    """trafilatura's settings with our limits (read-only after creation, so safe to share)."""
    config = use_config()
    # Beam's with_exception_handling(timeout=...) bounds each page; trafilatura's own timeout uses
    # SIGALRM, which only works in the main thread.
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    config.set("DEFAULT", "MAX_TREE_SIZE", str(max_tree_size) if max_tree_size else "")
    return config


def split_authors(value: Optional[str]) -> list[str]:
    """Split trafilatura's ``'A; B'`` author string into a list."""
    if not value:
        return []
    return unique_clean(part for part in value.split(";"))


_HTML_LANG_RE = re.compile(
    rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)", re.I
)


def language_hints(page: FetchedPage) -> list[str]:
    """Declared languages, strongest first: ``html:<lang>``, ``feed:<lang>``, ``outlet:<lang>``."""
    hints: list[str] = []
    match = _HTML_LANG_RE.search(page.body[:20_000])
    declared = [("html", match.group(1).decode("ascii") if match else None)]
    declared.append(("feed", page.entry.feed_language))
    declared.extend(("outlet", lang) for lang in page.entry.outlet_languages)
    for source, value in declared:
        code = primary_subtag(value)
        if code and f"{source}:{code}" not in hints:
            hints.append(f"{source}:{code}")
    return hints


def article_id_for(canonical_url: str, source_url: str) -> str:
    """Stable id: the canonical URL plus the normalized link the article was reached by."""
    return stable_id(canonical_url, normalize_url(source_url))


def extract_article(page: FetchedPage, settings: ExtractSettings) -> Union[Article, FilteredItem]:
    """Run trafilatura on one page and build an Article (language not yet detected)."""
    entry = page.entry
    doc: Any = trafilatura.bare_extraction(
        decode_html(page.body, page.charset),
        url=page.url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        config=trafilatura_config(settings.max_tree_size),
    )
    text = (doc.text or "").strip() if doc is not None else ""
    if not text:
        return filtered(
            STAGE, entry.link, entry.outlet_id, "no_text", "trafilatura found no article body"
        )
    url = normalize_url(page.url)
    canonical = doc.url if is_http_url(doc.url) else page.url
    canonical_url = normalize_url(canonical)
    feed_date = normalize_iso(entry.published)
    page_date = normalize_iso(doc.date)
    published_at, date_source = (
        (feed_date, "feed") if feed_date else (page_date, "page") if page_date else (None, None)
    )
    words = word_count(text)
    flags = ["too_short"] if words < settings.min_words else []
    return Article(
        article_id=article_id_for(canonical_url, entry.link),
        url=url,
        source_url=entry.link,
        canonical_url=canonical_url,
        outlet_id=entry.outlet_id,
        feed_url=entry.feed_url,
        guid=entry.guid,
        title=collapse_ws(doc.title) or entry.title,
        description=collapse_ws(html_fragment_to_text(doc.description)) or entry.summary,
        text=text,
        authors=split_authors(doc.author) or list(entry.authors),
        published_at=published_at,
        date_source=date_source,
        language=UNDETERMINED,
        language_confidence=0.0,
        language_source="none",
        language_hints=language_hints(page),
        categories=unique_clean([*(doc.categories or []), *entry.categories]),
        tags=unique_clean(doc.tags or []),
        image_url=doc.image if is_http_url(doc.image) else entry.image_url,
        sitename=collapse_ws(doc.sitename) or None,
        word_count=words,
        fetched_at=page.fetched_at,
        content_hash=content_hash(text),
        quality_flags=flags,
        duplicate_of=None,
        dup_method=None,
        schema_version=SCHEMA_VERSION,
    )


class ExtractArticleFn(beam.DoFn):
    """Split extraction results into articles and filtered items."""

    def __init__(self) -> None:
        self._extracted = Metrics.counter(STAGE, "articles_extracted")

    def process(self, result: Union[Article, FilteredItem]) -> Iterable[Any]:
        if isinstance(result, Article):
            self._extracted.inc()
            yield result
        else:
            yield TaggedOutput(FILTERED, result)


def _to_dead_letter(failure: Any) -> DeadLetter:
    """Turn Beam's ``(element, (type, message, traceback))`` failure into a DeadLetter."""
    page, (exc_type, exc_message, _trace) = failure
    name = getattr(exc_type, "__name__", str(exc_type))
    error_type = "timeout" if name == "TimeoutError" else f"unexpected:{name}"
    entry = page.entry
    return dead_letter(STAGE, entry.link, entry.outlet_id, error_type, str(exc_message))


class ExtractArticles(beam.PTransform):
    """FetchedPage -> Article; trafilatura runs under a per-page timeout."""

    def __init__(self, settings: ExtractSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, pages: PCollection) -> Any:  # StageOutputs
        settings = self._settings
        results, failures = pages | "RunTrafilatura" >> beam.Map(
            extract_article, settings
        ).with_exception_handling(exc_class=Exception, timeout=settings.timeout_s)
        split = results | "SplitExtracted" >> beam.ParDo(ExtractArticleFn()).with_output_types(
            Article
        ).with_outputs(FILTERED, main="articles")
        dead = failures | "ExtractFailuresToDeadLetters" >> beam.Map(_to_dead_letter)
        return StageOutputs(
            main=split.articles,
            filtered=split[FILTERED],
            dead_letters=dead,
        )


__all__ = ["ExtractArticles", "extract_article", "unexpected"]
