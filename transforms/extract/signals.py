"""Page metadata with provenance: dates, title, authors, links, sections, tags, paywall signals.

Pure functions over a parsed page (``lxml.html`` tree, read-only) plus the feed entry's values.
Every chosen value says where it came from (``date_source``, ``title_source``), and the order in
which sources are tried is documented next to each rule (measured on wcxb-dev, see
``docs/quality-extraction.md``).
"""

import datetime as dt
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional
from urllib.parse import urlsplit

from dateutil import parser as dateutil_parser
from lxml.etree import XPath
from lxml.html import HtmlElement

from transforms.core.textutil import collapse_ws, html_fragment_to_text, unique_clean
from transforms.core.timeutil import to_iso
from transforms.core.urls import resolve_url

UTC = dt.UTC

# --- JSON-LD -------------------------------------------------------------------------------------

# schema.org types that describe the article itself (and not the site, a breadcrumb or an image).
ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "reviewnewsarticle",
        "askpublicnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "techarticle",
        "scholarlyarticle",
        "report",
        "review",
        "advertisercontentarticle",
        "satiricalarticle",
        "medicalscholarlyarticle",
        "howto",
        "recipe",
    }
)
PAGE_TYPES = frozenset({"webpage", "itempage", "aboutpage", "faqpage", "qapage", "medicalwebpage"})
ORGANIZATION_TYPES = frozenset({"organization", "newsmediaorganization", "corporation", "website"})
_MAX_JSONLD_DEPTH = 6
_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")


def _parse_json_loose(text: str) -> Any:
    """Parse a JSON-LD block, tolerating comments, CDATA wrappers and trailing commas."""
    cleaned = text.strip()
    for junk in ("<!--", "-->", "//<![CDATA[", "//]]>", "<![CDATA[", "]]>"):
        cleaned = cleaned.replace(junk, "")
    cleaned = cleaned.strip().rstrip(";")
    try:
        return json.loads(cleaned, strict=False)
    except ValueError:
        pass
    try:
        return json.loads(_TRAILING_COMMA_RE.sub(r"\1", cleaned), strict=False)
    except ValueError:
        return None


