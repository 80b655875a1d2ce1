import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES
from transforms.extract import ExtractArticles, decode_html, extract_article, split_authors
from transforms.records import Article, FeedEntry, FetchedPage, FilteredItem
from transforms.settings import ExtractSettings

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
    assert art.published_at == "2024-03-04T00:00:00Z" and art.date_source == "page"
    assert "Local" in art.categories
    assert art.word_count > 200 and art.quality_flags == []
    assert art.fetched_at == "2024-03-04T10:00:00Z"
    assert art.duplicate_of is None and art.language == "und"


def test_feed_timestamp_wins_over_a_day_only_page_date():
    html = (FIXTURES / "article_en.html").read_bytes()
    art = extract_article(
        page(html, "https://news.example.org/b", "2024-03-04T07:30:00Z"), SETTINGS
    )
    assert art.published_at == "2024-03-04T07:30:00Z" and art.date_source == "feed"


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


def test_page_without_text_is_filtered_with_a_reason():
    result = extract_article(
        page(
            b"<html><head><title>x</title></head><body><script>var a = 1;</script></body></html>",
            "https://x.example/",
        ),
        SETTINGS,
    )
    assert isinstance(result, FilteredItem)
    assert (result.stage, result.reason) == ("extract_articles", "no_text")


def test_declared_charset_is_used_and_bad_charsets_fall_back():
    latin = "<html><body><p>café olé</p></body></html>".encode("latin-1")
    assert decode_html(latin, "iso-8859-1") == "<html><body><p>café olé</p></body></html>"
    assert decode_html(latin, "no-such-charset") == latin
    assert decode_html(latin, "utf-8") == latin  # undecodable: let trafilatura sniff


def test_split_authors():
    assert split_authors("Maria Okafor; Tom Lindqvist; maria okafor") == [
        "Maria Okafor",
        "Tom Lindqvist",
    ]
    assert split_authors(None) == []


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
