"""Hostile and odd pages (docs/hostile-pages.md): each ends as an honest record, never lost."""

import html
import random

import lxml.html
import pytest

from tests.conftest import corpus_dir
from tests.extract.test_extract import page as feed_page
from transforms.core.records import Article, FetchedPage, FilteredItem
from transforms.core.settings import ExtractSettings
from transforms.extract import guards
from transforms.extract.article import extract_article
from transforms.net.charset import resolve_charset

SETTINGS = ExtractSettings()
_PROSE = (
    "the harbour council voted on tuesday to approve a budget for schools roads and parks after "
    "months of debate while residents said they were pleased with the plan and the mayor promised "
    "that work would begin in spring"
)
_WORDS = _PROSE.split()


def prose(rng: random.Random, words: int = 60) -> str:
    """One paragraph of varied English-like prose ending in a full stop."""
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def page(body: bytes, charset="utf-8", summary=None) -> FetchedPage:
    """A fetched page of a feed entry (the one test_extract uses)."""
    return feed_page(body, "https://news.example.org/a", None, charset, summary)


def document(body: str, head: str = "") -> bytes:
    return f"<html><head><title>T</title>{head}</head><body>{body}</body></html>".encode()


# --- big pages -----------------------------------------------------------------------------------


def comments_page(rng: random.Random) -> bytes:
    """A short article under 500 reader comments: the body is a small share of the page's text."""
    article = "".join(f"<p>{prose(rng)}</p>" for _ in range(5))
    comments = "".join(f'<div class="comment"><p>{prose(rng)}</p></div>' for _ in range(500))
    return document(
        f'<article>{article}</article><section id="comments" class="comments">{comments}</section>'
    )


def test_a_big_page_of_repeated_paragraphs_comes_out_whole():
    # Three paragraphs repeated 400 times (issue 13's silent loss: the repeated-line rule kept one
    # copy of each). readability-lxml keeps every copy too, so the repeats stay and nothing is lost.
    rng = random.Random(1)
    paras = [prose(rng) for _ in range(3)]
    body = "".join(f"<p>{p}</p>" for _ in range(400) for p in paras)
    art = extract_article(page(document(f"<article>{body}</article>")), SETTINGS)
    assert isinstance(art, Article)
    assert art.quality_flags == []
    assert len(art.text) > 0.95 * sum(len(p) for p in paras) * 400


def test_a_short_body_on_a_page_of_mostly_other_text_is_flagged_possibly_truncated():
    # The body (5 paragraphs) is under 5% of a page with over 100,000 characters of text.
    art = extract_article(page(comments_page(random.Random(3))), SETTINGS)
    assert isinstance(art, Article)
    assert guards.POSSIBLY_TRUNCATED in art.quality_flags
    assert len(art.text) < 5_000


def test_a_big_page_of_distinct_paragraphs_is_kept_whole_and_unflagged():
    rng = random.Random(2)
    paras = [prose(rng) for _ in range(600)]
    body = "".join(f"<p>{p}</p>" for p in paras)
    art = extract_article(page(document(f"<article>{body}</article>")), SETTINGS)
    assert isinstance(art, Article)
    assert art.quality_flags == []
    assert art.text.split("\n")[-1] == paras[-1]
    assert len(art.text) > 200_000


def test_a_small_body_on_a_small_page_is_not_flagged_truncated():
    source = guards.PageSource("", [], text_chars=5_000, script_chars=0, markup_chars=9_000)
    assert guards.truncation_flag("x" * 100, source, 5_000) == []
    big = source._replace(text_chars=200_000)
    assert guards.truncation_flag("x" * 100, big, 200_000) == [guards.POSSIBLY_TRUNCATED]
    assert guards.truncation_flag("x" * 20_000, big, 200_000) == []


# --- link farms and index pages ------------------------------------------------------------------


def test_a_page_of_nothing_but_links_is_filtered_not_article():
    rng = random.Random(3)
    items = "".join(f'<li><a href="/n/{i}">{prose(rng, 9)}</a></li>' for i in range(3000))
    result = extract_article(page(document(f"<ul>{items}</ul>")), SETTINGS)
    assert isinstance(result, FilteredItem)
    assert result.reason == guards.NOT_ARTICLE
    assert "link density 1.00" in result.detail


