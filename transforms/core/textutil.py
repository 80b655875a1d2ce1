"""Small text helpers shared by stages: HTML fragments to text, whitespace, hashing, word counts."""

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Optional

import lxml.html
from lxml import etree

# Ideographs and kana are written without spaces: count each as a word so CJK pages are not all
# "too short". Hangul is spaced and falls under \w+.
_WORD_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def collapse_ws(text: Optional[str]) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    # The same as substituting \s+ and stripping (both use Unicode's whitespace test), faster.
    return " ".join(text.split()) if text else ""


def html_fragment_to_text(fragment: Optional[str]) -> str:
    """Return the visible text of an HTML fragment (feed titles and summaries)."""
    if not fragment or not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        return collapse_ws(fragment)
    try:
        node = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return collapse_ws(fragment)
    for bad in node.xpath(".//script|.//style"):
        bad.drop_tree()
    return collapse_ws(node.text_content())


def normalize_for_hash(text: str) -> str:
    """Normalize body text for exact-duplicate hashing: NFKC, casefold, collapsed whitespace."""
    return collapse_ws(unicodedata.normalize("NFKC", text).casefold())


def content_hash(text: str) -> str:
    """Return the hex blake2b-128 digest of the normalized text."""
    return hashlib.blake2b(normalize_for_hash(text).encode("utf-8"), digest_size=16).hexdigest()


def word_count(text: str) -> int:
    """Count words (runs of letters/digits; each CJK ideograph or kana counts as one)."""
    return len(_WORD_RE.findall(text))


def unique_clean(values: Iterable[Optional[str]]) -> list[str]:
    """Return non-empty, whitespace-collapsed values, de-duplicated case-insensitively, in order."""
    seen = set()
    result: list[str] = []
    for value in values:
        cleaned = collapse_ws(value)
        key = cleaned.casefold()
        if cleaned and key not in seen:
            seen.add(key)
            result.append(cleaned)
    return result
