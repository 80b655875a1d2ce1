import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES
from transforms.fetch import FetchPages, fetch_page, looks_like_html
from transforms.http import HttpClient, UrllibTransport
from transforms.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.settings import FetchSettings

# The test server is on 127.0.0.1 (refused by default); no pacing, to keep the tests quick.
SETTINGS = FetchSettings(
    retries=0, read_timeout_s=2, allow_networks=("127.0.0.0/8",), min_delay_s=0
)


def entry(url: str) -> FeedEntry:
    return FeedEntry(
        "gazette",
        "https://news.example.org/rss",
        None,
        None,
        ["en"],
        None,
        url,
        "title",
        None,
        None,
        [],
        [],
        None,
        0,
    )


def routes(server):
    page = (FIXTURES / "article_en.html").read_bytes()
    server.routes.update(
        {
            "/article": (200, {"Content-Type": "text/html; charset=utf-8"}, page),
            "/xhtml": (200, {"Content-Type": "application/xhtml+xml"}, page),
            "/no-type": (200, {}, page),
            "/pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7 ..."),
            "/json": (200, {"Content-Type": "application/json"}, b'{"a": 1}'),
            "/empty": (200, {"Content-Type": "text/html"}, b""),
            "/blank": (200, {"Content-Type": "text/html"}, b"  \n "),
            "/moved": (301, {"Location": "/article"}, b""),
        }
    )


def test_fetch_page_outcomes(server):
    routes(server)
    client = HttpClient(SETTINGS, UrllibTransport())
    page = fetch_page(client, entry(server.url("/moved")))
    assert isinstance(page, FetchedPage)
    assert page.url == server.url("/article")
    assert page.redirects == [server.url("/article")]
    assert page.charset == "utf-8" and page.content_type == "text/html"
    assert isinstance(fetch_page(client, entry(server.url("/xhtml"))), FetchedPage)
    assert isinstance(fetch_page(client, entry(server.url("/no-type"))), FetchedPage)
    for path, reason in (
        ("/pdf", "not_html"),
        ("/json", "not_html"),
        ("/empty", "empty_body"),
        ("/blank", "empty_body"),
    ):
        result = fetch_page(client, entry(server.url(path)))
        assert isinstance(result, FilteredItem) and result.reason == reason, path
        assert result.stage == "fetch_pages"
    dead = fetch_page(client, entry(server.url("/nope")))
    assert isinstance(dead, DeadLetter) and dead.error_type == "http_404"
    assert dead.url == server.url("/nope") and dead.outlet_id == "gazette"


def test_html_sniffing():
    assert looks_like_html(b"\xef\xbb\xbf<!DOCTYPE html><html>")
    assert looks_like_html(b"  <html lang='en'>")
    assert not looks_like_html(b"%PDF-1.4")
    assert not looks_like_html(b'{"json": true}')


def test_fetch_pages_composite_against_a_live_local_server(server):
    routes(server)
    entries = [entry(server.url(p)) for p in ("/article", "/pdf", "/empty", "/nope")]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(entries) | FetchPages(SETTINGS)
        assert_that(
            out.main | "U" >> beam.Map(lambda pg: (pg.url, len(pg.body) > 1000)),
            equal_to([(server.url("/article"), True)]),
            label="Pages",
        )
        assert_that(
            out.filtered | "F" >> beam.Map(lambda f: f.reason),
            equal_to(["not_html", "empty_body"]),
            label="Filtered",
        )
        assert_that(
            out.dead_letters | "D" >> beam.Map(lambda d: d.error_type),
            equal_to(["http_404"]),
            label="Dead",
        )
