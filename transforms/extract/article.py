"""Stage 3: extract the article body (trafilatura) and its metadata (``transforms.metadata``).

The page is parsed once. Metadata is read from that tree first (trafilatura works on its own
copy), then trafilatura's balanced extractor runs without comments, and a few general rules
clean its output (see ``clean_text`` and docs/quality-extraction.md for what each rule gained).
"""

import codecs
import datetime as dt
import functools
import re
from collections.abc import Iterable
from configparser import ConfigParser
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
import trafilatura
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from lxml.etree import _Element, strip_elements
from lxml.html import HtmlElement
from trafilatura.settings import use_config
from trafilatura.utils import load_html

from transforms.core.outputs import FILTERED, StageOutputs, dead_letter, filtered, unexpected
from transforms.core.records import SCHEMA_VERSION, Article, DeadLetter, FetchedPage, FilteredItem
from transforms.core.settings import ExtractSettings
from transforms.core.textutil import collapse_ws, content_hash, unique_clean, word_count
from transforms.core.timeutil import parse_iso
from transforms.core.urls import is_http_url, normalize_url, stable_id
from transforms.extract import signals as md
from transforms.language.detect import primary_subtag

STAGE = "extract_articles"
UNDETERMINED = "und"

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


@functools.lru_cache(maxsize=8)
def trafilatura_config(max_tree_size: Optional[int]) -> ConfigParser:
    """trafilatura's settings with our limits (read-only after creation, so safe to share)."""
    config = use_config()
    # Beam's with_exception_handling(timeout=...) bounds each page; trafilatura's own timeout uses
    # SIGALRM, which only works in the main thread.
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    config.set("DEFAULT", "MAX_TREE_SIZE", str(max_tree_size) if max_tree_size else "")
    return config


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


def parse_page(page: FetchedPage) -> Optional[HtmlElement]:
    """Parse the page once (trafilatura's loader: charset sniffing, repairs); None if not HTML."""
    try:
        tree = load_html(decode_html(page.body, page.charset))
    except (TypeError, ValueError):
        return None
    return tree if isinstance(tree, HtmlElement) else None


# --- split article bodies -------------------------------------------------------------------------

# Containers whose class names the article body. trafilatura takes the first one; some sites
# (Condé Nast's Wired among them) cut the body into several such containers around ad slots.
_BODY_CLASS_RE = (
    r"post[-_]text|post-body|post-?entry|post[-_]?content|postContent|article-?text|articleText|"
    r"(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody|"
    r"ArticleContent|body-text|article__container"
)
_BODY_CLASS = re.compile(_BODY_CLASS_RE)


def _body_containers(tree: HtmlElement) -> list[_Element]:
    """Elements whose class (or itemprop) names the article body."""
    # A Python loop over the three container tags beats an XPath with these tests (measured).
    return [
        e
        for e in tree.iter("div", "article", "section")
        if e.get("itemprop") == "articleBody" or _BODY_CLASS.search(e.get("class") or "")
    ]


# A part of a split body holds prose; teaser cards with the same class are short.
_MIN_PART_CHARS = 200
# Between two parts there may only be ad slots and captions, not other content.
_MAX_GAP_CHARS = 200
_SKIP_TEXT = {"script", "style", "noscript", "template"}


def _gap_chars(
    order: dict[_Element, int], elements: list[_Element], a: _Element, b: _Element
) -> int:
    """Characters of text in the document between the end of ``a`` and the start of ``b``."""
    last = a
    for last in a.iterdescendants():  # noqa: B007 -- the loop finds the last descendant
        pass
    skip = set(b.iterancestors())
    total = 0
    for element in elements[order[last] + 1 : order[b]]:
        if element in skip or not isinstance(element.tag, str) or element.tag in _SKIP_TEXT:
            continue
        total += len((element.text or "").strip())
        if total > _MAX_GAP_CHARS:
            break
    return total


