"""Guards for hostile and odd pages: every page ends as an honest record (docs/hostile-pages.md).

The extractor is trusted on ordinary pages; these checks catch the classes where it fails
silently: bytes of two encodings in one page, a tree the HTML parser cut short (libxml2 stops at
256 levels of nesting), a body that is a tiny share of a large page's text, link farms and
index pages, and script-built app shells with no text of their own.
"""

import codecs
import re
from html.parser import HTMLParser
from typing import NamedTuple, Optional, Union

from lxml.html import HtmlElement

from transforms.core.textutil import word_count

# Quality flags (Article.quality_flags) and filtered reasons (FilteredItem.reason) added here.
FALLBACK_BODY = "fallback_body"
MIXED_CHARSET = "mixed_charset"
POSSIBLY_TRUNCATED = "possibly_truncated"
NOT_ARTICLE = "not_article"
NO_BODY = "no_body"

# --- decoding -------------------------------------------------------------------------------------

# A valid multi-byte UTF-8 sequence (no overlongs, no surrogates).
_UTF8_SEQ_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Text between tags, with at least one non-ASCII byte.
_SEGMENT_RE = re.compile(rb"[^<>]*[\x80-\xff][^<>]*")
# A page decoded with a legacy codec is decoded as UTF-8-plus-that-codec when at least this
# share of its non-ASCII text segments are valid UTF-8 with two or more multi-byte sequences.
# Measured on lingua's sentences (1,000 per language, 27 languages, each encoded in its legacy
# Windows or CJK codec, a sentence standing for a segment): by accident 0.7% of Czech sentences
# in cp1250 pass, 0.14% of German, none of the 25 other languages; of 6,541 pages of 5 or 20
# such sentences, 5 reach the share (docs/hostile-pages.md).
_UTF8_SEGMENT_SHARE = 0.25
_MIN_SEGMENT_SEQS = 2
_SINGLE_CODECS = frozenset({"utf-8", "utf-16", "utf-32", "utf-8-sig"})


def _utf8_segment_share(body: bytes) -> float:
    """Share of the non-ASCII text segments that are valid UTF-8 (with 2+ multi-byte sequences)."""
    utf8 = total = 0
    for match in _SEGMENT_RE.finditer(body):
        segment = match.group(0)
        total += 1
        try:
            segment.decode("utf-8")
        except UnicodeDecodeError:
            continue
        # U+FFFD (EF BF BD) is a loss already made upstream, no sign of UTF-8 text.
        seqs = len(_UTF8_SEQ_RE.findall(segment)) - segment.count(b"\xef\xbf\xbd")
        utf8 += seqs >= _MIN_SEGMENT_SEQS
    return utf8 / total if total else 0.0


def _mixed_handler(fallback: str) -> str:
    """Name of a codecs error handler that decodes bytes UTF-8 rejects with ``fallback``."""
    name = f"newsbeam-mixed-{fallback}"
    try:
        codecs.lookup_error(name)
    except LookupError:

        def handler(err: UnicodeError) -> tuple[str, int]:
            """Decode the offending bytes with the fallback codec (replacement if it fails too)."""
            assert isinstance(err, UnicodeDecodeError)
            chunk = err.object[err.start : err.end]
            return bytes(chunk).decode(fallback, errors="replace"), err.end

        codecs.register_error(name, handler)
    return name


def decode_markup(body: bytes, charset: Optional[str]) -> tuple[Union[str, bytes], list[str]]:
    """Decode with the fetched charset; bytes of two encodings are decoded part by part.

    A UTF-8 page with stray legacy bytes (a pasted cp1252 paragraph), or a page decoded with a
    legacy codec whose non-ASCII text is mostly valid UTF-8, is decoded as UTF-8 where the bytes
    are UTF-8 and with the legacy codec (cp1252 for a UTF-8 page) elsewhere, flagged
    ``mixed_charset``. Unknown charsets return the bytes for trafilatura to sniff.
    """
    try:
        codec = codecs.lookup(charset).name if charset else None
    except LookupError:
        codec = None
    if codec is None:
        return body, []
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        text = None
    if codec == "utf-8":
        if text is not None:
            return text, []
        return body.decode("utf-8", errors=_mixed_handler("cp1252")), [MIXED_CHARSET]
    if codec not in _SINGLE_CODECS and _utf8_segment_share(body) >= _UTF8_SEGMENT_SHARE:
        return body.decode("utf-8", errors=_mixed_handler(codec)), [MIXED_CHARSET]
    return (text, []) if text is not None else (body, [])


