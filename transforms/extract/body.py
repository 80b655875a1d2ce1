"""The article body: trafilatura on a cleaned tree, then the text cleaned line by line.

Split bodies are merged before extraction; a repeated headline, trailing link lists and repeated
lines are trimmed after it.
"""

import functools
import re
from configparser import ConfigParser
from typing import Any, Optional

import trafilatura
from lxml.etree import _Element, strip_elements
from lxml.html import HtmlElement
from trafilatura.settings import use_config

from transforms.core.settings import ExtractSettings
from transforms.extract.candidates import keep_repeats, readability_text
from transforms.extract.signals import title_key


@functools.lru_cache(maxsize=8)
def trafilatura_config(max_tree_size: Optional[int]) -> ConfigParser:
    """trafilatura's settings with our limits (read-only after creation, so safe to share)."""
    config = use_config()
    # Beam's with_exception_handling(timeout=...) bounds each page; trafilatura's own timeout uses
    # SIGALRM, which only works in the main thread.
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    config.set("DEFAULT", "MAX_TREE_SIZE", str(max_tree_size) if max_tree_size else "")
    return config


# Containers whose class names the article body. trafilatura takes the first one; some sites
# (Condé Nast's Wired among them) cut the body into several such containers around ad slots.
_BODY_CLASS_RE = (
    r"post[-_]text|post-body|post-?entry|post[-_]?content|postContent|article-?text|articleText|"
    r"(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody|"
    r"ArticleContent|body-text|article__container"
)
_BODY_CLASS = re.compile(_BODY_CLASS_RE)


def _body_containers(tree: HtmlElement) -> list[_Element]:
    """Elements whose class (or itemprop) names the article body."""
    # A Python loop over the three container tags beats an XPath with these tests (measured).
    return [
        e
        for e in tree.iter("div", "article", "section")
        if e.get("itemprop") == "articleBody" or _BODY_CLASS.search(e.get("class") or "")
    ]


# A part of a split body holds prose; teaser cards with the same class are short.
_MIN_PART_CHARS = 200
# Between two parts there may only be ad slots and captions, not other content.
_MAX_GAP_CHARS = 200
_SKIP_TEXT = {"script", "style", "noscript", "template"}


def _gap_chars(
    order: dict[_Element, int], elements: list[_Element], a: _Element, b: _Element
) -> int:
    """Characters of text in the document between the end of ``a`` and the start of ``b``."""
    last = a
    for last in a.iterdescendants():  # noqa: B007 -- the loop finds the last descendant
        pass
    skip = set(b.iterancestors())
    total = 0
    for element in elements[order[last] + 1 : order[b]]:
        if element in skip or not isinstance(element.tag, str) or element.tag in _SKIP_TEXT:
            continue
        total += len((element.text or "").strip())
        if total > _MAX_GAP_CHARS:
            break
    return total


def merge_split_bodies(tree: HtmlElement) -> int:
    """Move the later parts of a body split into same-class containers into the first one.

    Parts must have the same tag and class, hold at least 200 characters, sit in the same
    ``<article>``/``<li>`` (so a list of teasers is never merged) and be separated only by
    short text (ad labels). Returns the number of containers merged (0 on most pages).
    """
    groups: dict[tuple[str, str, str], list[_Element]] = {}
    for element in _body_containers(tree):
        key = (str(element.tag), element.get("class") or "", element.get("itemprop") or "")
        groups.setdefault(key, []).append(element)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return 0
    elements = list(tree.iter())
    order = {element: n for n, element in enumerate(elements)}
    merged = 0
    for members in groups.values():
        outer = [m for m in members if not any(a in members for a in m.iterancestors())]
        parts = [
            m
            for m in outer
            if len(m.text_content()) >= _MIN_PART_CHARS and next(m.iterancestors("a"), None) is None
        ]
        if len(parts) < 2:
            continue
        first, previous = parts[0], parts[0]
        scope = next(first.iterancestors("article", "li"), None)
        chain = []
        for part in parts[1:]:
            if next(part.iterancestors("article", "li"), None) is not scope:
                break
            if _gap_chars(order, elements, previous, part) > _MAX_GAP_CHARS:
                break
            chain.append(part)
            previous = part
        for part in chain:
            for child in list(part):
                first.append(child)
            parent = part.getparent()
            if parent is not None:
                parent.remove(part)
            merged += 1
    return merged


# --- body cleaning --------------------------------------------------------------------------------
# The rules work on the lines of trafilatura's text (one block per line, list items as "- ..."):
# cheaper than walking its output tree, and the same information.


def text_lines(text: str) -> list[str]:
    """Non-empty lines of a text, whitespace collapsed."""
    return [line for raw in text.split("\n") if (line := " ".join(raw.split()))]


def drop_leading_headline(lines: list[str], headlines: set[str]) -> list[str]:
    """Remove leading lines that repeat the headline (it is metadata, not body text)."""
    start = 0
    while start < min(3, len(lines)) and title_key(lines[start]) in headlines:
        start += 1
    return lines[start:]


# A link text longer than this is not a headline in a list of links.
_MAX_LINK_TEXT = 300
# A line counts as a link when a link text covers at least this share of it (teaser lists put a
# one-line summary after the linked headline).
_LINK_SHARE = 0.4


def _link_key(text: str) -> str:
    """Cheap comparison key for link texts: collapsed whitespace, casefolded."""
    return " ".join(text.split()).casefold()