def test_an_index_page_of_teasers_is_filtered_not_article():
    rng = random.Random(4)
    cards = "".join(
        f'<div class="card"><h3><a href="/s/{i}">{prose(rng, 10)}</a></h3>'
        f'<p><a href="/s/{i}">{prose(rng, 25)}</a></p></div>'
        for i in range(60)
    )
    result = extract_article(page(document(f"<main>{cards}</main>")), SETTINGS)
    assert isinstance(result, FilteredItem) and result.reason == guards.NOT_ARTICLE


def test_an_article_with_inline_links_and_a_related_list_is_kept():
    rng = random.Random(5)
    paras = "".join(
        f'<p>{prose(rng, 40)} <a href="/x/{i}">the report</a> {prose(rng, 20)}</p>'
        for i in range(8)
    )
    related = "".join(f'<li><a href="/r/{i}">{prose(rng, 8)}</a></li>' for i in range(12))
    body = f"<article><h1>Budget</h1>{paras}<h2>Related</h2><ul>{related}</ul></article>"
    art = extract_article(page(document(body)), SETTINGS)
    assert isinstance(art, Article)
    assert "not_article" not in art.quality_flags


def test_a_short_link_dense_text_stays_a_too_short_article():
    # A few lines say little about link density: the text is flagged too_short instead.
    body = document("<p>Posted by <a href='/u'>Ann Lee</a> on <a href='/d'>July 21</a></p>")
    art = extract_article(page(body), SETTINGS)
    assert isinstance(art, Article) and "too_short" in art.quality_flags


def test_link_density_counts_only_link_characters_of_matched_blocks():
    tree = lxml.html.fromstring(
        "<html><body><p>Plain words here <a href='/a'>and a link</a></p>"
        "<li><a href='/b'>Only a link</a></li></body></html>"
    )
    assert guards.link_density("Only a link", tree) == 1.0
    mixed = guards.link_density("Plain words here and a link", tree)
    assert mixed == pytest.approx(len("and a link") / len("plain words here and a link"))
    assert guards.link_density("A line found nowhere on the page", tree) == 0.0


# --- deep nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [300, 3000])
def test_a_page_nested_deeper_than_the_parser_allows_gets_a_fallback_body(depth):
    rng = random.Random(6)
    before = "".join(f"<p>{prose(rng)}</p>" for _ in range(2))
    inside = [prose(rng) for _ in range(8)]
    nest = "<div>" * depth + "".join(f"<p>{p}</p>" for p in inside) + "</div>" * depth
    nav = "<nav>" + "".join(f"<a href='/{i}'>Section {i}</a>" for i in range(20)) + "</nav>"
    result = extract_article(page(document(nav + before + nest)), SETTINGS)
    assert isinstance(result, Article)
    assert guards.FALLBACK_BODY in result.quality_flags
    assert all(p in result.text for p in inside)
    assert "Section 3" not in result.text  # navigation is left out of the fallback


def test_fallback_text_drops_boilerplate_and_link_lists():
    markup = (
        "<html><head><title>x</title><script>var a = 1;</script></head><body>"
        "<header>Site name</header><p>First paragraph.</p><div><a href='/1'>Link one</a> "
        "<a href='/2'>Link two</a></div><p>Second &amp; last.</p><footer>(c)</footer></body></html>"
    )
    assert guards.fallback_text(markup) == "First paragraph.\nSecond & last."


def test_an_ordinary_page_does_not_take_the_fallback():
    rng = random.Random(7)
    body = document("<article>" + "".join(f"<p>{prose(rng)}</p>" for _ in range(6)) + "</article>")
    art = extract_article(page(body), SETTINGS)
    assert isinstance(art, Article) and art.quality_flags == []


# --- mixed charsets ------------------------------------------------------------------------------

_FR = "Le café de la gare a été rénové après des années de travaux, déclare le maire élu. " * 6
_DE = "Die Brücke über den Fluß wurde nach drei Jahren für den Verkehr geöffnet, sagte sie. " * 6