# --- how much text the page has -------------------------------------------------------------------

# Raw-text elements: their content is code, not page text (the same in the tree and the counter).
_INERT_TAGS = ("script", "style")


def _solid(text: Optional[str]) -> int:
    """Characters of ``text`` that are not whitespace."""
    # str.split() and the regex class \s both use Unicode's whitespace test (Py_UNICODE_ISSPACE);
    # splitting and joining is 3-5x faster than a regex substitution here (measured).
    return len("".join(text.split())) if text else 0


class _TextCounter(HTMLParser):
    """Counts the page's text and script characters in one streaming pass (no tree, no depth)."""

    def __init__(self) -> None:
        """Start at zero."""
        super().__init__(convert_charrefs=True)
        self.text_chars = 0
        self.script_chars = 0
        self._inert: Optional[str] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        """Enter a script or style element."""
        if tag in _INERT_TAGS:
            self._inert = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        """A self-closed element (``<script/>``) has no content."""

    def handle_endtag(self, tag: str) -> None:
        """Leave a script or style element."""
        if tag == self._inert:
            self._inert = None

    def handle_data(self, data: str) -> None:
        """Count text outside scripts and styles; count script characters."""
        if self._inert is None:
            self.text_chars += _solid(data)
        elif self._inert == "script":
            self.script_chars += len(data)


class PageSource(NamedTuple):
    """The decoded markup and what the raw bytes say about it, independent of any parser."""

    markup: Union[str, bytes]
    flags: list[str]
    # Non-whitespace characters of text outside scripts and styles, and characters of markup
    # inside <script> elements: counted by ``counted`` only where a check needs them (None here).
    text_chars: Optional[int]
    script_chars: Optional[int]
    markup_chars: int
    # Non-whitespace characters outside anything tag-like and outside closed script and style
    # elements: never less than ``text_chars`` (entities count as written, comments' text
    # counts), from two C regex passes. Most pages are decided by it alone.
    text_upper: Optional[int] = None


def _raw(markup: Union[str, bytes]) -> str:
    """The markup as text (bytes that could not be decoded by charset: UTF-8 with replacement)."""
    return markup if isinstance(markup, str) else markup.decode("utf-8", errors="replace")


_TAG_RE = re.compile(r"<[A-Za-z/!?][^>]*>")
# Script and style content ends at the first closing tag, as in HTML's raw-text rule; one left
# unclosed stays in and only raises the bound.
_INERT_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)


def read_source(body: bytes, charset: Optional[str]) -> PageSource:
    """Decode the page and bound its text from above with one regex pass (no parser, no tree)."""
    markup, flags = decode_markup(body, charset)
    raw = _raw(markup)
    upper = _solid(_TAG_RE.sub("", _INERT_RE.sub("", raw)))
    return PageSource(markup, flags, None, None, len(raw), upper)


def counted(source: PageSource) -> PageSource:
    """``source`` with its text and script characters counted by Python's streaming ``html.parser``.

    It follows HTML's rules for script and style content as libxml2 does but keeps no tree, so
    nesting depth cannot stop it. About 0.2 s per MB: run only where ``text_upper`` cannot decide
    (the page may have lost text in the tree, may be a large page, or may be a script shell).
    """
    if source.text_chars is not None and source.script_chars is not None:
        return source
    counter = _TextCounter()
    counter.feed(_raw(source.markup))
    counter.close()
    return source._replace(text_chars=counter.text_chars, script_chars=counter.script_chars)


def _text_upper(source: PageSource) -> int:
    """An upper bound of the page's text characters (the exact count when there is no bound)."""
    if source.text_upper is not None:
        return source.text_upper
    return counted(source).text_chars or 0


