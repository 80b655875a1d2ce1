import gzip
import socket
import time

import pytest

from tests.conftest import write_recording
from transforms.http import (
    FetchError,
    HttpClient,
    ReplayTransport,
    UrllibTransport,
    parse_retry_after,
)
from transforms.settings import FetchSettings

FAST = FetchSettings(
    connect_timeout_s=2,
    read_timeout_s=1,
    total_timeout_s=10,
    retries=2,
    backoff_base_s=0.01,
    max_bytes=64 * 1024,
)
HTML = {"Content-Type": "text/html; charset=utf-8"}


def client(settings=FAST, sleeps=None):
    sleep = (lambda s: sleeps.append(s)) if sleeps is not None else None
    return HttpClient(settings, UrllibTransport(), sleep=sleep)


def test_plain_get_returns_body_headers_and_charset(server):
    server.routes["/a"] = (200, HTML, b"<html>hello</html>")
    resp = client().get(server.url("/a"))
    assert resp.status == 200
    assert resp.body == b"<html>hello</html>"
    assert resp.content_type == "text/html"
    assert resp.charset == "utf-8"
    assert resp.redirects == []


def test_redirects_are_followed_and_recorded(server):
    server.routes["/r1"] = (301, {"Location": "/r2"}, b"")
    server.routes["/r2"] = (302, {"Location": server.url("/final")}, b"")
    server.routes["/final"] = (200, HTML, b"<html>done</html>")
    resp = client().get(server.url("/r1"))
    assert resp.url == server.url("/final")
    assert resp.redirects == [server.url("/r2"), server.url("/final")]


def test_redirect_loop_and_limit(server):
    server.routes["/loop1"] = (302, {"Location": "/loop2"}, b"")
    server.routes["/loop2"] = (302, {"Location": "/loop1"}, b"")
    with pytest.raises(FetchError) as err:
        client().get(server.url("/loop1"))
    assert err.value.error_type == "redirect_loop"
    for i in range(10):
        server.routes[f"/chain{i}"] = (302, {"Location": f"/chain{i + 1}"}, b"")
    with pytest.raises(FetchError) as err:
        client(FetchSettings(max_redirects=3)).get(server.url("/chain0"))
    assert err.value.error_type == "too_many_redirects"


