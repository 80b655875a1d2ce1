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


# Shortest brand found inside a host name (4: "koia"); on the even half of wcxb-dev the rule
# gained 1 page and lost none (docs/quality-metadata.md).
_MIN_BRAND_CHARS = 4


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
            # A brand inside a one-word host name ("DianaHR" on getdianahr.com, "Koia" on
            # drinkkoia.com): one or two words, at least _MIN_BRAND_CHARS letters.
            or (
                " " not in site
                and len(squashed) >= _MIN_BRAND_CHARS
                and len(key.split()) <= 2
                and squashed in site
            )
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


# A UTF-8 lead byte read as Latin-1 followed by continuation bytes: 'Investorâ\x80\x99s' is
# 'Investor\u2019s' encoded twice (seen on wcxb-dev pages stored double-encoded).
_MOJIBAKE_RE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")


def repair_mojibake(text: str) -> str:
    """Undo one round of UTF-8 read as Latin-1/cp1252; text that does not round-trip is kept."""
    if not _MOJIBAKE_RE.search(text):
        return text
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text


def _clean_title(value: Optional[str]) -> str:
    """Whitespace-collapsed title with HTML entities and tags removed, mojibake repaired."""
    return repair_mojibake(html_fragment_to_text(value)) if value else ""


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
# An unconfirmed <h1> sharing less than this word overlap (Jaccard) with every other title
# candidate is a section or widget label ("M&A Updates", "Pricing for Electrical Services",
# "Open Menu Close Menu"), not this page's headline. Tuned on the even half of wcxb-dev
# (docs/quality-metadata.md): 0.10 gained 2 pages, 0.12 gained 3 and lost none, 0.15 lost 1 of
# them back, 0.20 and 0.25 lost 2-3 real headlines that reword the <title>.
_LABEL_H1_OVERLAP = 0.12
# An all-caps or all-lowercase <h1> is CSS-style casing; a candidate with at least this word
# overlap supplies the casing the annotators (and readers of the source) see. Tuned with the
# rule above on the even half of wcxb-dev.
_RECASE_OVERLAP = 0.5


def _words(text: str) -> set[str]:
    """The set of comparison words of a title."""
    return set(title_key(text).split())


def _overlap(a: str, b: str) -> float:
    """Jaccard overlap of the comparison words of two titles."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


def _styled_case(text: str) -> bool:
    """True when a title's letters are all upper case or all lower case (styling, not writing)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) > 3 and (text.isupper() or text.islower())


def _cased(h1: str, others: list[tuple[str, str]]) -> str:
    """A styled-case <h1> written as another source writes it (the same words), else as is."""
    if not _styled_case(h1):
        return h1
    key = title_key(h1)
    for text, _ in others:
        for segment in (text, *_TITLE_SPLIT_RE.split(text)):
            if title_key(segment) == key and not _styled_case(segment):
                return segment.strip()
    return h1


def choose_title(
    signals: PageSignals, feed_title: Optional[str]
) -> tuple[Optional[str], Optional[str]]:
    """Pick the headline and its source; the visible <h1> wins when it can be trusted.

    Every candidate first loses a site-name segment. Then, in order: an <h1> that another
    source (JSON-LD headline, og:title, <title>, the feed) states too; an <h1> that the
    <title>/og:title/JSON-LD headline starts with (an unrecognised suffix follows it); the first
    <h1> of three or more words that is not the site name and shares words with the other
    candidates (a label <h1> shares none); JSON-LD headline, og:title, itemprop headline,
    <title>, feed title. An all-caps or all-lowercase <h1> takes another source's casing.
    Measured on wcxb-dev: the visible headline is what readers (and the annotators) call the
    title; og:title and <title> are often SEO variants.
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
        if title_key(text) in other_keys:
            return _cased(text, others), "h1"
    prefixes = [title_key(t) for t, s in raw if s in {"title", "og", "jsonld"}]
    for text in h1s:
        key = title_key(text)
        if len(key.split()) >= 2 and any(p.startswith(key) for p in prefixes):
            return _cased(text, others), "h1"
    for text in h1s:
        if len(title_key(text).split()) < _MIN_HEADLINE_WORDS:
            continue
        if others and max(_overlap(text, t) for t, _ in others) < _LABEL_H1_OVERLAP:
            continue
        if _styled_case(text):
            similar = [(t, s) for t, s in others if _overlap(text, t) >= _RECASE_OVERLAP]
            if similar and not _styled_case(similar[0][0]):
                return similar[0]
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
