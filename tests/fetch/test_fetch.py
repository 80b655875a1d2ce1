import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES
from transforms.core.records import DeadLetter, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.extract.article import decode_html
from transforms.fetch.pages import FetchPages, fetch_page, page_from_response
from transforms.net.charset import codec_for, declared_in_markup, resolve_charset
from transforms.net.client import HttpClient
from transforms.net.content import looks_like_html
from transforms.net.live import UrllibTransport
from transforms.net.transport import HttpResponse

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


# --- charset: header, BOM, <meta>, detection (transforms/net/charset.py) ---------------

FRENCH = "Le président français a annoncé une réforme très appréciée à Genève. " * 4
RUSSIAN = "Президент России заявил о новых мерах поддержки экономики страны. " * 4  # noqa: RUF001


def html(text: str, head: str = "") -> str:
    return f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"


@pytest.mark.parametrize(
    "body, declared, expected",
    [
        # a UTF-8 page declared with the common server default: UTF-8 wins, no mojibake
        (html(FRENCH).encode("utf-8"), "iso-8859-1", ("utf-8", "utf8")),
        (html(RUSSIAN).encode("utf-8"), "windows-1251", ("utf-8", "utf8")),
        # a legacy page declared as UTF-8: the header cannot decode it, <meta> then detection can
        (
            html(
                RUSSIAN, '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
            ).encode("koi8-r"),
            "utf-8",
            ("koi8-r", "meta"),
        ),
        (html(FRENCH).encode("cp1252"), "utf-8", ("cp1252", "detected")),
        (html(RUSSIAN).encode("cp1251"), None, ("cp1251", "detected")),
        # declarations that hold are used, legacy labels as the superset browsers use
        (html(FRENCH).encode("cp1252"), "ISO-8859-1", ("cp1252", "header")),
        (html("中文新闻报道今天的内容").encode("gb18030"), "gb2312", ("gb18030", "header")),
        (html(FRENCH, '<meta charset="windows-1252">').encode("cp1252"), None, ("cp1252", "meta")),
        # a BOM beats everything; UTF-16 needs its BOM (or NUL bytes) to be believed
        (b"\xef\xbb\xbf" + html(FRENCH).encode("utf-8"), "iso-8859-1", ("utf-8-sig", "bom")),
        (html(FRENCH).encode("utf-16"), None, ("utf-16", "bom")),
        (html("plain").encode("ascii"), "utf-16", ("utf-8", "utf8")),
        # one stray byte does not make a UTF-8 page something else
        (html(FRENCH).encode("utf-8") + b"\xe9</p>", "utf-8", ("utf-8", "header")),
        (html("").encode(), "no-such-charset", ("utf-8", "utf8")),
    ],
)
def test_charset_resolution(body, declared, expected):
    assert tuple(resolve_charset(body, declared)) == expected
    if expected[1] != "header" or expected[0] != "utf-8":
        body.decode(expected[0])  # whatever is chosen decodes the whole body


def test_markup_declarations_are_found():
    assert declared_in_markup(b'<?xml version="1.0" encoding="ISO-8859-2"?><html>') == "ISO-8859-2"
    assert declared_in_markup(b"<!-- <meta charset=koi8-r> --><meta charset='utf-8'>") == "utf-8"
    assert declared_in_markup(b"<html><head><title>none</title>") is None
    assert codec_for("x-sjis") == "cp932" and codec_for("latin1") == "cp1252"
    assert codec_for("bogus") is None


def test_wrong_declared_charset_does_not_reach_extraction_as_mojibake():
    body = html(FRENCH).encode("utf-8")
    response = HttpResponse(
        url="https://news.example.org/a",
        status=200,
        headers={"content-type": "text/html; charset=iso-8859-1"},
        body=body,
        fetched_at="2024-01-01T00:00:00Z",
        redirects=[],
    )
    page = page_from_response(entry("https://news.example.org/a"), response)
    assert isinstance(page, FetchedPage) and page.charset == "utf-8"
    text = decode_html(page.body, page.charset)  # what ExtractArticles parses
    assert "président français" in text and "Ã©" not in text
