"""Article fields read from page signals: canonical URL, image, description, site name,
sections, tags and access (paywall) signals.
"""

import re
from collections.abc import Iterable
from typing import Any, NamedTuple, Optional

from lxml.etree import XPath
from lxml.html import HtmlElement

from transforms.core.textutil import collapse_ws, html_fragment_to_text, unique_clean
from transforms.core.urls import resolve_url
from transforms.extract.signals import PageSignals, first_text, meta_values, texts_of


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
        refs.extend(texts_of(obj.get("image"))[:1])
    for ref in refs:
        resolved = resolve_url(page_url, ref)
        if resolved:
            return resolved
    return None


def description(signals: PageSignals) -> Optional[str]:
    """og:description, meta description, twitter:description, JSON-LD ``description``."""
    values = meta_values(signals, "og:description", "description", "twitter:description")
    for obj in signals.articles:
        values.extend(texts_of(obj.get("description"))[:1])
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
        name = first_text(publisher.get("name") if isinstance(publisher, dict) else None)
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
        values.extend(texts_of(obj.get("articleSection")))
    return unique_clean(html_fragment_to_text(v) for v in values)


def tags(signals: PageSignals) -> list[str]:
    """Tags: article:tag, news_keywords, keywords, JSON-LD ``keywords``."""
    values = meta_values(signals, "article:tag", "og:article:tag", "parsely-tags")
    values.extend(_split_list(meta_values(signals, "news_keywords", "keywords")))
    for obj in signals.articles:
        values.extend(_split_list(texts_of(obj.get("keywords"))))
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
        count = first_text(obj.get("wordCount"))
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