def tree_text_chars(tree: HtmlElement) -> int:
    """Non-whitespace characters of text in the parsed tree outside scripts and styles."""
    total = 0
    for element in tree.iter():
        # Comments and processing instructions have a non-string tag: only their tail is text.
        if isinstance(element.tag, str) and element.tag not in _INERT_TAGS:
            total += _solid(element.text)
        total += _solid(element.tail)
    return total


# --- the fallback body ----------------------------------------------------------------------------

# The parser kept less than this share of the page's text: it stopped early (libxml2 aborts the
# whole parse at nesting depth 256). On the 2,494 pages of the five extraction corpora one page
# is below it (wcxb-dev 0310, 0.12: a true loss); the next lowest is 0.955 (docs/hostile-pages.md).
_TREE_SHARE = 0.5
_MIN_LOST_CHARS = 200
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "li",
        "td",
        "th",
        "tr",
        "dd",
        "dt",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "main",
        "br",
        "figcaption",
        "table",
        "ul",
        "ol",
        "dl",
    ]
)
# Not body text on any page (HTML's own sectioning semantics), plus the inert elements.
_SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "svg",
        "noscript",
        "template",
        "head",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "select",
        "button",
    ]
)
# A block more than a third of whose characters are link text is navigation (Kohlschütter et
# al. 2010, "Boilerplate detection using shallow text features": link density 0.33 is the first
# split of their decision tree).
_BLOCK_LINK_DENSITY = 1 / 3


class _BlockText(HTMLParser):
    """Streams the visible text of a page into blocks, with the link characters of each."""

    def __init__(self) -> None:
        """Start with no blocks and nothing skipped."""
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int]] = []
        self._parts: list[str] = []
        self._link_chars = 0
        self._skip: dict[str, int] = {}
        self._links = 0

    def _flush(self) -> None:
        """End the current block."""
        text = " ".join("".join(self._parts).split())
        if text:
            self.blocks.append((text, self._link_chars))
        self._parts, self._link_chars = [], 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        """Open a skipped element, a link or a block."""
        if tag in _SKIP_TAGS:
            self._skip[tag] = self._skip.get(tag, 0) + 1
        elif tag == "a":
            self._links += 1
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        """Close a skipped element, a link or a block."""
        if self._skip.get(tag):
            self._skip[tag] -= 1
        elif tag == "a" and self._links:
            self._links -= 1
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        """Collect text outside skipped elements."""
        if any(self._skip.values()):
            return
        self._parts.append(data)
        if self._links:
            self._link_chars += len(data.strip())

    def close(self) -> None:
        """Flush the last block."""
        super().close()
        self._flush()


def fallback_text(markup: Union[str, bytes]) -> str:
    """The page's text blocks outside navigation, headers, footers and link lists, one a line.

    Python's streaming ``html.parser`` keeps no tree, so nesting depth cannot defeat it.
    """
    raw = markup if isinstance(markup, str) else markup.decode("utf-8", errors="replace")
    parser = _BlockText()
    parser.feed(raw)
    parser.close()
    lines = [t for t, links in parser.blocks if links <= _BLOCK_LINK_DENSITY * len(t)]
    return "\n".join(lines)


def tree_lost_text(tree_chars: int, source: PageSource) -> bool:
    """True when the parsed tree holds much less text than the raw page (the parser gave up)."""
    upper = _text_upper(source)
    if upper - tree_chars < _MIN_LOST_CHARS or tree_chars >= _TREE_SHARE * upper:
        return False  # decided by the bound: the exact count can only be smaller
    text_chars = counted(source).text_chars or 0
    lost = text_chars - tree_chars
    return lost >= _MIN_LOST_CHARS and tree_chars < _TREE_SHARE * text_chars


# --- checks on the extracted body -----------------------------------------------------------------

# A large page: more text than this (non-whitespace characters). The largest page of the tuning
# sets (AEB, wcxb-dev) has 68,463; 6 of the 2,494 pages of all five corpora reach 100,000.
_LARGE_PAGE_CHARS = 100_000
# A body under this share of a large page's text is probably a fragment of it.
_MIN_BODY_SHARE = 0.05


