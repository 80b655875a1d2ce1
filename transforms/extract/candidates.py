"""A second body candidate (readability-lxml) and the choice between it and trafilatura's.

readability-lxml scores paragraphs and keeps the best-scoring container with its siblings;
trafilatura looks for the body by markup and cleans it. They fail on different pages, so where
trafilatura's text is in doubt the other candidate is run and the one that the page's own
anchors (headline, description) and the other candidate support is kept.
"""

import copy
import logging
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