class AnchorIndex:
    """Comparison keys of the page's link texts, to recognise link lists in the output."""

    def __init__(self, tree: HtmlElement) -> None:
        """Index the links of ``tree`` lazily."""
        self._tree = tree
        self._keys: Optional[set[str]] = None

    def keys(self) -> set[str]:
        """Keys of all link texts (computed on first use: most pages never need them)."""
        if self._keys is None:
            self._keys = {key for a in self._tree.iter("a") if (key := _link_key(a.text_content()))}
        return self._keys

    def is_link_text(self, text: str) -> bool:
        """True when the text is a link text, or starts with one covering much of it."""
        key = _link_key(text)
        if not key or len(key) > _MAX_LINK_TEXT:
            return False
        keys = self.keys()
        words = key.split()
        for n in range(len(words), 0, -1):
            prefix = " ".join(words[:n])
            if len(prefix) < _LINK_SHARE * len(key):
                return False
            if prefix in keys:
                return True
        return False


# Closing punctuation, including curly quotes, the ellipsis and CJK full stops (as escapes).
SENTENCE_END = tuple(".!?\"')]\u201d\u2019\u00bb\u2026\u3002\uff01\uff1f")
# A line this short without closing punctuation that heads a removed link list is its title.
_HEADING_WORDS = 6


def trim_trailing_links(lines: list[str], anchors: AnchorIndex) -> list[str]:
    """Remove the trailing run of link lines ("Related", "Most read", "More from ...").

    A line counts when it is (a list item made of) a link text of the page; the heading
    right above a removed run goes too. Never removes more than half of the text.
    """
    total = sum(len(line) for line in lines)
    removed = 0
    end = len(lines)
    while end > 0:
        line = lines[end - 1]
        item = line[2:] if line.startswith("- ") else line
        if not (item.strip("- ") == "" or anchors.is_link_text(item)):
            break
        if 2 * (removed + len(line)) > total:
            break
        removed += len(line)
        end -= 1
    if removed and end > 0:
        last = lines[end - 1]
        heading = not last.startswith("- ") and len(last.split()) <= _HEADING_WORDS
        if heading and not last.endswith(SENTENCE_END) and 2 * (removed + len(last)) <= total:
            end -= 1
    return lines[:end]


# A text whose repeated lines make up this share of it was laid out more than once (desktop and
# mobile copies, sticky recaps): keep the first copy of each line.
_DUPLICATE_SHARE = 0.2
_MIN_DUPLICATE_CHARS = 40


def drop_repeated_lines(lines: list[str]) -> list[str]:
    """Remove verbatim repeats of earlier long lines when repeats are a large share of the text."""
    seen: set[str] = set()
    keep: list[str] = []
    total = repeated = 0
    for line in lines:
        key = _link_key(line)
        total += len(key)
        if len(key) >= _MIN_DUPLICATE_CHARS and key in seen:
            repeated += len(key)
            continue
        seen.add(key)
        keep.append(line)
    return keep if repeated >= _DUPLICATE_SHARE * total and repeated else lines


def clean_text(text: str, headlines: set[str], anchors: AnchorIndex) -> str:
    """Apply the output rules to trafilatura's text."""
    lines = drop_leading_headline(text_lines(text), headlines)
    lines = trim_trailing_links(lines, anchors)
    return "\n".join(drop_repeated_lines(lines))


def _run_trafilatura(tree: HtmlElement, url: Optional[str], settings: ExtractSettings) -> Any:
    """One balanced trafilatura pass without metadata, on its own copy of the tree.

    Comments are left out unless ``settings.include_comments``: reader comments are not the
    article (this alone lifts AEB F1 from 0.948 to 0.959). Metadata comes from
    transforms.metadata, which is cheaper and records provenance.
    """
    return trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=False,
        include_comments=settings.include_comments,
        include_tables=True,
        deduplicate=False,
        config=trafilatura_config(settings.max_tree_size),
    )


_JSONLD_PLACEHOLDER = "newsbeam-ld-json"


def strip_inert(tree: HtmlElement) -> None:
    """Remove scripts (except JSON-LD), styles and inline SVG before trafilatura copies the tree.

    trafilatura drops them itself, but only after copying the whole tree several times; doing it
    once first makes its pass about 6-10% cheaper with the same output (measured on AEB and
    wcxb-dev). JSON-LD stays: trafilatura's baseline fallback reads ``articleBody`` from it.
    """
    jsonld = [s for s in tree.iter("script") if "ld+json" in (s.get("type") or "").lower()]
    for script in jsonld:
        script.tag = _JSONLD_PLACEHOLDER
    strip_elements(tree, "script", "style", "svg", with_tail=False)
    for script in jsonld:
        script.tag = "script"


def extract_body(
    tree: HtmlElement, url: Optional[str], settings: ExtractSettings, headlines: set[str]
) -> str:
    """trafilatura's balanced extraction of the main text (no comments), cleaned.

    Where an output rule is in doubt, readability-lxml's text of the same tree decides: today
    that is the repeated-lines rule (``candidates.keep_repeats``), so readability runs on the
    few pages whose text repeats itself.
    """
    doc = _run_trafilatura(tree, url, settings)
    if doc is None or not doc.text:
        return ""
    text = doc.text
    if settings.include_comments and doc.comments:
        text = f"{text}\n{doc.comments}"
    anchors = AnchorIndex(tree)
    lines = trim_trailing_links(drop_leading_headline(text_lines(text), headlines), anchors)
    deduplicated = drop_repeated_lines(lines)
    if deduplicated is not lines:
        other = trim_trailing_links(
            drop_leading_headline(text_lines(readability_text(tree)), headlines), anchors
        )
        deduplicated = keep_repeats(lines, deduplicated, other)
    return "\n".join(deduplicated)