def test_redirect_to_other_scheme_is_refused(server):
    server.routes["/to-file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    with pytest.raises(FetchError) as err:
        client().get(server.url("/to-file"))
    assert err.value.error_type == "bad_redirect"


def test_404_is_not_retried(server):
    with pytest.raises(FetchError) as err:
        client().get(server.url("/missing"))
    assert err.value.error_type == "http_404"
    assert server.hits == ["/missing"]


def test_503_is_retried_with_backoff_then_succeeds(server):
    calls = []

    def flaky(_handler):
        calls.append(1)
        if len(calls) < 3:
            return (503, {"Content-Type": "text/plain"}, b"busy")
        return (200, HTML, b"<html>ok</html>")

    server.routes["/flaky"] = flaky
    sleeps: list = []
    resp = client(sleeps=sleeps).get(server.url("/flaky"))
    assert resp.body == b"<html>ok</html>"
    assert len(calls) == 3
    assert len(sleeps) == 2 and sleeps[1] >= sleeps[0] * 0.5


def test_429_retry_after_is_honoured(server):
    calls = []

    def limited(_handler):
        calls.append(1)
        if len(calls) == 1:
            return (429, {"Retry-After": "3"}, b"slow down")
        return (200, HTML, b"<html>ok</html>")

    server.routes["/limited"] = limited
    sleeps: list = []
    settings = FetchSettings(retries=1, backoff_max_s=5, total_timeout_s=30)
    client(settings, sleeps).get(server.url("/limited"))
    assert sleeps == [3.0]


def test_retries_exhausted_raise_the_last_error(server):
    server.routes["/down"] = (500, {}, b"err")
    with pytest.raises(FetchError) as err:
        client(sleeps=[]).get(server.url("/down"))
    assert err.value.error_type == "http_500"
    assert len(server.hits) == FAST.retries + 1


def test_declared_and_streamed_oversize_bodies_are_refused(server):
    server.routes["/big"] = (200, HTML, b"x" * (FAST.max_bytes + 1))

    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"y" * 8192
        for _ in range(20):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")
        return None

    server.routes["/stream"] = chunked
    for path in ("/big", "/stream"):
        with pytest.raises(FetchError) as err:
            client().get(server.url(path))
        assert err.value.error_type == "too_large", path


def test_gzip_bomb_is_stopped_by_the_decoded_size_cap(server):
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    server.routes["/bomb"] = (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb)
    with pytest.raises(FetchError) as err:
        client().get(server.url("/bomb"))
    assert err.value.error_type == "too_large"


def test_slow_server_times_out(server):
    def slow(_handler):
        time.sleep(2.5)
        return (200, HTML, b"late")

    server.routes["/slow"] = slow
    settings = FetchSettings(read_timeout_s=0.5, retries=0)
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        client(settings).get(server.url("/slow"))
    assert err.value.error_type == "timeout"
    assert time.monotonic() - start < 2.5


def test_truncated_body_is_an_error(server):
    def truncated(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"<html>only part")
        handler.wfile.flush()
        handler.close_connection = True
        return None

    server.routes["/truncated"] = truncated
    with pytest.raises(FetchError) as err:
        client(FetchSettings(retries=0)).get(server.url("/truncated"))
    assert err.value.error_type == "truncated_body"


def test_connection_refused_and_bad_schemes():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as err:
        client(FetchSettings(retries=0)).get(f"http://127.0.0.1:{port}/")
    assert err.value.error_type == "connection_error"
    for url in ("file:///etc/passwd", "ftp://a.example/x", "gopher://a.example", "notaurl"):
        with pytest.raises(FetchError) as err:
            client().get(url)
        assert err.value.error_type == "unsupported_url"


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_replay_serves_recorded_responses_through_the_same_client(tmp_path):
    rec = write_recording(
        tmp_path / "rec",
        [
            {
                "url": "https://a.example/old",
                "status": 301,
                "headers": {"Location": "https://a.example/new"},
                "body": None,
            },
            {
                "url": "https://a.example/new",
                "headers": HTML,
                "body": b"<html>new</html>",
                "recorded_at": "2023-09-14T10:00:00Z",
            },
            {"url": "https://a.example/gone", "status": 404, "body": b"gone"},
        ],
    )
    replay = HttpClient(FAST, ReplayTransport(str(rec)))
    resp = replay.get("https://a.example/old?utm_source=feed")
    assert resp.url == "https://a.example/new"
    assert resp.body == b"<html>new</html>"
    assert resp.fetched_at == "2023-09-14T10:00:00Z"
    with pytest.raises(FetchError) as err:
        replay.get("https://a.example/gone")
    assert err.value.error_type == "http_404"
    with pytest.raises(FetchError) as err:
        replay.get("https://a.example/never-recorded")
    assert err.value.error_type == "not_recorded"


def test_replay_applies_the_size_cap(tmp_path):
    rec = write_recording(tmp_path / "rec", [{"url": "https://a.example/big", "body": b"z" * 5000}])
    with pytest.raises(FetchError) as err:
        HttpClient(FetchSettings(max_bytes=2048), ReplayTransport(str(rec))).get(
            "https://a.example/big"
        )
    assert err.value.error_type == "too_large"


def test_invalid_recording_index_is_a_clear_error(tmp_path):
    (tmp_path / "index.jsonl").write_text('{"url": "https://a.example/"}\n')
    with pytest.raises(ValueError, match=r"index\.jsonl:1"):
        ReplayTransport(str(tmp_path))


def test_extra_headers_are_sent_on_every_hop_and_replace_defaults(server):
    seen = []

    def record(handler):
        seen.append(
            (
                handler.path,
                handler.headers.get("If-None-Match"),
                handler.headers.get_all("Accept"),
                handler.headers.get("User-Agent"),
            )
        )
        if handler.path == "/moved":
            return (301, {"Location": "/feed"}, b"")
        return (200, HTML, b"<rss/>")

    server.routes["/moved"] = record
    server.routes["/feed"] = record
    client().get(
        server.url("/moved"),
        accept="text/html",
        extra_headers={"If-None-Match": '"v1"', "accept": "application/rss+xml"},
    )
    assert [s[0] for s in seen] == ["/moved", "/feed"]
    for _path, etag, accept, agent in seen:
        assert etag == '"v1"'
        assert accept == ["application/rss+xml"]  # replaced, not sent twice
        assert agent == FAST.user_agent


def test_304_not_modified_is_a_response_not_an_error(server):
    def conditional(handler):
        if handler.headers.get("If-Modified-Since"):
            return (304, {"ETag": '"v1"'}, b"")
        return (200, HTML, b"<rss/>")

    server.routes["/feed"] = conditional
    fresh = client().get(server.url("/feed"))
    assert fresh.status == 200
    same = client().get(
        server.url("/feed"), extra_headers={"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    assert same.status == 304 and same.body == b"" and same.headers["etag"] == '"v1"'
    assert server.hits == ["/feed", "/feed"]  # a 304 is final: no retry
