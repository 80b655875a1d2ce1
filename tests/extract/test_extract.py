import apache_beam as beam
import lxml.html
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES
from transforms.core.records import Article, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import ExtractSettings
from transforms.extract.article import ExtractArticles, decode_html, extract_article
from transforms.extract.body import (
    AnchorIndex,
    clean_text,
    drop_leading_headline,
    drop_repeated_lines,
    merge_split_bodies,
    strip_inert,
    trim_trailing_links,
)

SETTINGS = ExtractSettings()


def page(body: bytes, url: str, published=None, charset="utf-8", summary=None) -> FetchedPage:
    entry = FeedEntry(
        "gazette",
        "https://news.example.org/rss",
        "Gazette",
        "en",
        ["en"],
        "g1",
        url + "?utm_source=rss",
        "Feed title",
        summary,
        published,
        ["Feed Author"],
        ["Local"],
        "https://news.example.org/feed-image.jpg",
        0,
    )
    return FetchedPage(entry, url, 200, "text/html", charset, body, "2024-03-04T10:00:00Z", [])


def test_extracts_body_and_metadata_from_an_article_page():
    html = (FIXTURES / "article_en.html").read_bytes()
    art = extract_article(page(html, "https://news.example.org/amp/bridge"), SETTINGS)
    assert isinstance(art, Article)
    assert "The harbour bridge reopened to traffic on Monday morning" in art.text
    assert art.text.rstrip().endswith("return to their normal timetable next week.")
    assert "Most read" not in art.text and "All rights reserved" not in art.text
    assert art.title == "Harbour bridge reopens after three years of repairs"
    assert art.canonical_url == "https://news.example.org/2024/03/04/harbour-bridge-reopens"
    assert art.url == "https://news.example.org/amp/bridge"
    assert art.source_url == "https://news.example.org/amp/bridge?utm_source=rss"
    assert art.authors == ["Maria Okafor", "Tom Lindqvist"]
    assert art.image_url == "https://news.example.org/img/bridge.jpg"
    assert art.sitename == "Coastal Gazette"
    # JSON-LD states the time: it wins over trafilatura's day-only guess of the old pipeline.
    assert art.published_at == "2024-03-04T07:30:00Z" and art.date_source == "jsonld"
    assert art.published_local == "2024-03-04T07:30:00+00:00"
    assert art.title_source == "h1"
    assert "Local" in art.categories
    assert art.word_count > 200 and art.quality_flags == []
    assert art.fetched_at == "2024-03-04T10:00:00Z"
    assert art.duplicate_of is None and art.language == "und"


def test_feed_timestamp_fills_in_a_day_only_page_date():
    html = (
        b'<html><head><meta property="article:published_time" content="2024-03-04">'
        b"</head><body><article><p>" + b"A short paragraph of news text. " * 20 + b"</p>"
        b"</article></body></html>"
    )
    art = extract_article(
        page(html, "https://news.example.org/b", "2024-03-04T07:30:00Z"), SETTINGS
    )
    assert art.published_at == "2024-03-04T07:30:00Z" and art.date_source == "feed"


def test_jsonld_date_in_a_graph_wins_over_a_feed_date_that_disagrees():
    html = (FIXTURES / "article_graph.html").read_bytes()
    url = "https://daily.example.com/2024/02/29/cycle-lanes"
    art = extract_article(page(html, url, "2024-03-02T12:00:00Z"), SETTINGS)
    # The NewsArticle's datePublished, not the WebPage's, the "Updated" dateline or the feed.
    assert (art.published_at, art.date_source) == ("2024-02-29T07:15:00Z", "jsonld")
    assert art.published_local == "2024-02-29T09:15:00+02:00"
    assert (art.title, art.title_source) == (
        "Council approves new cycle lanes on the ring road",
        "h1",
    )
    assert art.authors == ["Ana Lima"]  # the organisation credit is not an author
    assert art.canonical_url == url
    assert art.image_url == "https://daily.example.com/img/lanes.jpg"
    assert art.sitename == "The Daily Example"
    assert art.categories == ["Transport", "Local"]
    assert art.tags == ["cycling", "transport", "council"]
    assert (
        art.description == "Work on the protected lanes starts in June and should take four months."
    )
    assert not art.text.startswith("Council approves")  # the headline is not body text
    assert "window.dataLayer" not in art.text and art.quality_flags == []


