"""URL normalization and ids: the keys that dedup and the article ids are built on."""

import base64
import binascii
import hashlib
import re
from typing import Optional
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit, urlunsplit

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


# Host prefixes that serve the same article as the bare domain (mobile and AMP editions).
_EDITION_PREFIXES = ("www.", "m.", "mobile.", "amp.", "wap.")
# Query parameters that only select the AMP or mobile rendering of a page.
_AMP_PARAMS = frozenset({"amp", "outputtype", "output", "usqp", "amp_js_v", "mobile"})
_AMP_PARAM_VALUES = frozenset({"", "1", "true", "amp", "mq1", "0.1"})
_AMP_SUFFIX_RE = re.compile(r"\.amp(?=\.html?$|$)", re.I)
# Links through which aggregators and social sites send readers on (target in a parameter).
_REDIRECTOR_PARAMS = {
    "www.google.com": ("q", "url"),
    "google.com": ("q", "url"),
    "news.google.com": ("url",),
    "l.facebook.com": ("u",),
    "lm.facebook.com": ("u",),
    "t.umblr.com": ("z",),
}


def _google_news_target(path: str) -> Optional[str]:
    """Decode the article URL inside a Google News ``/rss/articles/<id>`` link, when it is there.

    Google News ids are URL-safe base64 of a small protobuf. Until 2024 the target URL sat in
    it as a length-prefixed string (field 4); newer ids (``AU_yqL...``) are opaque and can only be
    resolved by asking Google, which a pipeline must not do per item, so those stay as they are.
    """
    match = re.search(r"/articles/([A-Za-z0-9_-]+)", path)
    if not match:
        return None
    token = match.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    found = re.search(rb"https?://[\x21-\x7e]+", raw)
    if not found:
        return None
    url = found.group(0).decode("ascii")
    # A trailing protobuf tag byte (\xd2\x01 ...) would be outside \x21-\x7e; stop at it.
    return url if is_http_url(url) else None


def unwrap_redirector(url: str) -> str:
    """Return the article URL behind a Google News / Google / Facebook redirector link."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if host == "news.google.com" and "/articles/" in parts.path:
        return _google_news_target(parts.path) or url
    keys = _REDIRECTOR_PARAMS.get(host)
    if keys:
        params = dict(parse_qsl(parts.query))
        for key in keys:
            target = params.get(key)
            if target and is_http_url(target):
                return target
    return url


def url_key(url: str) -> str:
    """Equivalence key of the URL layer: the same article whatever edition or wrapper serves it.

    On top of ``normalize_url``: redirector links unwrapped, http and https equal, ``www.``/``m.``/
    ``amp.`` host prefixes dropped, AMP path markers (an ``/amp`` segment, ``.amp`` before the
    extension) and AMP/mobile query switches removed, trailing slash ignored.
    """
    normalized = normalize_url(unwrap_redirector(url))
    try:
        parts = urlsplit(normalized)
    except ValueError:
        return normalized
    host = (parts.hostname or "").lower()
    for prefix in _EDITION_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    segments = [seg for seg in parts.path.split("/") if seg and seg.lower() != "amp"]
    path = "/" + "/".join(segments)
    path = _AMP_SUFFIX_RE.sub("", path)
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not (k.lower() in _AMP_PARAMS and v.lower() in _AMP_PARAM_VALUES)
        ]
    )
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(("", host + port, path, query, "")).removeprefix("//")


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