def _two_paragraphs(first: bytes, second: bytes, head: bytes = b"") -> bytes:
    return (
        b"<html><head>"
        + head
        + b"<title>T</title></head><body><article><p>"
        + first
        + b"</p><p>"
        + second
        + b"</p></article></body></html>"
    )


@pytest.mark.parametrize(
    "body",
    [
        _two_paragraphs(_FR.encode(), _DE.encode() + b" Caf\xe9."),  # UTF-8, one stray cp1252 byte
        _two_paragraphs(_FR.encode(), _DE.encode("cp1252")),  # a cp1252 paragraph in UTF-8
    ],
    ids=["stray-byte", "cp1252-paragraph"],
)
def test_a_page_mixing_utf8_and_cp1252_decodes_without_mojibake_and_is_flagged(body):
    charset = resolve_charset(body, None).codec  # as the fetch stage resolves it
    art = extract_article(page(body, charset=charset), SETTINGS)
    assert isinstance(art, Article)
    assert guards.MIXED_CHARSET in art.quality_flags
    assert "café" in art.text and "Brücke" in art.text
    assert not any(bad in art.text for bad in ("Ã", "\ufffd", "Â"))


def test_a_single_legacy_charset_page_is_not_flagged_mixed():
    text = "Мост через реку открыли после трёх лет ремонта, сообщил мэр города. " * 10
    body = _two_paragraphs(text.encode("cp1251"), text.encode("cp1251"))
    markup, flags = guards.decode_markup(body, resolve_charset(body, "windows-1251").codec)
    assert flags == [] and isinstance(markup, str) and "Мост через реку" in markup


def test_disagreeing_declarations_decode_by_the_bytes():
    # Header says UTF-8, <meta> says ISO-8859-1, the bytes are cp1252: no mojibake either way.
    body = _two_paragraphs(
        _FR.encode("cp1252"), _DE.encode("cp1252"), b'<meta charset="iso-8859-1">'
    )
    art = extract_article(page(body, charset=resolve_charset(body, "utf-8").codec), SETTINGS)
    assert isinstance(art, Article)
    assert "café" in art.text and "Brücke" in art.text and "\ufffd" not in art.text


def test_lingua_sentences_in_their_legacy_codecs_are_not_taken_for_mixed_pages():
    # The measurement behind _UTF8_SEGMENT_SHARE (docs/hostile-pages.md), kept as a test.
    root = corpus_dir("language", "lingua", "sentences")
    codecs_ = {"fr": "cp1252", "pl": "cp1250", "ru": "cp1251", "el": "cp1253", "tr": "cp1254"}
    codecs_ |= {"ar": "cp1256", "zh": "gb18030", "ja": "cp932", "ko": "cp949", "th": "cp874"}
    pages = flagged = 0
    for lang, codec in codecs_.items():
        lines = (root / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        for start in range(0, len(lines), 20):
            paras = "".join(f"<p>{html.escape(s)}</p>" for s in lines[start : start + 20])
            body = f"<html><body>{paras}</body></html>".encode(codec, errors="ignore")
            pages += 1
            flagged += bool(guards.decode_markup(body, codec)[1])
    assert pages > 400 and flagged == 0


# --- pages that are mostly a script --------------------------------------------------------------

_APP_SHELL = document(
    "<div id='root'></div><noscript>Please enable JavaScript to read this site.</noscript>",
    "<script>window.__STATE__ = " + "[1, 2, 3]," * 20_000 + " 0;</script>",
)


def test_a_script_shell_without_feed_summary_is_filtered_no_body():
    result = extract_article(page(_APP_SHELL), SETTINGS)
    assert isinstance(result, FilteredItem)
    assert result.reason == guards.NO_BODY
    assert "is script" in result.detail


def test_a_script_shell_with_a_feed_summary_uses_the_summary():
    summary = prose(random.Random(8), 60)
    art = extract_article(page(_APP_SHELL, summary=summary), SETTINGS)
    assert isinstance(art, Article)
    assert art.text == summary and "no_body_used_summary" in art.quality_flags


def test_a_short_page_that_is_not_a_script_shell_stays_a_flagged_article():
    art = extract_article(page(document("<p>Brief: the bridge reopens on Monday.</p>")), SETTINGS)
    assert isinstance(art, Article) and "too_short" in art.quality_flags