def test_paywalled_page_is_flagged_as_truncated():
    html = (FIXTURES / "article_paywalled.html").read_bytes()
    art = extract_article(page(html, "https://ledger.example.com/port"), SETTINGS)
    assert isinstance(art, Article)
    assert "double the size of the northern terminal" in art.text
    assert set(art.quality_flags) == {"paywalled", "possibly_truncated"}
    assert (art.published_local, art.date_source) == ("2024-02-10", "jsonld")


def test_text_far_shorter_than_the_declared_word_count_is_possibly_truncated():
    body = b"<p>" + b"Council budget talks continue into the night. " * 12 + b"</p>"
    html = (
        b'<html><head><script type="application/ld+json">{"@type": "NewsArticle",'
        b' "wordCount": 800}</script></head><body><article>' + body + b"</article></body></html>"
    )
    art = extract_article(page(html, "https://news.example.org/budget"), SETTINGS)
    assert art.quality_flags == ["possibly_truncated"]


def test_split_body_is_merged_and_related_links_are_trimmed():
    html = (FIXTURES / "article_split.html").read_bytes()
    art = extract_article(page(html, "https://coast.example.com/lighthouse"), SETTINGS)
    assert "one hundred and twelve steps" in art.text  # first part
    assert "guide visitors through the museum" in art.text  # part after the ad slot
    assert "Harbour festival" not in art.text and "Related" not in art.text
    assert (art.published_local, art.date_source) == ("2023-11-20T06:00:00-05:00", "meta")


def test_ids_and_hashes_are_stable_and_content_based():
    html = (FIXTURES / "article_en.html").read_bytes()
    a = extract_article(page(html, "https://news.example.org/a"), SETTINGS)
    b = extract_article(page(html, "https://news.example.org/a"), SETTINGS)
    c = extract_article(page(html, "https://news.example.org/other"), SETTINGS)
    assert a.article_id == b.article_id and a.content_hash == b.content_hash
    assert c.article_id != a.article_id  # reached by another link
    assert c.content_hash == a.content_hash  # same body


def test_short_article_is_flagged_not_dropped():
    html = (
        b"<html><body><article><p>"
        + b"Short news item with few words. " * 4
        + b"</p></article></body></html>"
    )
    art = extract_article(page(html, "https://news.example.org/short"), SETTINGS)
    assert isinstance(art, Article)
    assert art.quality_flags == ["too_short"]
    assert art.title == "Feed title"  # falls back to the feed's title
    assert art.authors == ["Feed Author"]
    assert art.image_url == "https://news.example.org/feed-image.jpg"


SCRIPT_ONLY = b"<html><head><title>x</title></head><body><script>var a = 1;</script></body></html>"


def test_page_without_text_or_summary_is_filtered_with_a_reason():
    result = extract_article(page(SCRIPT_ONLY, "https://x.example/"), SETTINGS)
    assert isinstance(result, FilteredItem)
    assert (result.stage, result.reason) == ("extract_articles", "no_text")


def test_page_without_text_keeps_the_feed_summary_as_body_and_says_so():
    summary = "The harbour bridge reopened on Monday after three years of repairs. " * 2
    art = extract_article(page(SCRIPT_ONLY, "https://x.example/", summary=summary), SETTINGS)
    assert isinstance(art, Article)
    assert art.text == summary.strip()
    assert art.quality_flags == ["too_short", "no_body_used_summary"]
    assert art.word_count == 22


def test_non_html_bytes_fall_back_to_the_summary_too():
    art = extract_article(
        page(b"\x00\x01", "https://x.example/", summary="Feed summary."), SETTINGS
    )
    assert isinstance(art, Article) and "no_body_used_summary" in art.quality_flags


def test_declared_charset_is_used_and_bad_charsets_fall_back():
    latin = "<html><body><p>café olé</p></body></html>".encode("latin-1")
    assert decode_html(latin, "iso-8859-1") == "<html><body><p>café olé</p></body></html>"
    assert decode_html(latin, "no-such-charset") == latin
    assert decode_html(latin, "utf-8") == latin  # undecodable: let trafilatura sniff


