import pytest

from tests.conftest import ROOT
from transforms.feeds.outlets import (
    OutletsError,
    feed_sources,
    load_outlets,
    parse_opml,
    parse_outlets_yaml,
)

REQUIRED = {"republika", "antara", "kompas", "tempo", "detik", "cnnindonesia"}
INTERNATIONAL = {"tass", "kcnawatch", "reuters", "bbc", "aljazeera"}
# Issue 13: Malay-language outlets of Malaysia, next to the Indonesian ones.
MALAYSIAN = {"beritaharian", "utusan", "hmetro", "malaysiakini-ms", "bernama-ms"}


def test_bundled_registry_has_the_indonesian_and_international_outlets():
    outlets = {o.id: o for o in load_outlets(str(ROOT / "seeds" / "outlets.yaml"))}
    assert set(outlets) >= REQUIRED
    assert set(outlets) >= INTERNATIONAL
    assert outlets["republika"].languages == ("id",)
    assert outlets["republika"].country == "ID"
    assert all(o.feeds for o in outlets.values())


def test_bundled_registry_has_the_malaysian_outlets_in_malay():
    outlets = {o.id: o for o in load_outlets(str(ROOT / "seeds" / "outlets.yaml"))}
    assert set(outlets) >= MALAYSIAN
    for outlet_id in MALAYSIAN:
        outlet = outlets[outlet_id]
        assert (outlet.country, outlet.languages) == ("MY", ("ms",)), outlet_id
        assert outlet.homepage.startswith("https://") and outlet.feeds
        # Feeds are on the outlet's own site (one registered domain per outlet).
        site = outlet.homepage.split("/")[2].removeprefix("www.")
        assert all(site in feed for feed in outlet.feeds), outlet_id
        # What reaches the language stage: the expected language, as the outlet hint.
        assert [s.languages for s in outlet.feed_sources()] == [["ms"]] * len(outlet.feeds)
    indonesian = [o for o in outlets.values() if o.country == "ID" and o.languages == ("id",)]
    assert len(indonesian) >= len(REQUIRED)


def test_feed_sources_flatten_outlets():
    outlets = parse_outlets_yaml(
        "outlets:\n"
        "  - {id: a, name: A, languages: [en], feeds: [https://a.example/rss, https://a.example/atom]}\n"
        "  - {id: b, name: B, feeds: [https://b.example/rss]}\n"
    )
    sources = feed_sources(outlets)
    assert [(s.outlet_id, s.feed_url) for s in sources] == [
        ("a", "https://a.example/rss"),
        ("a", "https://a.example/atom"),
        ("b", "https://b.example/rss"),
    ]
    assert sources[0].languages == ["en"] and sources[2].languages == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("outlets: 3", "top-level 'outlets:' list"),
        ("outlets:\n  - {id: a, name: A}", "missing feeds"),
        ("outlets:\n  - {id: 'Bad Id', name: A, feeds: [https://x.example/]}", "must match"),
        ("outlets:\n  - {id: a, name: A, feeds: ['file:///etc/passwd']}", "not an http"),
        (
            "outlets:\n  - {id: a, name: A, feeds: [https://x.example/], languages: [english]}",
            "ISO 639",
        ),
        (
            "outlets:\n  - {id: a, name: A, feeds: [https://x.example/]}\n"
            "  - {id: a, name: B, feeds: [https://y.example/]}",
            "duplicate outlet id",
        ),
        ("outlets: [unclosed", "invalid YAML"),
    ],
)
def test_invalid_registry_is_a_clear_error(text, message):
    with pytest.raises(OutletsError, match=message):
        parse_outlets_yaml(text)


def test_opml_groups_feeds_by_site_and_keeps_language():
    outlets = {o.id: o for o in load_outlets(str(ROOT / "seeds" / "outlets.opml"))}
    antara = outlets["antaranews-com"]
    assert antara.feeds == (
        "https://www.antaranews.com/rss/terkini.xml",
        "https://www.antaranews.com/rss/dunia.xml",
    )
    assert antara.languages == ("id",)
    assert antara.homepage == "https://www.antaranews.com/"
    assert "tass-com" in outlets


def test_opml_never_resolves_external_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<opml version="2.0"><body><outline title="&x;" xmlUrl="https://a.example/rss"/></body></opml>'
    ).encode()
    # lxml refuses the reference outright; either way the file's content must never be read.
    with pytest.raises(OutletsError, match="external entity") as err:
        parse_opml(doc)
    assert "TOPSECRET" not in str(err.value)


@pytest.mark.parametrize(
    "doc, message",
    [
        (b"<opml><body><outline text='folder'/></body></opml>", "no feeds"),
        (b"<rss/>", "not <opml>"),
        (b"<opml><body>", "invalid OPML"),
        (b"<opml><body><outline xmlUrl='ftp://x/feed'/></body></opml>", "not an http"),
    ],
)
def test_invalid_opml_is_a_clear_error(doc, message):
    with pytest.raises(OutletsError, match=message):
        parse_opml(doc)
