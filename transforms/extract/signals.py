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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional
from urllib.parse import urlsplit

from lxml.etree import XPath
from lxml.html import HtmlElement

from transforms.core.textutil import collapse_ws

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


def first_text(value: Any) -> Optional[str]:
    """The first usable string in a JSON-LD value (string, list, or object with a name)."""
    if isinstance(value, str):
        text = collapse_ws(value)
        return text or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        for item in value:
            found = first_text(item)
            if found:
                return found
    if isinstance(value, dict):
        for key in ("name", "@value", "url", "@id"):
            found = first_text(value.get(key))
            if found:
                return found
    return None


def texts_of(value: Any) -> list[str]:
    """All strings of a JSON-LD value (comma-separated strings are not split here)."""
    if isinstance(value, list):
        return [text for item in value for text in texts_of(item)]
    found = first_text(value)
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


# A heading holds phrasing content only; block elements and <time> nested inside an <h1> are
# a date or byline panel the template put there ("Headline Posted on July 1, 2024 by ...").
_NOT_HEADLINE = frozenset(
    {"div", "p", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "time", "figure", "section"}
)


def _headline_texts(element: HtmlElement) -> Iterator[str]:
    """Text of a heading's own phrasing content, skipping nested block and <time> elements."""
    if element.text:
        yield element.text
    for child in element:
        if isinstance(child.tag, str) and child.tag not in _NOT_HEADLINE:
            yield from _headline_texts(child)
        else:
            yield " "  # a skipped block still separates the words around it
        if child.tail:
            yield child.tail


def heading_text(element: HtmlElement) -> str:
    """Visible text of a heading without the date or byline blocks nested in it.

    A heading whose text sits only in blocks (``<h1><div><p>Title</p><h4>Deck</h4></div>``)
    takes the first block that has text.
    """
    own = collapse_ws("".join(_headline_texts(element)))
    if own:
        return own
    for child in element:
        if isinstance(child.tag, str) and child.tag in _NOT_HEADLINE and child.tag != "time":
            text = heading_text(child)
            if text:
                return text
    return ""


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
            text = heading_text(element)
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
        if len(text.split()) >= 3 and not is_site_name(text, site):
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


# How much visible text right before the headline counts as a dateline above it ("February 4,
# 2025 - 11 minutes" over the <h1>): a kicker line, not the navigation above it.
_LEAD_CHARS = 120


def _preceding_texts(element: HtmlElement) -> Iterator[str]:
    """Visible text before ``element``, nearest first (earlier siblings, then upwards)."""
    node: Optional[HtmlElement] = element
    while node is not None:
        for sibling in node.itersiblings(preceding=True):
            if sibling.tail:
                yield sibling.tail
            yield from reversed(list(_texts_in(sibling)))
        parent = node.getparent()
        if parent is not None and parent.text:
            yield parent.text
        node = parent


def lead_text(tree: HtmlElement, site: Optional[set[str]] = None) -> str:
    """The short visible text right before the headline, where some templates put the date."""
    headline = _headline_element(tree, site or set())
    if headline is None:
        return ""
    parts: list[str] = []
    size = 0
    for chunk in _preceding_texts(headline):
        text = chunk.strip()
        if text:
            size += len(text) + 1
            if size > _LEAD_CHARS:
                break
            parts.append(text)
    return " ".join(reversed(parts))


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
            names.extend(texts_of(obj.get("name")))
        if kinds & ARTICLE_TYPES:
            publisher = obj.get("publisher")
            names.extend(
                texts_of(publisher.get("name") if isinstance(publisher, dict) else publisher)
            )
    keys = {title_key(n.lstrip("@")) for n in names}
    host = urlsplit(url).hostname if url else None
    if host:
        bare = host.lower().removeprefix("www.")
        keys.update({title_key(bare), title_key(bare.rsplit(".", 1)[0])})
    return {k for k in keys if k}


def is_site_name(text: str, site_keys: set[str]) -> bool:
    """True when ``text`` is just the site's name (a logo <h1>, 'Blog Name | Blog Name')."""
    key = title_key(text)
    squashed = key.replace(" ", "")
    return not key or any(key == s or squashed == s.replace(" ", "") for s in site_keys)