def merge_split_bodies(tree: HtmlElement) -> int:
    """Move the later parts of a body split into same-class containers into the first one.

    Parts must have the same tag and class, hold at least 200 characters, sit in the same
    ``<article>``/``<li>`` (so a list of teasers is never merged) and be separated only by
    short text (ad labels). Returns the number of containers merged (0 on most pages).
    """
    groups: dict[tuple[str, str, str], list[_Element]] = {}
    for element in _body_containers(tree):
        key = (str(element.tag), element.get("class") or "", element.get("itemprop") or "")
        groups.setdefault(key, []).append(element)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return 0
    elements = list(tree.iter())
    order = {element: n for n, element in enumerate(elements)}
    merged = 0
    for members in groups.values():
        outer = [m for m in members if not any(a in members for a in m.iterancestors())]
        parts = [
            m
            for m in outer
            if len(m.text_content()) >= _MIN_PART_CHARS and next(m.iterancestors("a"), None) is None
        ]
        if len(parts) < 2:
            continue
        first, previous = parts[0], parts[0]
        scope = next(first.iterancestors("article", "li"), None)
        chain = []
        for part in parts[1:]:
            if next(part.iterancestors("article", "li"), None) is not scope:
                break
            if _gap_chars(order, elements, previous, part) > _MAX_GAP_CHARS:
                break
            chain.append(part)
            previous = part
        for part in chain:
            for child in list(part):
                first.append(child)
            parent = part.getparent()
            if parent is not None:
                parent.remove(part)
            merged += 1
    return merged


# --- body cleaning --------------------------------------------------------------------------------
# The rules work on the lines of trafilatura's text (one block per line, list items as "- ..."):
# cheaper than walking its output tree, and the same information.


def text_lines(text: str) -> list[str]:
    """Non-empty lines of a text, whitespace collapsed."""
    return [line for raw in text.split("\n") if (line := " ".join(raw.split()))]


def drop_leading_headline(lines: list[str], headlines: set[str]) -> list[str]:
    """Remove leading lines that repeat the headline (it is metadata, not body text)."""
    start = 0
    while start < min(3, len(lines)) and md.title_key(lines[start]) in headlines:
        start += 1
    return lines[start:]


# A link text longer than this is not a headline in a list of links.
_MAX_LINK_TEXT = 300
# A line counts as a link when a link text covers at least this share of it (teaser lists put a
# one-line summary after the linked headline).
_LINK_SHARE = 0.4


def _link_key(text: str) -> str:
    """Cheap comparison key for link texts: collapsed whitespace, casefolded."""
    return " ".join(text.split()).casefold()


class AnchorIndex:
    """Comparison keys of the page's link texts, to recognise link lists in the output."""

    def __init__(self, tree: HtmlElement) -> None:
        """Index the links of ``tree`` lazily."""
        self._tree = tree
        self._keys: Optional[set[str]] = None

    def keys(self) -> set[str]:
        """Keys of all link texts (computed on first use: most pages never need them)."""
        if self._keys is None:
            self._keys = {key for a in self._tree.iter("a") if (key := _link_key(a.text_content()))}
        return self._keys

    def is_link_text(self, text: str) -> bool:
        """True when the text is a link text, or starts with one covering much of it."""
        key = _link_key(text)
        if not key or len(key) > _MAX_LINK_TEXT:
            return False
        keys = self.keys()
        words = key.split()
        for n in range(len(words), 0, -1):
            prefix = " ".join(words[:n])
            if len(prefix) < _LINK_SHARE * len(key):
                return False
            if prefix in keys:
                return True
        return False


# Closing punctuation, including curly quotes, the ellipsis and CJK full stops (as escapes).
_SENTENCE_END = tuple(".!?\"')]\u201d\u2019\u00bb\u2026\u3002\uff01\uff1f")
# A line this short without closing punctuation that heads a removed link list is its title.
_HEADING_WORDS = 6


