import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES, write_recording
from transforms.core.records import FeedEntry, FeedSource, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.feeds.collapse import CollapseEntries, collapse_same_link
from transforms.feeds.parse import FeedError, parse_feed
from transforms.feeds.read import ReadFeeds

SOURCE = FeedSource("gazette", "https://news.example.org/rss", "Coastal Gazette", "GB", ["en"])
FEED_URL = "https://news.example.org/rss"


def feed_bytes(name: str) -> bytes:
    return (FIXTURES / "feeds" / name).read_bytes()


def test_rss_entries_carry_feed_level_fields():
    parsed = parse_feed(SOURCE, feed_bytes("rss.xml"), "application/rss+xml", FEED_URL)
    first = parsed.entries[0]
    assert first.link == "https://news.example.org/2024/03/04/harbour-bridge-reopens?utm_source=rss"
    assert first.title == "Harbour bridge reopens after three years of repairs"
    assert first.summary == "The bridge reopened on Monday."  # markup and script removed
    assert first.published == "2024-03-04T07:30:00Z"  # +0100 converted to UTC
    assert first.guid == "cg-1001"
    assert first.authors == ["Maria Okafor"]
    assert first.categories == ["Local", "Transport"]
    assert first.image_url == "https://news.example.org/img/bridge.jpg"
    assert first.feed_title == "Coastal Gazette & Friends"
    assert first.feed_language == "en-gb"
    assert first.outlet_languages == ["en"]
    assert first.position == 0


def test_relative_links_resolve_and_unusable_links_are_rejected_with_reasons():
    parsed = parse_feed(SOURCE, feed_bytes("rss.xml"), "application/rss+xml", FEED_URL)
    assert parsed.entries[1].link == "https://news.example.org/2024/03/05/ferry-timetable"
    assert [r[1] for r in parsed.rejected] == ["no_link", "unsupported_link"]
    assert len(parsed.entries) == 2


def test_atom_entries_with_several_authors_and_enclosure_image():
    parsed = parse_feed(SOURCE, feed_bytes("atom.xml"), "application/atom+xml", FEED_URL)
    (entry,) = parsed.entries
    assert entry.authors == ["Siti Rahma", "Budi Santoso"]
    assert entry.image_url == "https://kabar.example.id/img/j.jpg"
    assert entry.feed_language == "id"
    assert entry.published == "2024-03-04T02:00:00Z"
    assert entry.categories == ["Daerah"]


def test_rss1_rdf_feed():
    parsed = parse_feed(SOURCE, feed_bytes("rdf.xml"), "application/rdf+xml", FEED_URL)
    assert [e.link for e in parsed.entries] == ["https://old.example.net/story/1"]
    assert parsed.entries[0].published == "2024-03-01T12:00:00Z"


@pytest.mark.parametrize(
    "body, error_type",
    [
        (b"", "empty_feed"),
        (b"<html><body><h1>Access denied</h1></body></html>", "malformed_feed"),
        (b"\x00\x01\x02 binary junk", "malformed_feed"),
    ],
)
def test_documents_that_are_not_feeds_raise_feed_errors(body, error_type):
    with pytest.raises(FeedError) as err:
        parse_feed(SOURCE, body, "text/html", FEED_URL)
    assert err.value.error_type == error_type


def test_empty_but_valid_feed_has_no_entries():
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed(SOURCE, body, "application/rss+xml", FEED_URL).entries == []


def test_broken_but_salvageable_feed_keeps_its_entries():
    body = feed_bytes("rss.xml").replace(b"</channel>", b"<unclosed></channel>")
    parsed = parse_feed(SOURCE, body, "application/rss+xml", FEED_URL)
    assert parsed.bozo is not None
    assert len(parsed.entries) == 2


def _entry(link: str, feed: str, position: int, categories=()) -> FeedEntry:
    return FeedEntry(
        "gazette",
        feed,
        None,
        None,
        [],
        None,
        link,
        "t",
        None,
        None,
        [],
        list(categories),
        None,
        position,
    )


def test_collapse_keeps_first_entry_and_merges_categories():
    a = _entry("https://a.example/1", "https://a.example/feed-b", 3, ["World"])
    b = _entry("https://a.example/1?utm_medium=x", "https://a.example/feed-a", 7, ["News"])
    out = list(collapse_same_link("https://a.example/1", [a, b]))
    kept, dropped = out
    assert kept.feed_url == "https://a.example/feed-a"
    assert kept.categories == ["News", "World"]
    assert isinstance(dropped, FilteredItem) and dropped.reason == "duplicate_entry"


def test_read_feeds_composite_main_filtered_and_dead_letters(tmp_path):
    rec = write_recording(
        tmp_path / "rec",
        [
            {
                "url": "https://news.example.org/rss",
                "headers": {"Content-Type": "application/rss+xml"},
                "body": feed_bytes("rss.xml"),
            },
            {
                "url": "https://kabar.example.id/atom",
                "headers": {"Content-Type": "application/atom+xml"},
                "body": feed_bytes("atom.xml"),
            },
            {
                "url": "https://broken.example/rss",
                "headers": {"Content-Type": "text/html"},
                "body": b"<html>Checking your browser</html>",
            },
            {"url": "https://gone.example/rss", "status": 410, "body": b"gone"},
        ],
    )
    sources = [
        SOURCE,
        FeedSource("kabar", "https://kabar.example.id/atom", "Kabar", "ID", ["id"]),
        FeedSource("broken", "https://broken.example/rss", "Broken", "", []),
        FeedSource("gone", "https://gone.example/rss", "Gone", "", []),
        FeedSource("missing", "https://missing.example/rss", "Missing", "", []),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(sources) | ReadFeeds(FetchSettings(), str(rec))
        assert_that(
            out.main | "Links" >> beam.Map(lambda e: (e.outlet_id, e.link)),
            equal_to(
                [
                    (
                        "gazette",
                        "https://news.example.org/2024/03/04/harbour-bridge-reopens?utm_source=rss",
                    ),
                    ("gazette", "https://news.example.org/2024/03/05/ferry-timetable"),
                    ("kabar", "https://kabar.example.id/berita/jembatan-dibuka"),
                ]
            ),
            label="Entries",
        )
        assert_that(
            out.filtered | "Reasons" >> beam.Map(lambda f: (f.stage, f.reason)),
            equal_to([("read_feeds", "no_link"), ("read_feeds", "unsupported_link")]),
            label="Filtered",
        )
        assert_that(
            out.dead_letters | "Errors" >> beam.Map(lambda d: (d.outlet_id, d.error_type)),
            equal_to(
                [("broken", "malformed_feed"), ("gone", "http_410"), ("missing", "not_recorded")]
            ),
            label="Dead",
        )


def test_collapse_entries_composite():
    entries = [
        _entry("https://a.example/1", "https://a.example/f1", 0),
        _entry("https://a.example/1#top", "https://a.example/f2", 0),
        _entry("https://a.example/2", "https://a.example/f2", 1),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        kept, dropped = p | beam.Create(entries) | CollapseEntries()
        assert_that(
            kept | "K" >> beam.Map(lambda e: (e.link, e.feed_url)),
            equal_to(
                [
                    ("https://a.example/1", "https://a.example/f1"),
                    ("https://a.example/2", "https://a.example/f2"),
                ]
            ),
            label="Kept",
        )
        assert_that(
            dropped | "D" >> beam.Map(lambda f: (f.url, f.reason)),
            equal_to([("https://a.example/1#top", "duplicate_entry")]),
            label="Dropped",
        )
