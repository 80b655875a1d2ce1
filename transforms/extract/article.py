"""Stage 3: extract the article body (trafilatura) and its metadata (``transforms.metadata``).

The page is parsed once. Metadata is read from that tree first (trafilatura works on its own
copy), then trafilatura's balanced extractor runs without comments, and a few general rules
clean its output (see ``clean_text`` and docs/quality-extraction.md for what each rule gained).
"""

import codecs
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from transforms.core.langtags import UNDETERMINED, primary_subtag
from transforms.core.outputs import FILTERED, StageOutputs, dead_letter, filtered
from transforms.core.records import SCHEMA_VERSION, Article, DeadLetter, FetchedPage, FilteredItem
from transforms.core.settings import ExtractSettings
from transforms.core.textutil import collapse_ws, content_hash, unique_clean, word_count
from transforms.core.timeutil import parse_iso
from transforms.core.urls import is_http_url, normalize_url, stable_id
from transforms.extract import fields, guards
from transforms.extract.authors import choose_authors
from transforms.extract.body import SENTENCE_END, extract_body, merge_split_bodies, strip_inert
from transforms.extract.dates import (
    DateCandidate,
    choose_date,
    dateline_dates,
    htmldate_date,
    jsonld_dates,
    meta_dates,
    parse_date,
    time_dates,
)
from transforms.extract.signals import PageSignals, read_signals
from transforms.extract.titles import choose_title, headline_keys

STAGE = "extract_articles"

# Quality flags (Article.quality_flags).
TOO_SHORT = "too_short"
PAYWALLED = "paywalled"
POSSIBLY_TRUNCATED = "possibly_truncated"
NO_BODY_USED_SUMMARY = "no_body_used_summary"


def decode_html(body: bytes, charset: Optional[str]) -> Union[str, bytes]:
    """Decode with the declared charset when it is known and works; else let trafilatura sniff."""
    if charset:
        try:
            codecs.lookup(charset)
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return body


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


def parse_page(markup: Union[str, bytes]) -> Optional[HtmlElement]:
    """Parse the page once (trafilatura's loader: charset sniffing, repairs); None if not HTML."""
    try:
        tree = load_html(markup)
    except (TypeError, ValueError):
        return None
    return tree if isinstance(tree, HtmlElement) else None


class PageFacts(NamedTuple):
    """Metadata of one page with provenance, before the body is known."""

    title: Optional[str]
    title_source: Optional[str]
    headlines: set[str]
    authors: list[str]
    date: Optional[DateCandidate]
    canonical_url: Optional[str]
    image_url: Optional[str]
    description: Optional[str]
    sitename: Optional[str]
    categories: list[str]
    tags: list[str]
    access: fields.AccessSignals


def page_facts(tree: HtmlElement, page: FetchedPage) -> PageFacts:
    """Read the page's metadata; the feed entry fills gaps as documented in transforms.metadata."""
    entry = page.entry
    now = parse_iso(page.fetched_at)
    signals = read_signals(tree, page.url)
    title, title_source = choose_title(signals, entry.title)
    authors, _author_source = choose_authors(signals, entry.authors)
    feed_date = parse_date(entry.published, now)
    return PageFacts(
        title=title,
        title_source=title_source,
        headlines=headline_keys(signals, title),
        authors=authors,
        date=choose_date(feed_date, page_dates(signals, now, feed_date is None)),
        canonical_url=fields.canonical_url(signals, page.url),
        image_url=fields.image_url(signals, page.url),
        description=fields.description(signals),
        sitename=fields.sitename(signals),
        categories=fields.categories(signals),
        tags=fields.tags(signals),
        access=fields.access_signals(signals),
    )


# The page's date sources in order of trust (measured on wcxb-dev, docs/quality-extraction.md);
# only the first that finds something runs, htmldate (the slowest) last.
_DATE_SOURCES = (meta_dates, dateline_dates, jsonld_dates, time_dates)


def page_dates(
    signals: PageSignals, now: Optional[dt.datetime], guess: bool
) -> list[DateCandidate]:
    """Candidates of the first date source (in order of trust) that finds any.

    htmldate's guess only runs when ``guess`` is set (no feed timestamp to fall back on).
    """
    for source in _DATE_SOURCES:
        found = source(signals, now)
        if found:
            return found
    fallback = htmldate_date(signals.tree, now) if guess else None
    return [fallback] if fallback else []


_TEASER_END_RE = re.compile(r"(?:\.\.\.|…)\s*$")
# Text this much shorter than the publisher's declared wordCount was cut off.
_WORDCOUNT_SHARE = 0.6


def ends_open(text: str) -> bool:
    """True when the last line stops mid-sentence (no closing punctuation)."""
    last = text.rstrip().rsplit("\n", 1)[-1] if text else ""
    return bool(last) and not last.endswith(SENTENCE_END)