def _walk_typed(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Yield every object with an ``@type`` in a JSON-LD value: @graph, lists and nesting."""
    if depth > _MAX_JSONLD_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk_typed(item, depth + 1)
    elif isinstance(node, dict):
        if "@type" in node:
            yield node
        for key, value in node.items():
            if isinstance(value, (dict, list)) and key not in {"@context"}:
                yield from _walk_typed(value, depth + 1)


def jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """Return all typed JSON-LD objects of the page, in document order."""
    objects: list[dict[str, Any]] = []
    for script in tree.iter("script"):
        kind = (script.get("type") or "").lower()
        if "ld+json" not in kind or not script.text:
            continue
        data = _parse_json_loose(script.text)
        if data is not None:
            objects.extend(_walk_typed(data))
    return objects


def type_names(obj: Mapping[str, Any]) -> set[str]:
    """Lowercase schema.org type names of a JSON-LD object (``@type`` may be a list or a URL)."""
    raw = obj.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {str(v).rsplit("/", 1)[-1].lower() for v in values if isinstance(v, str)}


def article_objects(objects: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """JSON-LD objects describing the article; web pages come after articles, as a fallback."""
    articles = [o for o in objects if type_names(o) & ARTICLE_TYPES]
    pages = [o for o in objects if type_names(o) & PAGE_TYPES and not type_names(o) & ARTICLE_TYPES]
    return [*articles, *pages]


def _first_text(value: Any) -> Optional[str]:
    """The first usable string in a JSON-LD value (string, list, or object with a name)."""
    if isinstance(value, str):
        text = collapse_ws(value)
        return text or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        for item in value:
            found = _first_text(item)
            if found:
                return found
    if isinstance(value, dict):
        for key in ("name", "@value", "url", "@id"):
            found = _first_text(value.get(key))
            if found:
                return found
    return None


def _texts(value: Any) -> list[str]:
    """All strings of a JSON-LD value (comma-separated strings are not split here)."""
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    found = _first_text(value)
    return [found] if found else []


# --- <meta>, <link>, <time> ---------------------------------------------------------------------


class PageSignals(NamedTuple):
    """Everything the metadata rules read, collected in one pass over the page head and body."""

    meta: Mapping[str, list[str]]
    links: Mapping[str, list[str]]
    jsonld: list[dict[str, Any]]
    # The JSON-LD objects that describe the article (see article_objects), computed once.
    articles: list[Mapping[str, Any]]
    # Comparison keys of the site's own names (see site_keys), computed once.
    site: set[str]
    title_tag: Optional[str]
    h1: list[str]
    times: list[tuple[str, bool]]
    itemprops: Mapping[str, list[str]]
    # The page itself, for the costlier rules that only run when the cheap ones found nothing
    # (dateline, byline, paywall markup). Read only.
    tree: HtmlElement


# Attribute-axis XPaths (//@attr[test]/..) run about twice as fast in libxml2 as //*[@attr ...].
_ITEMPROP_XPATH = XPath(
    "//@itemprop[.='datePublished' or .='author' or .='headline' or .='datepublished']/.."
)


def read_signals(tree: HtmlElement, url: Optional[str] = None) -> PageSignals:
    """Collect meta tags, rel links, JSON-LD, <title>, <h1>, <time> and itemprops of a page."""
    meta: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    title_tag: Optional[str] = None
    h1: list[str] = []
    times: list[tuple[str, bool]] = []
    objects: list[dict[str, Any]] = []
    # One pass over the tags of interest (lxml filters tags in C).
    for element in tree.iter("meta", "link", "title", "h1", "time", "script"):
        tag = element.tag
        if tag == "meta":
            content = (element.get("content") or "").strip()
            if content:
                for attr in ("property", "name", "itemprop", "http-equiv"):
                    key = element.get(attr)
                    if key:
                        meta.setdefault(key.strip().lower(), []).append(content)
        elif tag == "link":
            href = (element.get("href") or "").strip()
            if href:
                for rel in (element.get("rel") or "").lower().split():
                    links.setdefault(rel, []).append(href)
        elif tag == "title":
            if title_tag is None:
                title_tag = collapse_ws(element.text_content())
        elif tag == "h1":
            text = collapse_ws(element.text_content())
            if text:
                h1.append(text)
        elif tag == "time":
            value = (element.get("datetime") or "").strip()
            if value:
                prop = (element.get("itemprop") or "").lower()
                times.append((value, element.get("pubdate") is not None or prop == "datepublished"))
        elif "ld+json" in (element.get("type") or "").lower() and element.text:
            data = _parse_json_loose(element.text)
            if data is not None:
                objects.extend(_walk_typed(data))
    itemprops: dict[str, list[str]] = {}
    for element in _ITEMPROP_XPATH(tree):
        name = (element.get("itemprop") or "").strip().lower()
        value = (
            element.get("content") or element.get("datetime") or collapse_ws(element.text_content())
        )
        if value:
            itemprops.setdefault(name, []).append(value.strip())
    articles = article_objects(objects)
    return PageSignals(
        meta=meta,
        links=links,
        jsonld=objects,
        articles=articles,
        site=site_keys(meta, objects, url),
        title_tag=title_tag or None,
        h1=h1,
        times=times,
        itemprops=itemprops,
        tree=tree,
    )


# How much visible text after the headline counts as its dateline and byline.
_DATELINE_CHARS = 600


def _headline_element(tree: HtmlElement, site: set[str]) -> Optional[HtmlElement]:
    """The first <h1> that reads like a headline (3+ words, not the site's name), else the first."""
    first: Optional[HtmlElement] = None
    for element in tree.iter("h1"):
        if first is None:
            first = element
        text = element.text_content()
        if len(text.split()) >= 3 and not _is_site_name(text, site):
            return element
    return first


_NO_TEXT = frozenset({"script", "style", "noscript", "template", "nav", "button"})


def _texts_in(element: HtmlElement) -> Iterator[str]:
    """Visible text inside an element (not its tail), skipping scripts, styles and nav."""
    if not isinstance(element.tag, str) or element.tag in _NO_TEXT:
        return
    if element.text:
        yield element.text
    for child in element:
        yield from _texts_in(child)
        if child.tail:
            yield child.tail


def _following_texts(element: HtmlElement) -> Iterator[str]:
    """Visible text after ``element`` in document order (its tail, later siblings, upwards)."""
    node: Optional[HtmlElement] = element
    while node is not None:
        if node.tail:
            yield node.tail
        for sibling in node.itersiblings():
            yield from _texts_in(sibling)
            if sibling.tail:
                yield sibling.tail
        node = node.getparent()


def dateline_text(tree: HtmlElement, site: Optional[set[str]] = None) -> str:
    """The visible text right after the headline, where bylines and datelines sit."""
    headline = _headline_element(tree, site or set())
    if headline is None:
        return ""
    parts: list[str] = []
    size = 0
    for chunk in _following_texts(headline):
        text = chunk.strip()
        if text:
            parts.append(text)
            size += len(text)
            if size > _DATELINE_CHARS:
                break
    return " ".join(parts)[: _DATELINE_CHARS + 200]


# Byline markup, found with one cheap XPath and ranked in Python from the most to the least
# specific (the tiers follow trafilatura's AUTHOR_XPATHS).
_BYLINE_XPATH = XPath(
    "//@class[contains(., 'uthor') or contains(., 'yline') or contains(., 'writer')]/.. | "
    "//@rel[.='author']/.. | //@itemprop[.='author']/.. | //@id[contains(., 'author')]/.."
)
_BYLINE_SPECIFIC_RE = re.compile(r"author-?name|AuthorName|authorName")
_BYLINE_GENERIC_RE = re.compile(r"author|submitted-by|posted-by|journalist-name|byline|byl\b")
# Bylines inside these are other people's (comments, sidebars, related cards) or not names.
_BYLINE_DISCARD_RE = re.compile(
    r"^(?:comments?|comment-?list|commentlist|sidebar|is-hidden|related|recommend|newsletter|"
    r"title$|date$|meta-date|reviewer|avatar|bio$|author-bio|author-desc|share)",
    re.I,
)
_MAX_BYLINE_CHARS = 120


def _byline_tier(element: HtmlElement) -> int:
    """0 for explicit author markup, 1 for generic author classes, 2 for anything else."""
    cls = element.get("class") or ""
    if (
        element.get("rel") == "author"
        or element.get("id") == "author"
        or cls == "author"
        or _BYLINE_SPECIFIC_RE.search(cls)
    ):
        return 0
    if element.get("itemprop") == "author" or _BYLINE_GENERIC_RE.search(cls):
        return 1
    return 2


def _discarded_byline(element: HtmlElement) -> bool:
    """True when the element or an ancestor is a comment, sidebar, figure or time element."""
    for node in (element, *element.iterancestors()):
        if node.tag in {"body", "html"}:
            break
        if node.tag in {"figure", "time", "nav", "footer", "aside"}:
            return True
        marks = f"{node.get('id') or ''} {node.get('class') or ''}".strip()
        if marks and any(_BYLINE_DISCARD_RE.search(m) for m in marks.split()):
            return True
    return False


def byline_texts(tree: HtmlElement) -> list[str]:
    """Short visible texts of byline elements, most specific markup first (at most five)."""
    ranked = sorted(enumerate(_BYLINE_XPATH(tree)), key=lambda p: (_byline_tier(p[1]), p[0]))
    found: list[str] = []
    for _, element in ranked:
        text = collapse_ws(" ".join(element.itertext()))
        if not 2 < len(text) <= _MAX_BYLINE_CHARS or text in found:
            continue
        if _discarded_byline(element):
            continue
        found.append(text)
        if len(found) >= 5:
            break
    return found


def meta_values(signals: PageSignals, *keys: str) -> list[str]:
    """Values of the given meta keys (lowercase), in the order of ``keys``."""
    return [value for key in keys for value in signals.meta.get(key, [])]


# --- dates ---------------------------------------------------------------------------------------


class ParsedDate(NamedTuple):
    """A timestamp as declared (``local``: ISO with its UTC offset, or a bare day) and in UTC."""

    utc: str
    local: str
    has_time: bool


class DateCandidate(NamedTuple):
    """One publication date found on the page or in the feed, and where it was found."""

    date: ParsedDate
    source: str


_TIME_RE = re.compile(r"\d{1,2}:\d{2}")
# Zone abbreviations common in news datelines (offsets in seconds); IST is India's.
_TZ_NAMES = {
    name: int(offset * 3600)
    for name, offset in {
        "UTC": 0,
        "GMT": 0,
        "Z": 0,
        "BST": 1,
        "CET": 1,
        "CEST": 2,
        "EET": 2,
        "EEST": 3,
        "MSK": 3,
        "IST": 5.5,
        "WIB": 7,
        "WITA": 8,
        "WIT": 9,
        "SGT": 8,
        "HKT": 8,
        "JST": 9,
        "KST": 9,
        "AEST": 10,
        "AEDT": 11,
        "EST": -5,
        "EDT": -4,
        "CST": -6,
        "CDT": -5,
        "MST": -7,
        "MDT": -6,
        "PST": -8,
        "PDT": -7,
    }.items()
}
_DIGITS_RE = re.compile(r"^\d{10}(?:\d{3})?$")
_EARLIEST = dt.datetime(1990, 1, 1, tzinfo=UTC)


def parse_date(value: Optional[str], now: Optional[dt.datetime] = None) -> Optional[ParsedDate]:
    """Parse a date string (ISO 8601, RFC 822, 'November 19, 2019', epoch) into a ParsedDate.

    Dates before 1990 or more than a day after ``now`` are refused: they are template defaults,
    event dates or parse errors, not publication dates.
    """
    if not value:
        return None
    text = collapse_ws(value)
    if not text or len(text) > 80:
        return None
    parsed: Optional[dt.datetime]
    if _DIGITS_RE.match(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        try:
            parsed = dt.datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        has_time = True
    else:
        has_time = bool(_TIME_RE.search(text))
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            try:
                with warnings.catch_warnings():
                    # An unknown zone name leaves the time naive (taken as UTC below).
                    warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
                    parsed = dateutil_parser.parse(
                        text, default=dt.datetime(2000, 1, 1), tzinfos=_TZ_NAMES
                    )
            except (ValueError, OverflowError, TypeError):
                return None
            # dateutil fills a missing year or day from the default: require them in the text.
            if not re.search(r"\b(19|20)\d{2}\b", text):
                return None
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    try:
        utc_value = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    upper = (now or dt.datetime.now(UTC)) + dt.timedelta(days=1)
    if not _EARLIEST <= utc_value <= upper:
        return None
    # Exactly midnight is how many CMSs write a bare day: treat it as one, so a feed timestamp
    # on the same day can supply the real time.
    has_time = has_time and parsed.time() != dt.time(0)
    local = parsed.isoformat(timespec="seconds") if has_time else parsed.date().isoformat()
    return ParsedDate(to_iso(utc_value), local, has_time)


# Meta tags naming the original publication time, strongest first. Modified/updated tags are left
# out on purpose: the day a story was last edited is the commonest wrong "publication" date.
PUBLISHED_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "published_time",
    "og:published_time",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "publish-date",
    "publish_date",
    "publishdate",
    "pubdate",
    "article.published",
    "article_date_original",
    "original-publish-date",
    "cxenseparse:recs:publishtime",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "dc.date",
    "dcterms.date",
    "citation_publication_date",
    "citation_date",
    "date",
)


def jsonld_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """``datePublished`` (else ``dateCreated``) of the article objects, articles before pages."""
    found: list[DateCandidate] = []
    for obj in signals.articles:
        for key in ("datePublished", "dateCreated"):
            parsed = parse_date(_first_text(obj.get(key)), now)
            if parsed:
                found.append(DateCandidate(parsed, "jsonld"))
                break
    return found


def meta_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Publication dates from meta tags and ``itemprop=datePublished``, strongest key first."""
    values = [
        *meta_values(signals, *PUBLISHED_META_KEYS),
        *signals.itemprops.get("datepublished", []),
    ]
    return [DateCandidate(p, "meta") for v in values if (p := parse_date(v, now))]


def time_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """``<time datetime>`` values: ``pubdate``/``itemprop`` ones, else the first on the page."""
    strong = [v for v, is_strong in signals.times if is_strong]
    values = strong or [v for v, _ in signals.times[:1]]
    return [DateCandidate(p, "time") for v in values if (p := parse_date(v, now))]


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_VISIBLE_DATE_RE = re.compile(
    rf"\b(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+(?:19|20)\d{{2}}"
    r"|(?:19|20)\d{2}-\d{2}-\d{2})\b",
    re.I,
)
_UPDATED_RE = re.compile(r"(?:updated|modified|edited|reviewed|revised)\W*(?:on|at)?\W*$", re.I)


def dateline_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Dates written under the headline ('March 1, 2024', '8 Oct 2022'), not 'Updated' ones."""
    found: list[DateCandidate] = []
    text = dateline_text(signals.tree, signals.site)
    for match in _VISIBLE_DATE_RE.finditer(text):
        if _UPDATED_RE.search(text[max(0, match.start() - 30) : match.start()]):
            continue
        parsed = parse_date(match.group(0), now)
        if parsed:
            found.append(DateCandidate(parsed, "dateline"))
    return found


def htmldate_date(tree: HtmlElement, now: Optional[dt.datetime]) -> Optional[DateCandidate]:
    """htmldate's original publication date (day precision), the last resort."""
    from htmldate import find_date

    try:
        found = find_date(
            tree,
            original_date=True,
            extensive_search=True,
            outputformat="%Y-%m-%d",
            max_date=(now or dt.datetime.now(UTC)).strftime("%Y-%m-%d"),
        )
    except (ValueError, TypeError):
        return None
    parsed = parse_date(found, now)
    return DateCandidate(parsed, "htmldate") if parsed else None


def choose_date(
    feed: Optional[ParsedDate], page: Sequence[DateCandidate]
) -> Optional[DateCandidate]:
    """Pick the publication date: the page's structured date, the feed filling in precision.

    ``page`` comes in order of trust (see docs/quality-extraction.md for the measurements):
    meta tags, the dateline under the headline, JSON-LD ``datePublished``, ``<time>``,
    htmldate. The feed's timestamp is used when the page has no date, or when the page only
    states a day and the feed's timestamp falls on that same day (it adds the time of day).
    When a dated page and the feed disagree, the page wins: feeds re-stamp items when they are
    edited or re-listed. (Feeds are not in the evaluation sets: this rule is a judgment call.)
    """
    best = page[0] if page else None
    if feed is None:
        return best
    if best is None:
        return DateCandidate(feed, "feed")
    if not best.date.has_time and feed.local[:10] == best.date.local[:10]:
        return DateCandidate(feed, "feed")
    if not best.date.has_time and feed.utc[:10] == best.date.utc[:10]:
        return DateCandidate(feed, "feed")
    return best


# --- title ---------------------------------------------------------------------------------------

# Separators between a headline and the site name in <title> and og:title.
# (en dash, em dash, bullet, middle dot and guillemets written as escapes for the linter).
_TITLE_SPLIT_RE = re.compile(r"\s+(?:[|\-\u2013\u2014\u2022\u00b7:\u00bb\u00ab/~]|::)\s+")


def title_key(text: Optional[str]) -> str:
    """Comparison key for titles: NFKC, casefolded, only letters and digits."""
    normalized = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(re.findall(r"\w+", normalized))


def site_keys(
    meta: Mapping[str, list[str]], objects: Sequence[Mapping[str, Any]], url: Optional[str]
) -> set[str]:
    """Comparison keys of the site's names: og:site_name, JSON-LD publisher/WebSite, host."""
    names = [
        v for k in ("og:site_name", "application-name", "twitter:site") for v in meta.get(k, [])
    ]
    for obj in objects:
        kinds = type_names(obj)
        if kinds & {"website", "newsmediaorganization", "organization"}:
            names.extend(_texts(obj.get("name")))
        if kinds & ARTICLE_TYPES:
            publisher = obj.get("publisher")
            names.extend(
                _texts(publisher.get("name") if isinstance(publisher, dict) else publisher)
            )
    keys = {title_key(n.lstrip("@")) for n in names}
    host = urlsplit(url).hostname if url else None
    if host:
        bare = host.lower().removeprefix("www.")
        keys.update({title_key(bare), title_key(bare.rsplit(".", 1)[0])})
    return {k for k in keys if k}


def strip_site_name(title: str, site_keys: set[str]) -> str:
    """Remove a leading or trailing site-name segment ('Headline | Site', 'Site - Headline')."""
    parts = _TITLE_SPLIT_RE.split(title)
    if len(parts) < 2:
        return title
    separators = _TITLE_SPLIT_RE.findall(title)

    def is_site(part: str) -> bool:
        """True when a title segment names the site (exactly, without spaces, or containing it)."""
        key = title_key(part)
        squashed = key.replace(" ", "")
        padded = f" {key} "
        # Containment only for distinctive names ("coastal gazette" in "the coastal gazette
        # online"), as whole words: a short host key like "time" must not eat a headline.
        return bool(key) and any(
            key == site
            or squashed == site.replace(" ", "")
            or ((" " in site or len(site) >= 8) and f" {site} " in padded)
            for site in site_keys
        )

    # Drop site segments from the end, then from the start, keeping at least one segment.
    while len(parts) > 1 and is_site(parts[-1]):
        parts.pop()
        separators.pop()
    while len(parts) > 1 and is_site(parts[0]):
        parts.pop(0)
        separators.pop(0)
    rebuilt = parts[0]
    for sep, part in zip(separators, parts[1:], strict=False):
        rebuilt += sep + part
    return rebuilt.strip()


def _clean_title(value: Optional[str]) -> str:
    """Whitespace-collapsed title with HTML entities and tags removed."""
    return html_fragment_to_text(value) if value else ""


def title_candidates(signals: PageSignals) -> list[tuple[str, str]]:
    """Raw title candidates with their source: JSON-LD headline, og:title, <h1>, <title>."""
    found: list[tuple[str, str]] = []
    for obj in signals.articles:
        for key in ("headline", "name"):
            text = _clean_title(_first_text(obj.get(key)))
            if text:
                found.append((text, "jsonld"))
                break
    for value in meta_values(signals, "og:title", "twitter:title"):
        found.append((_clean_title(value), "og"))
    for value in signals.h1[:3]:
        found.append((_clean_title(value), "h1"))
    for value in signals.itemprops.get("headline", [])[:1]:
        found.append((_clean_title(value), "itemprop"))
    if signals.title_tag:
        found.append((_clean_title(signals.title_tag), "title"))
    return [(text, source) for text, source in found if text]


def _is_site_name(text: str, site_keys: set[str]) -> bool:
    """True when ``text`` is just the site's name (a logo <h1>, 'Blog Name | Blog Name')."""
    key = title_key(text)
    squashed = key.replace(" ", "")
    return not key or any(key == s or squashed == s.replace(" ", "") for s in site_keys)


# A visible headline has at least this many words; shorter <h1>s are mostly site or section
# names ("Blog", "Stanford Online"). Confirmed by another source, any <h1> is taken.
_MIN_HEADLINE_WORDS = 3
_SOURCE_ORDER = ("jsonld", "og", "itemprop", "title", "feed")


def choose_title(
    signals: PageSignals, feed_title: Optional[str]
) -> tuple[Optional[str], Optional[str]]:
    """Pick the headline and its source; the visible <h1> wins when it can be trusted.

    Every candidate first loses a site-name segment. Then, in order: an <h1> that another
    source (JSON-LD headline, og:title, <title>, the feed) states too; an <h1> that the
    <title>/og:title/JSON-LD headline starts with (an unrecognised suffix follows it); the first
    <h1> of three or more words that is not the site name; JSON-LD headline, og:title,
    itemprop headline, <title>, feed title. Measured on wcxb-dev: the visible headline is what
    readers (and the annotators) call the title; og:title and <title> are often SEO variants.
    """
    site_keys = signals.site
    raw = title_candidates(signals)
    if feed_title and _clean_title(feed_title):
        raw.append((_clean_title(feed_title), "feed"))
    stripped = [(strip_site_name(t, site_keys), s) for t, s in raw]
    h1s = [t for t, s in stripped if s == "h1" and not _is_site_name(t, site_keys)]
    others = [(t, s) for t, s in stripped if s != "h1" and not _is_site_name(t, site_keys)]
    other_keys = {title_key(t) for t, _ in others}
    for text in h1s:
        key = title_key(text)
        if key in other_keys:
            if text.isupper():
                # An all-caps <h1> is usually styling: keep the confirming source's casing.
                same = (t for t, _ in others if title_key(t) == key and not t.isupper())
                cased = next(same, None)
                if cased:
                    return cased, "h1"
            return text, "h1"
    prefixes = [title_key(t) for t, s in raw if s in {"title", "og", "jsonld"}]
    for text in h1s:
        key = title_key(text)
        if len(key.split()) >= 2 and any(p.startswith(key) for p in prefixes):
            return text, "h1"
    for text in h1s:
        if len(title_key(text).split()) >= _MIN_HEADLINE_WORDS:
            return text, "h1"
    for source in _SOURCE_ORDER:
        for text, found in others:
            if found == source:
                return text, source
    return (h1s[0], "h1") if h1s else (None, None)


def headline_keys(signals: PageSignals, title: Optional[str]) -> set[str]:
    """Keys of every headline variant on the page (used to drop a repeated headline from text)."""
    candidates = title_candidates(signals)
    keys = {title_key(t) for t, _ in candidates}
    keys.update(title_key(strip_site_name(t, signals.site)) for t, _ in candidates)
    if title:
        keys.add(title_key(title))
    return {k for k in keys if k}


# --- authors -------------------------------------------------------------------------------------

# Connector words are matched in lowercase only: "Dan" and "E." are also parts of names.
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[;|,&/]|\s(?:and|und|y|et|e|dan)\s)\s*")
_BY_RE = re.compile(
    r"^(?:(?:written|posted|reported|published|words|story|view all posts|more articles)\s+by|"
    r"by|authors?|writers?|von|par|por|oleh|door)\b\s*[:\-]?\s*",
    re.I,
)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
_HANDLE_RE = re.compile(r"^@\w+$")
_DOTTED_RE = re.compile(r"^[\w-]+(?:\.[\w-]{2,})+$")
# Words that mark a credit line, not a person: "Staff", "Reuters staff", "Editorial Team" ...
_NOT_A_PERSON = re.compile(
    r"\b(?:staff|editors?|editorial|team|desk|newsroom|admin|administrator|redaksi|redaction|"
    r"reporter|correspondent|contributors?|agenc(?:y|ies)|wire|news service|press|guest)\b",
    re.I,
)
# Interface words that byline markup sometimes holds instead of a name.
_UI_WORDS = re.compile(
    r"\b(?:posts?|sign ?in|log ?in|follow|view|read more|subscribe|menu|home|share|https?|"
    r"profile|about|contact|min read|comments?)\b",
    re.I,
)
# A byline stops at the first of these: what follows names other people or a date.
_BYLINE_CUT_RE = re.compile(
    r"\b(?:(?:medically |fact[- ])?(?:reviewed|checked|edited|illustrated|photographed)\s+by|"
    r"updated|published|posted on|last modified)\b.*$",
    re.I,
)

# Job titles that bylines put after the name ("Emma Ryan Writer", "Jane Doe, Senior Editor").
_ROLE_RE = re.compile(
    r"\b(?:(?:senior|lead|chief|executive|contributing|managing|deputy|head|staff)\s+)?"
    r"(?:writer|editor|co-?founder|founder|reporter|expert|director|manager|ceo|cto|reviewer|"
    r"contributor|correspondent|journalist|columnist|analyst|specialist|educators?|designer|"
    r"strategist|consultant|officer|president|intern|producer|photographer)\b.*$",
    re.I,
)

# Punctuation around a byline name: dashes (en, em), bars, bullets, dots.
_NAME_TRIM = " -\u2013\u2014:|\u00b7\u2022,."

# Degrees and credentials that follow a name after a comma ("Jane Doe, MS, RD").
_CREDENTIALS = frozenset(
    [
        "md",
        "phd",
        "ph.d",
        "ms",
        "msc",
        "ma",
        "mba",
        "rd",
        "rdn",
        "ld",
        "cdn",
        "cpt",
        "np",
        "rn",
        "dds",
        "do",
        "jd",
        "cpa",
        "cfa",
        "cfp",
        "mph",
        "fand",
        "ryt",
        "e-ryt",
        "lcsw",
        "psyd",
        "dvm",
        "pharmd",
        "mfa",
        "bsn",
        "ba",
        "bs",
        "llm",
        "esq",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
    ]
)


class _Name(NamedTuple):
    """A cleaned author candidate and whether a job title had to be cut from it."""

    text: str
    had_role: bool


def _person_name(part: str) -> Optional[_Name]:
    """Clean one author candidate; None when it is not a person's name."""
    text = collapse_ws(_EMAIL_RE.sub(" ", _URL_RE.sub(" ", part)))
    text = _BY_RE.sub("", text).strip(_NAME_TRIM)
    if not text or _HANDLE_RE.match(text) or len(text) > 60:
        return None
    role = _ROLE_RE.search(text)
    if role:
        # "Emma Ryan Writer" keeps the name; "Senior Editor" alone is no name at all.
        text = text[: role.start()].strip(_NAME_TRIM)
        if len(text.split()) < 2:
            return None
    if text.isupper() and len(text) > 3:
        text = text.title()  # "TOM KRISHER": capitals are styling (short ones may be initials)
    # Template placeholders ("page.head.author"), domains and interface labels are not names.
    if _UI_WORDS.search(text) or _DOTTED_RE.search(text) or "{" in text:
        return None
    key = title_key(text)
    if not key:
        return None
    words = key.split()
    if len(words) > 5 or any(ch.isdigit() for ch in key):
        return None
    if _NOT_A_PERSON.search(text):
        return None
    return _Name(text, role is not None)


def clean_authors(values: Iterable[str], site_keys: Optional[set[str]] = None) -> list[str]:
    """Split and clean author strings into a list of names.

    Splits on ``;``, ``|``, ``,``, ``/``, ``&`` and "and" (and its equivalents in a few
    languages), drops "By", emails, URLs, @handles, interface labels, credit words ("Staff",
    "Editorial Team") and trailing credentials ("MS, RD"), and de-duplicates. The site's own
    name is dropped when real names remain ("Jane Doe, CNN" -> "Jane Doe"); alone it stays:
    personal sites are named after their author, and a wire credit is still information.
    """
    keys = site_keys or set()
    names: list[str] = []
    for value in values:
        text = _EMAIL_RE.sub(" ", _URL_RE.sub(" ", html_fragment_to_text(value)))
        value = _BYLINE_CUT_RE.sub("", _BY_RE.sub("", text))
        found = [
            name
            for part in _AUTHOR_SPLIT_RE.split(value)
            if part.strip(" .").casefold() not in _CREDENTIALS and (name := _person_name(part))
        ]
        # Next to a clean full name, one-word parts are credentials or beats ("Jane Doe,
        # Privacy") and parts that carried a job title are the title's remains ("Tom Krisher,
        # AP Auto Writer").
        if any(len(n.text.split()) >= 2 and not n.had_role for n in found):
            found = [n for n in found if len(n.text.split()) >= 2 and not n.had_role]
        elif any(len(n.text.split()) >= 2 for n in found):
            found = [n for n in found if len(n.text.split()) >= 2]
        names.extend(n.text for n in found)
    people = [n for n in names if not _is_site_name(n, keys)]
    return unique_clean(people or names)


def jsonld_authors(signals: PageSignals) -> list[str]:
    """Author names of the first article object that has any (``author``, else ``creator``)."""
    for obj in signals.articles:
        for key in ("author", "creator"):
            value = obj.get(key)
            if not value:
                continue
            items = value if isinstance(value, list) else [value]
            names: list[str] = []
            for item in items:
                if isinstance(item, dict):
                    if type_names(item) & ORGANIZATION_TYPES:
                        continue
                    names.extend(_texts(item.get("name")))
                elif isinstance(item, str):
                    names.append(item)
            if names:
                return names
    return []


def choose_authors(
    signals: PageSignals, feed_authors: Sequence[str]
) -> tuple[list[str], Optional[str]]:
    """Authors and their source: JSON-LD, meta tags/itemprop, the feed, the visible byline."""
    site_keys = signals.site
    from_jsonld = clean_authors(jsonld_authors(signals), site_keys)
    if from_jsonld:
        return from_jsonld, "jsonld"
    meta = [
        v
        for v in meta_values(
            signals,
            "author",
            "article:author",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "dcterms.creator",
            "byl",
            "citation_author",
        )
        if not v.lower().startswith(("http://", "https://"))
    ]
    meta.extend(signals.itemprops.get("author", [])[:3])
    from_meta = clean_authors(meta, site_keys)
    if from_meta:
        return from_meta, "meta"
    from_feed = clean_authors(feed_authors, site_keys)
    if from_feed:
        return from_feed, "feed"
    # Last: the visible byline. One element is read (the first that names someone): later
    # ones are often "related articles" cards by other authors.
    for text in byline_texts(signals.tree):
        names = clean_authors([text], site_keys)
        if names:
            return names, "byline"
    return [], None


# --- links, image, sections, tags, description --------------------------------------------------


def canonical_url(signals: PageSignals, page_url: str) -> Optional[str]:
    """``rel=canonical``, else ``og:url``, resolved against the page URL."""
    for ref in [*signals.links.get("canonical", []), *meta_values(signals, "og:url")]:
        resolved = resolve_url(page_url, ref)
        if resolved:
            return resolved
    return None


def image_url(signals: PageSignals, page_url: str) -> Optional[str]:
    """Lead image: og:image, twitter:image, JSON-LD ``image``."""
    refs = meta_values(signals, "og:image", "og:image:url", "og:image:secure_url", "twitter:image")
    for obj in signals.articles:
        refs.extend(_texts(obj.get("image"))[:1])
    for ref in refs:
        resolved = resolve_url(page_url, ref)
        if resolved:
            return resolved
    return None


def description(signals: PageSignals) -> Optional[str]:
    """og:description, meta description, twitter:description, JSON-LD ``description``."""
    values = meta_values(signals, "og:description", "description", "twitter:description")
    for obj in signals.articles:
        values.extend(_texts(obj.get("description"))[:1])
    for value in values:
        text = html_fragment_to_text(value)
        if text:
            return text
    return None


def sitename(signals: PageSignals) -> Optional[str]:
    """og:site_name, else the JSON-LD publisher's name."""
    for value in meta_values(signals, "og:site_name", "application-name"):
        if collapse_ws(value):
            return collapse_ws(value)
    for obj in signals.articles:
        publisher = obj.get("publisher")
        name = _first_text(publisher.get("name") if isinstance(publisher, dict) else None)
        if name:
            return name
    return None


def _split_list(values: Iterable[str]) -> list[str]:
    """Split comma-separated keyword strings into items."""
    return [part for value in values for part in re.split(r"\s*[,;]\s*", value)]


def categories(signals: PageSignals) -> list[str]:
    """Sections: article:section, JSON-LD ``articleSection``, parsely-section."""
    values = meta_values(signals, "article:section", "og:article:section", "parsely-section")
    for obj in signals.articles:
        values.extend(_texts(obj.get("articleSection")))
    return unique_clean(html_fragment_to_text(v) for v in values)


def tags(signals: PageSignals) -> list[str]:
    """Tags: article:tag, news_keywords, keywords, JSON-LD ``keywords``."""
    values = meta_values(signals, "article:tag", "og:article:tag", "parsely-tags")
    values.extend(_split_list(meta_values(signals, "news_keywords", "keywords")))
    for obj in signals.articles:
        values.extend(_split_list(_texts(obj.get("keywords"))))
    return unique_clean(html_fragment_to_text(v) for v in values if len(v) <= 100)


# --- paywall and truncation ----------------------------------------------------------------------


class AccessSignals(NamedTuple):
    """What the page declares about access to its text."""

    free: Optional[bool]
    declared_words: Optional[int]


# Substrings of class names that mark paywall or registration-wall containers; a cheap XPath
# finds candidates, a regex on the class confirms them.
_PAYWALL_XPATH = XPath(
    "//@class[contains(., 'aywall') or contains(., 'ubscri') or contains(., 'egwall') or "
    "contains(., 'ocked') or contains(., 'etered') or contains(., 'remium')]"
)
_PAYWALL_CLASS_RE = re.compile(
    r"paywall|subscriber[-_]?only|premium[-_]content|regwall|piano-offer|"
    r"(?:article|content)[-_]locked|subscription[-_]required|meteredcontent",
    re.I,
)


def has_paywall_markup(tree: HtmlElement) -> bool:
    """Paywall, registration-wall or subscriber-only containers on the page."""
    return any(_PAYWALL_CLASS_RE.search(value) for value in _PAYWALL_XPATH(tree))


def _as_bool(value: Any) -> Optional[bool]:
    """schema.org booleans arrive as true/false, "False", "http://schema.org/False" ..."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().rsplit("/", 1)[-1].lower()
        if word in {"true", "false"}:
            return word == "true"
    return None


def access_signals(signals: PageSignals) -> AccessSignals:
    """JSON-LD ``isAccessibleForFree`` (any part not free: not free) and ``wordCount``;
    ``article:content_tier`` locked or metered also means not free."""
    free: Optional[bool] = None
    words: Optional[int] = None
    for obj in signals.articles:
        for holder in [obj, *(p for p in _as_list(obj.get("hasPart")) if isinstance(p, dict))]:
            flag = _as_bool(holder.get("isAccessibleForFree"))
            if flag is not None:
                free = flag if free is None else (free and flag)
        count = _first_text(obj.get("wordCount"))
        if count and count.isdigit() and words is None:
            words = int(count)
    tier = " ".join(meta_values(signals, "article:content_tier", "content_tier")).lower()
    if "locked" in tier or "metered" in tier:
        free = False
    return AccessSignals(free, words)


def _as_list(value: Any) -> list[Any]:
    """Wrap a JSON-LD value into a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
