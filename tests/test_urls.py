import pytest

from transforms.urls import host_of, is_http_url, normalize_url, resolve_url, stable_id


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
