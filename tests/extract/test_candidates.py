import copy

import lxml.html

from tests.conftest import FIXTURES
from transforms.core.records import FeedEntry, FetchedPage
from transforms.core.settings import ExtractSettings
from transforms.extract.article import extract_article
from transforms.extract.candidates import agreement, html_text, keep_repeats, readability_text

PARAGRAPH = (
    "The choir sang the same verse again at the end of the service, as it does every year, "
    "and the congregation joined in for the last lines."
)
OTHER = (
    "Volunteers had rebuilt the organ over the winter, replacing pipes that had been silent "
    "since the flood damaged the lower floor of the old church."
)


def page(body: str) -> FetchedPage:
    entry = FeedEntry(
        "gazette", "", None, None, [], None, "https://news.example.org/a", None, None, None,
        [], [], None, 0,
    )  # fmt: skip
    url = "https://news.example.org/a"
    return FetchedPage(
        entry, url, 200, "text/html", "utf-8", body.encode(), "2024-01-01T00:00:00Z", []
    )


def article_html(body: str) -> str:
    return (
        "<html><head><title>Carols at St Mary's</title></head><body><nav><a href='/'>Home</a>"
        f"</nav><article><h1>Carols at St Mary's</h1>{body}</article>"
        "<footer>Copyright Gazette</footer></body></html>"
    )


def test_html_text_puts_block_elements_on_their_own_lines():
    assert html_text("<div><p>One <b>two</b></p><p>three</p>four<br>five</div>") == (
        "One two\nthree\nfour\nfive"
    )
    assert html_text("") == "" and html_text("   ") == ""


def test_readability_text_finds_the_article_and_leaves_the_tree_alone():
    tree = lxml.html.fromstring((FIXTURES / "article_en.html").read_bytes())
    before = lxml.html.tostring(copy.deepcopy(tree))
    text = readability_text(tree)
    assert "harbour bridge reopened to traffic" in text.lower()
    assert lxml.html.tostring(tree) == before
    assert readability_text(b"") == ""


def test_agreement_is_token_multiset_f1():
    assert agreement(["a b c"], ["a b c"]) == 1.0
    assert agreement(["a a"], ["a"]) == 2 * 1 / 3
    assert agreement([], ["a"]) == 0.0


def test_keep_repeats_follows_the_other_candidate():
    lines = [PARAGRAPH, OTHER, PARAGRAPH]
    deduplicated = [PARAGRAPH, OTHER]
    assert keep_repeats(lines, deduplicated, [PARAGRAPH, OTHER, PARAGRAPH]) == lines
    assert keep_repeats(lines, deduplicated, [PARAGRAPH, OTHER]) == deduplicated
    assert keep_repeats(lines, deduplicated, []) == deduplicated  # no second opinion: the rule


def test_a_paragraph_the_page_really_repeats_is_kept():
    html = article_html(f"<p>{PARAGRAPH}</p><p>{OTHER}</p><p>{PARAGRAPH}</p>")
    text = extract_article(page(html), ExtractSettings()).text
    assert text.count(PARAGRAPH) == 2 and OTHER in text


def test_a_hidden_second_copy_of_the_body_is_dropped():
    copy_html = f"<p>{PARAGRAPH}</p><p>{OTHER}</p>"
    html = article_html(f"<div>{copy_html}</div><div style='display:none'>{copy_html}</div>")
    text = extract_article(page(html), ExtractSettings()).text
    assert text.count(PARAGRAPH) == 1 and text.count(OTHER) == 1
