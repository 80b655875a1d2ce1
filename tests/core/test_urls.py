import base64

import pytest

from transforms.core.urls import (
    host_of,
    is_http_url,
    normalize_url,
    resolve_url,
    stable_id,
    unwrap_redirector,
    url_key,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "HTTPS://WWW.Example.com:443/a/b?utm_source=x&id=3#top",
            "https://www.example.com/a/b?id=3",
        ),
        ("http://example.com:80/path/?fbclid=abc", "http://example.com/path/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (
            "https://www.npr.org/templates/story/story.php?storyId=57",
            "https://www.npr.org/templates/story/story.php?storyId=57",
        ),
        ("https://a.example/news/1#comments", "https://a.example/news/1"),
    ],
)
def test_normalize_url_drops_tracking_default_ports_and_fragments(raw, expected):
    assert normalize_url(raw) == expected


def test_is_http_url_accepts_only_absolute_http():
    assert is_http_url("https://a.example/x")
    assert not is_http_url("file:///etc/passwd")
    assert not is_http_url("javascript:alert(1)")
    assert not is_http_url("/relative/path")
    assert not is_http_url("")
    assert not is_http_url("http://[::1")  # malformed IPv6 literal


def test_resolve_url_handles_relative_links_and_refuses_other_schemes():
    assert resolve_url("https://a.example/feed/rss", "../news/1") == "https://a.example/news/1"
    assert resolve_url("https://a.example/feed", "mailto:x@a.example") is None
    assert resolve_url("https://a.example/feed", None) is None


def test_host_of_and_stable_id():
    assert host_of("https://News.Example.org:8443/x") == "news.example.org"
    assert host_of("not a url") == ""
    assert stable_id("a", "b") == stable_id("a", "b")
    assert stable_id("a", "b") != stable_id("ab", "")
    assert len(stable_id("x")) == 32


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.example.com/news/2024/story-1?utm_source=rss&utm_medium=feed",
        "http://example.com/news/2024/story-1/",
        "https://m.example.com/news/2024/story-1",
        "https://amp.example.com/news/2024/story-1",
        "https://www.example.com/amp/news/2024/story-1",
        "https://www.example.com/news/2024/story-1/amp",
        "https://www.example.com/news/2024/story-1.amp",
        "https://www.example.com/news/2024/story-1?amp=1",
        "https://www.example.com/news/2024/story-1?outputType=amp",
        "https://www.example.com/news/2024/story-1#comments",
        "https://www.google.com/url?q=https://www.example.com/news/2024/story-1&sa=D",
        "https://news.google.com/url?url=https://example.com/news/2024/story-1",
    ],
)
def test_url_key_equates_editions_wrappers_and_tracking(variant):
    assert url_key(variant) == "example.com/news/2024/story-1"


def test_url_key_keeps_what_identifies_an_article():
    assert url_key("https://a.example/story.php?id=1") != url_key(
        "https://a.example/story.php?id=2"
    )
    assert url_key("https://a.example/amplifier-review") == "a.example/amplifier-review"
    assert url_key("https://a.example/news.amp.html") == "a.example/news.html"
    assert url_key("https://m.example/x") == "m.example/x"  # a two-label host keeps its name
    assert url_key("https://a.example:8080/x") == "a.example:8080/x"


def test_google_news_links_are_unwrapped_when_the_url_is_inside():
    token = (
        base64.urlsafe_b64encode(b"\x08\x13\x22\x21https://www.example.com/story/1234\xd2\x01\x00")
        .decode()
        .rstrip("=")
    )
    link = f"https://news.google.com/rss/articles/{token}?oc=5"
    assert unwrap_redirector(link) == "https://www.example.com/story/1234"
    assert url_key(link) == "example.com/story/1234"
    # the newer opaque ids cannot be resolved offline: the link stays as it is
    opaque = "https://news.google.com/rss/articles/AU_yqLP2x0QmZ4?oc=5"
    assert unwrap_redirector(opaque) == opaque