def test_extract_articles_composite_routes_articles_filtered_and_timeouts():
    html = (FIXTURES / "article_en.html").read_bytes()
    pages = [
        page(html, "https://news.example.org/a"),
        page(b"<html></html>", "https://x.example/e"),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(pages) | ExtractArticles(SETTINGS)
        assert_that(
            out.main | "T" >> beam.Map(lambda a: a.title),
            equal_to(["Harbour bridge reopens after three years of repairs"]),
            label="Main",
        )
        assert_that(
            out.filtered | "F" >> beam.Map(lambda f: f.reason),
            equal_to(["no_text"]),
            label="Filtered",
        )
        assert_that(out.dead_letters, equal_to([]), label="NoDead")
    # A page that takes longer than the limit becomes a dead letter, the job goes on.
    big = b"<html><body>" + b"<div><p>word " * 20000 + b"</body></html>"
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create([page(big, "https://x.example/slow")])
            | ExtractArticles(ExtractSettings(timeout_s=0.001))
        )
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.stage, d.error_type)),
            equal_to([("extract_articles", "timeout")]),
        )


def test_language_hints_from_page_feed_and_outlet():
    html = (FIXTURES / "article_id.html").read_bytes()
    art = extract_article(page(html, "https://kabar.example.id/berita/1"), SETTINGS)
    assert art.language_hints == ["html:id", "feed:en", "outlet:en"]


# --- output rules (pure) -------------------------------------------------------------------------


def anchors(html: str) -> AnchorIndex:
    return AnchorIndex(lxml.html.fromstring(html))


def test_leading_headline_lines_are_dropped_only_at_the_start():
    lines = ["Bridge reopens", "Bridge reopens", "Body text.", "Bridge reopens"]
    assert drop_leading_headline(lines, {"bridge reopens"}) == ["Body text.", "Bridge reopens"]


def test_trailing_link_lists_and_their_heading_are_trimmed():
    index = anchors(
        '<div><a href="/a">Harbour festival returns</a><a href="/b">Ferry timetable</a>'
        '<a href="/c">Read the full report here</a></div>'
    )
    body = ["First paragraph of the story, long enough to matter.", "Second paragraph."]
    lines = [*body, "Related", "- Harbour festival returns", "- Ferry timetable"]
    assert trim_trailing_links(lines, index) == body
    # A linked line inside the text stays; trimming stops at the first prose line.
    mixed = ["Read the full report here", *body]
    assert trim_trailing_links(mixed, index) == mixed


def test_trimming_never_removes_most_of_the_text():
    index = anchors(
        '<div><a href="/a">Link one headline</a><a href="/b">Link two headline</a></div>'
    )
    lines = ["Short intro.", "- Link one headline", "- Link two headline"]
    # Removing both links would take 76% of the characters: it stops after one.
    assert trim_trailing_links(lines, index) == lines[:2]
    assert trim_trailing_links(lines[:2], index) == lines[:2]


def test_repeated_lines_are_dropped_when_the_page_was_laid_out_twice():
    para = "A paragraph that a responsive layout printed twice on the same page."
    other = "Another paragraph of the story that the layout also printed twice."
    assert drop_repeated_lines([para, other, para, other]) == [para, other]
    # One repeated pull quote in a long text is left alone.
    long_text = [
        f"Paragraph {n} of a long article with plenty of distinct words." for n in range(20)
    ]
    assert drop_repeated_lines([*long_text, long_text[3]]) == [*long_text, long_text[3]]


def test_clean_text_collapses_whitespace_and_drops_empty_lines():
    text = "Headline\n\n  Body   text here.  \n\n"
    assert clean_text(text, {"headline"}, anchors("<div></div>")) == "Body text here."


def test_teaser_cards_with_a_body_class_are_not_merged():
    card = '<li><div class="post-content"><p>{}</p></div></li>'.format("Teaser text. " * 30)
    tree = lxml.html.fromstring(f"<html><body><ul>{card}{card}</ul></body></html>")
    assert merge_split_bodies(tree) == 0


def test_strip_inert_keeps_jsonld_and_text_after_scripts():
    tree = lxml.html.fromstring(
        '<html><head><script type="application/ld+json">{"a": 1}</script>'
        "<style>p {}</style></head><body><p>One <script>x()</script>two</p></body></html>"
    )
    strip_inert(tree)
    assert tree.xpath("//script/@type") == ["application/ld+json"]
    assert tree.xpath("string(//p)") == "One two" and not tree.xpath("//style")