def truncation_flag(text: str, source: PageSource, tree_chars: int) -> list[str]:
    """``possibly_truncated`` when the body is a small share of a large page's text."""
    body_chars = _solid(text)
    bound = max(_text_upper(source), tree_chars)
    if bound < _LARGE_PAGE_CHARS or body_chars >= _MIN_BODY_SHARE * bound:
        return []  # decided by the bound: the page's exact text can only be smaller
    page_chars = max(counted(source).text_chars or 0, tree_chars)
    if page_chars >= _LARGE_PAGE_CHARS and body_chars < _MIN_BODY_SHARE * page_chars:
        return [POSSIBLY_TRUNCATED]
    return []


_LINK_BLOCK_TAGS = ("p", "li", "td", "th", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "a")


def _link_key(text: str) -> str:
    """Comparison key of a text: whitespace collapsed, casefolded."""
    return " ".join(text.split()).casefold()


def line_link_shares(text: str, tree: HtmlElement) -> list[tuple[str, float]]:
    """Each body line (whitespace collapsed) with the share of it that is link text on the page.

    A line is matched to the block of the page it came from (a paragraph, list item, cell,
    heading or link); the block's link characters count for it. Lines matched to no block count
    as plain text, so the measure can only under-state link density.
    """
    density: dict[str, float] = {}
    for element in tree.iter(*_LINK_BLOCK_TAGS):
        key = _link_key(element.text_content())
        if not key or key in density:
            continue
        if element.tag == "a":
            density[key] = 1.0
            continue
        links = sum(len(_link_key(a.text_content())) for a in element.iter("a"))
        density[key] = min(1.0, links / len(key))
    shares = []
    for line in text.split("\n"):
        key = _link_key(line[2:] if line.startswith("- ") else line)
        if key:
            shares.append((key, density.get(key, 0.0)))
    return shares


def link_density(text: str, tree: HtmlElement) -> float:
    """Share of the body's characters that are link text on the page (character-weighted)."""
    shares = line_link_shares(text, tree)
    total = sum(len(line) for line, _ in shares)
    return sum(len(line) * share for line, share in shares) / total if total else 0.0


# An extracted text more than half of which is link text is a list of links, not an article.
# The majority rule was set before measuring; on the tuning sets (AEB, wcxb-dev: 974 pages) the
# densest real article body has 0.34. Held-out: mozilla-readability, newspaper4k, dragnet
# (docs/hostile-pages.md).
_MAX_LINK_DENSITY = 0.5
# A page whose markup is mostly script and whose text is too short is an app shell.
_SCRIPT_SHARE = 0.5


def not_article_reason(
    text: str,
    words: int,
    used_summary: bool,
    tree: Optional[HtmlElement],
    source: PageSource,
    min_words: int,
) -> Optional[tuple[str, str]]:
    """``(reason, detail)`` when the extracted item is no article: a link list or a script shell."""
    if used_summary:
        return None
    # A text shorter than min_words is flagged too_short already; its few lines say little.
    if tree is not None and words >= min_words:
        shares = line_link_shares(text, tree)
        total = sum(len(line) for line, _ in shares)
        density = sum(len(line) * share for line, share in shares) / total if total else 0.0
        # Without its link blocks (Kohlschuetter's 1/3 rule) the text must still be an article:
        # a short post above a long blogroll is kept (as extracted), a list of links is not.
        prose = " ".join(line for line, share in shares if share <= _BLOCK_LINK_DENSITY)
        if density > _MAX_LINK_DENSITY and word_count(prose) < min_words:
            return NOT_ARTICLE, (
                f"link density {density:.2f} of {len(text)} body characters; "
                f"{word_count(prose)} words outside links"
            )
    if words >= min_words or not source.markup_chars:
        return None
    share = (counted(source).script_chars or 0) / source.markup_chars
    if share >= _SCRIPT_SHARE:
        return NO_BODY, f"{share:.0%} of the page is script; {words} words of text, no feed summary"
    return None
