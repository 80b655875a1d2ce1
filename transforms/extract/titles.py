"""Titles: candidates from JSON-LD, og, itemprop, ``<title>`` and the feed; site names stripped;
one chosen by agreement between sources.
"""

import re
from typing import Optional

from transforms.core.textutil import html_fragment_to_text
from transforms.extract.signals import PageSignals, first_text, is_site_name, meta_values, title_key

# Separators between a headline and the site name in <title> and og:title.
# (en dash, em dash, bullet, middle dot and guillemets written as escapes for the linter).
_TITLE_SPLIT_RE = re.compile(r"\s+(?:[|\-\u2013\u2014\u2022\u00b7:\u00bb\u00ab/~]|::)\s+")


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
            text = _clean_title(first_text(obj.get(key)))
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
    h1s = [t for t, s in stripped if s == "h1" and not is_site_name(t, site_keys)]
    others = [(t, s) for t, s in stripped if s != "h1" and not is_site_name(t, site_keys)]
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