def quality_flags(
    text: str,
    words: int,
    access: fields.AccessSignals,
    paywall_markup: bool,
    settings: ExtractSettings,
) -> list[str]:
    """``too_short``, ``paywalled`` and ``possibly_truncated`` for an extracted body.

    Truncated: the publisher says the article is not free, the text has under 60% of the
    declared ``wordCount``, it ends in "..." (a teaser), or the page has paywall markup and the
    text stops mid-sentence.
    """
    flags: list[str] = []
    if words < settings.min_words:
        flags.append(TOO_SHORT)
    if access.free is False:
        flags.append(PAYWALLED)
    last = text.rstrip().rsplit("\n", 1)[-1] if text else ""
    truncated = (
        access.free is False
        or (access.declared_words is not None and words < _WORDCOUNT_SHARE * access.declared_words)
        or bool(_TEASER_END_RE.search(last))
        or (paywall_markup and ends_open(text))
    )
    if truncated:
        flags.append(POSSIBLY_TRUNCATED)
    return flags


def extract_article(page: FetchedPage, settings: ExtractSettings) -> Union[Article, FilteredItem]:
    """Extract body and metadata of one page and build an Article (language not yet detected)."""
    entry = page.entry
    source = guards.read_source(page.body, page.charset)
    tree = parse_page(source.markup)
    facts = page_facts(tree, page) if tree is not None else None
    text = ""
    guard_flags: list[str] = []
    if tree is not None and facts is not None:
        tree_chars = guards.tree_text_chars(tree)  # before strip_inert: the parser's losses only
        strip_inert(tree)
        merge_split_bodies(tree)
        text = extract_body(tree, page.url, settings, facts.headlines)
        # The parser gave up on the page (too deeply nested): read its text without a tree.
        if guards.tree_lost_text(tree_chars, source):
            text = guards.fallback_text(source.markup)
            guard_flags.append(guards.FALLBACK_BODY)
        guard_flags.extend(guards.truncation_flag(text, source, tree_chars))
    words = word_count(text)
    summary = collapse_ws(entry.summary)
    used_summary = False
    # Nothing usable extracted but the feed describes the item: keep it, flagged, with the
    # summary as its body (a page behind a login or built by scripts still has a feed entry).
    if words < settings.min_words and word_count(summary) > words:
        text, words, used_summary = summary, word_count(summary), True
    rejected = guards.not_article_reason(
        text, words, used_summary, tree, source, settings.min_words
    )
    if rejected:
        return filtered(STAGE, entry.link, entry.outlet_id, *rejected)
    if not text:
        return filtered(
            STAGE, entry.link, entry.outlet_id, "no_text", "no article body and no feed summary"
        )
    access = facts.access if facts else fields.AccessSignals(None, None)
    # The paywall-markup scan is only needed for a text that stops mid-sentence.
    markup = tree is not None and ends_open(text) and fields.has_paywall_markup(tree)
    flags = quality_flags(text, words, access, markup, settings)
    if used_summary:
        flags.append(NO_BODY_USED_SUMMARY)
        guard_flags = []  # the fallback and truncation flags describe the page's body
    flags.extend(f for f in [*source.flags, *guard_flags] if f not in flags)
    url = normalize_url(page.url)
    declared = facts.canonical_url if facts else None
    canonical_url = normalize_url(declared if declared and is_http_url(declared) else page.url)
    date = facts.date if facts else choose_date(parse_date(entry.published), [])
    title = facts.title if facts else collapse_ws(entry.title) or None
    return Article(
        article_id=article_id_for(canonical_url, entry.link),
        url=url,
        source_url=entry.link,
        canonical_url=canonical_url,
        outlet_id=entry.outlet_id,
        feed_url=entry.feed_url,
        guid=entry.guid,
        title=title,
        description=(facts.description if facts else None) or entry.summary,
        text=text,
        authors=facts.authors if facts else unique_clean(entry.authors),
        published_at=date.date.utc if date else None,
        date_source=date.source if date else None,
        language=UNDETERMINED,
        language_confidence=0.0,
        language_source="none",
        language_hints=language_hints(page),
        categories=unique_clean([*(facts.categories if facts else []), *entry.categories]),
        tags=facts.tags if facts else [],
        image_url=(facts.image_url if facts else None) or entry.image_url,
        sitename=facts.sitename if facts else None,
        word_count=words,
        fetched_at=page.fetched_at,
        content_hash=content_hash(text),
        quality_flags=flags,
        duplicate_of=None,
        dup_method=None,
        schema_version=SCHEMA_VERSION,
        title_source=(facts.title_source if facts else None) if title else None,
        published_local=date.date.local if date else None,
    )


class ExtractArticleFn(beam.DoFn):
    """Split extraction results into articles and filtered items."""

    def __init__(self) -> None:
        """Create the stage's counters."""
        self._extracted = Metrics.counter(STAGE, "articles_extracted")
        self._from_summary = Metrics.counter(STAGE, "articles_from_feed_summary")

    def process(self, result: Union[Article, FilteredItem]) -> Iterable[Any]:
        """Route an Article to the main output and a FilteredItem to ``filtered``."""
        if isinstance(result, Article):
            self._extracted.inc()
            if NO_BODY_USED_SUMMARY in result.quality_flags:
                self._from_summary.inc()
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
    """FetchedPage -> Article; extraction runs under a per-page timeout."""

    def __init__(self, settings: ExtractSettings) -> None:
        """Keep the extraction settings."""
        super().__init__()
        self._settings = settings

    def expand(self, pages: PCollection) -> Any:  # StageOutputs
        """Extract every page; failures and timeouts become dead letters."""
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
