"""URL normalization and ids: the keys that dedup and the article ids are built on."""

import hashlib
from typing import Optional
from urllib.parse import urldefrag, urljoin, urlsplit

from courlan import normalize_url as _courlan_normalize

HTTP_SCHEMES = frozenset({"http", "https"})


def is_http_url(url: Optional[str]) -> bool:
    """Return True for an absolute http(s) URL with a host."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in HTTP_SCHEMES and bool(parts.hostname)


def normalize_url(url: str) -> str:
    """Normalize a URL for comparison: lowercase host, default port, no fragment or tracking."""
    cleaned = url.strip()
    try:
        # Non-strict courlan drops tracking parameters (utm_*, fbclid, ...) and sorts the rest.
        # Its strict mode also drops every parameter outside a short allow-list, which merges
        # different articles of sites that identify them by query (``story.php?storyId=1``).
        normalized = str(_courlan_normalize(cleaned, strict=False))
    except (ValueError, AttributeError):
        normalized = cleaned
    # A fragment never identifies a different article (``#comments``, ``#top``).
    return urldefrag(normalized)[0]


def resolve_url(base: str, ref: Optional[str]) -> Optional[str]:
    """Resolve ``ref`` against ``base``; None when the result is not an http(s) URL."""
    if not ref:
        return None
    try:
        joined = urljoin(base, ref.strip())
    except ValueError:
        return None
    return joined if is_http_url(joined) else None


def host_of(url: str) -> str:
    """Return the lowercase host of ``url`` ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def stable_id(*parts: str, size: int = 16) -> str:
    """Return a short, stable hex id derived from ``parts`` (blake2b, order-sensitive)."""
    digest = hashlib.blake2b(digest_size=size)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()