def trim_trailing_links(lines: list[str], anchors: AnchorIndex) -> list[str]:
    """Remove the trailing run of link lines ("Related", "Most read", "More from ...").

    A line counts when it is (a list item made of) a link text of the page; the heading
    right above a removed run goes too. Never removes more than half of the text.
    """
    total = sum(len(line) for line in lines)
    removed = 0
    end = len(lines)
    while end > 0:
        line = lines[end - 1]
        item = line[2:] if line.startswith("- ") else line
        if not (item.strip("- ") == "" or anchors.is_link_text(item)):
            break
        if 2 * (removed + len(line)) > total:
            break
        removed += len(line)
        end -= 1
    if removed and end > 0:
        last = lines[end - 1]
        heading = not last.startswith("- ") and len(last.split()) <= _HEADING_WORDS
        if heading and not last.endswith(_SENTENCE_END) and 2 * (removed + len(last)) <= total:
            end -= 1
    return lines[:end]


# A text whose repeated lines make up this share of it was laid out more than once (desktop and
# mobile copies, sticky recaps): keep the first copy of each line.
_DUPLICATE_SHARE = 0.2
_MIN_DUPLICATE_CHARS = 40


def drop_repeated_lines(lines: list[str]) -> list[str]:
    """Remove verbatim repeats of earlier long lines when repeats are a large share of the text."""
    seen: set[str] = set()
    keep: list[str] = []
    total = repeated = 0
    for line in lines:
        key = _link_key(line)
        total += len(key)
        if len(key) >= _MIN_DUPLICATE_CHARS and key in seen:
            repeated += len(key)
            continue
        seen.add(key)
        keep.append(line)
    return keep if repeated >= _DUPLICATE_SHARE * total and repeated else lines


def clean_text(text: str, headlines: set[str], anchors: AnchorIndex) -> str:
    """Apply the output rules to trafilatura's text."""
    lines = drop_leading_headline(text_lines(text), headlines)
    lines = trim_trailing_links(lines, anchors)
    return "\n".join(drop_repeated_lines(lines))


def _run_trafilatura(tree: HtmlElement, url: Optional[str], settings: ExtractSettings) -> Any:
    """One balanced trafilatura pass without comments or metadata, on its own copy of the tree.

    Comments are left out: reader comments are not the article (this alone lifts AEB F1 from
    0.948 to 0.959). Metadata comes from transforms.metadata, which is cheaper and records
    provenance.
    """
    return trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=False,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        config=trafilatura_config(settings.max_tree_size),
    )


_JSONLD_PLACEHOLDER = "newsbeam-ld-json"


def strip_inert(tree: HtmlElement) -> None:
    """Remove scripts (except JSON-LD), styles and inline SVG before trafilatura copies the tree.

    trafilatura drops them itself, but only after copying the whole tree several times; doing it
    once first makes its pass about 6-10% cheaper with the same output (measured on AEB and
    wcxb-dev). JSON-LD stays: trafilatura's baseline fallback reads ``articleBody`` from it.
    """
    jsonld = [s for s in tree.iter("script") if "ld+json" in (s.get("type") or "").lower()]
    for script in jsonld:
        script.tag = _JSONLD_PLACEHOLDER
    strip_elements(tree, "script", "style", "svg", with_tail=False)
    for script in jsonld:
        script.tag = "script"


def extract_body(
    tree: HtmlElement, url: Optional[str], settings: ExtractSettings, headlines: set[str]
) -> str:
    """trafilatura's balanced extraction of the main text (no comments), cleaned."""
    doc = _run_trafilatura(tree, url, settings)
    if doc is None or not doc.text:
        return ""
    return clean_text(doc.text, headlines, AnchorIndex(tree))


# --- metadata and flags ---------------------------------------------------------------------------


class PageFacts(NamedTuple):
    """Metadata of one page with provenance, before the body is known."""

    title: Optional[str]
    title_source: Optional[str]
    headlines: set[str]
    authors: list[str]
    date: Optional[md.DateCandidate]
    canonical_url: Optional[str]
    image_url: Optional[str]
    description: Optional[str]
    sitename: Optional[str]
    categories: list[str]
    tags: list[str]
    access: md.AccessSignals


