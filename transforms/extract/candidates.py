"""A second body candidate (readability-lxml) and agreement between it and trafilatura's.

readability-lxml scores paragraphs and keeps the best-scoring container with its siblings;
trafilatura looks for the body by markup and cleans it. They fail on different pages, so where
one of our output rules is in doubt about trafilatura's text, the other candidate is run and
the variant it agrees with is kept.
"""

import copy
import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Optional, Union

from lxml.etree import ParserError
from lxml.html import HtmlElement, fromstring
from readability import Document
from readability.readability import Unparseable

# readability logs every page it falls back on at INFO/ERROR: page trouble, not ours.
logging.getLogger("readability.readability").setLevel(logging.CRITICAL)

# Elements after which readability's HTML output has a line break in the reader's view.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
        "h6", "tr", "td", "th", "table", "blockquote", "pre", "section", "article", "figure",
        "figcaption", "header", "footer", "aside", "main",
    }
)  # fmt: skip


def html_text(fragment: str) -> str:
    """The text of an HTML fragment, one line per block element."""
    if not fragment.strip():
        return ""
    try:
        root = fromstring(fragment)
    except (ParserError, ValueError):
        return ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
    return "\n".join(
        line for raw in root.text_content().split("\n") if (line := " ".join(raw.split()))
    )


def readability_text(source: Union[HtmlElement, bytes, str], url: Optional[str] = None) -> str:
    """readability-lxml's article text ("" when it finds none); never modifies ``source``."""
    if isinstance(source, HtmlElement):
        # readability drops hidden elements from the tree it is given before copying it.
        source = copy.deepcopy(source)
    try:
        return html_text(Document(source, url=url).summary(html_partial=True))
    except (Unparseable, ParserError, ValueError, TypeError):
        return ""


# --- agreement between candidates ---------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    """Lowercase word tokens (the unit of agreement)."""
    return _WORD_RE.findall(text.lower())


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Token-multiset F1 between two texts given as lines (1.0: the same words)."""
    ta, tb = Counter(_tokens("\n".join(a))), Counter(_tokens("\n".join(b)))
    if not ta or not tb:
        return 0.0
    overlap = sum((ta & tb).values())
    return 2 * overlap / (sum(ta.values()) + sum(tb.values()))


def keep_repeats(lines: list[str], deduplicated: list[str], other: Sequence[str]) -> list[str]:
    """The full or the deduplicated lines, whichever agrees more with the other candidate.

    Repeated lines are a layout printed twice (desktop and mobile copies) or text the page
    really repeats (a refrain, a recurring paragraph); an independent extractor that repeats
    them too says which (mozilla-readability: 16 of 116 pages trip the repeat rule, 15 of
    them wrongly; AEB: 2 of 181, 1 wrongly).
    """
    if not other:
        return deduplicated
    return lines if agreement(lines, other) > agreement(deduplicated, other) else deduplicated