def page_facts(tree: HtmlElement, page: FetchedPage) -> PageFacts:
    """Read the page's metadata; the feed entry fills gaps as documented in transforms.metadata."""
    entry = page.entry
    now = parse_iso(page.fetched_at)
    signals = md.read_signals(tree, page.url)
    title, title_source = md.choose_title(signals, entry.title)
    authors, _author_source = md.choose_authors(signals, entry.authors)
    feed_date = md.parse_date(entry.published, now)
    return PageFacts(
        title=title,
        title_source=title_source,
        headlines=md.headline_keys(signals, title),
        authors=authors,
        date=md.choose_date(feed_date, page_dates(signals, now, feed_date is None)),
        canonical_url=md.canonical_url(signals, page.url),
        image_url=md.image_url(signals, page.url),
        description=md.description(signals),
        sitename=md.sitename(signals),
        categories=md.categories(signals),
        tags=md.tags(signals),
        access=md.access_signals(signals),
    )


# The page's date sources in order of trust (measured on wcxb-dev, docs/quality-extraction.md);
# only the first that finds something runs, htmldate (the slowest) last.
_DATE_SOURCES = (md.meta_dates, md.dateline_dates, md.jsonld_dates, md.time_dates)


def page_dates(
    signals: md.PageSignals, now: Optional[dt.datetime], guess: bool
) -> list[md.DateCandidate]:
    """Candidates of the first date source (in order of trust) that finds any.

    htmldate's guess only runs when ``guess`` is set (no feed timestamp to fall back on).
    """
    for source in _DATE_SOURCES:
        found = source(signals, now)
        if found:
            return found
    fallback = md.htmldate_date(signals.tree, now) if guess else None
    return [fallback] if fallback else []


_TEASER_END_RE = re.compile(r"(?:\.\.\.|…)\s*$")
# Text this much shorter than the publisher's declared wordCount was cut off.
_WORDCOUNT_SHARE = 0.6


def ends_open(text: str) -> bool:
    """True when the last line stops mid-sentence (no closing punctuation)."""
    last = text.rstrip().rsplit("\n", 1)[-1] if text else ""
    return bool(last) and not last.endswith(_SENTENCE_END)


def quality_flags(
    text: str,
    words: int,
    access: md.AccessSignals,
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
    tree = parse_page(page)
    facts = page_facts(tree, page) if tree is not None else None
    text = ""
    if tree is not None and facts is not None:
        strip_inert(tree)
        merge_split_bodies(tree)
        text = extract_body(tree, page.url, settings, facts.headlines)
    words = word_count(text)
    summary = collapse_ws(entry.summary)
    used_summary = False
    # Nothing usable extracted but the feed describes the item: keep it, flagged, with the
    # summary as its body (a page behind a login or built by scripts still has a feed entry).
    if words < settings.min_words and word_count(summary) > words:
        text, words, used_summary = summary, word_count(summary), True
    if not text:
        return filtered(
            STAGE, entry.link, entry.outlet_id, "no_text", "no article body and no feed summary"
        )
    access = facts.access if facts else md.AccessSignals(None, None)
    # The paywall-markup scan is only needed for a text that stops mid-sentence.
    markup = tree is not None and ends_open(text) and md.has_paywall_markup(tree)
    flags = quality_flags(text, words, access, markup, settings)
    if used_summary:
        flags.append(NO_BODY_USED_SUMMARY)
    url = normalize_url(page.url)
    declared = facts.canonical_url if facts else None
    canonical_url = normalize_url(declared if declared and is_http_url(declared) else page.url)
    date = facts.date if facts else md.choose_date(md.parse_date(entry.published), [])
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


__all__ = ["ExtractArticles", "extract_article", "unexpected"]
