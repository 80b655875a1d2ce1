import gzip
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import write_recording
from transforms.core.settings import FetchSettings
from transforms.net.client import HttpClient, parse_retry_after
from transforms.net.guard import (
    AddressPolicy,
    BlockedAddressError,
    non_public_reason,
    policy_for,
    resolve_checked,
)
from transforms.net.live import UrllibTransport
from transforms.net.recording import ReplayTransport
from transforms.net.transport import FetchError

# The test server listens on 127.0.0.1, which the default policy refuses.
LOCAL = ("127.0.0.0/8",)
FAST = FetchSettings(
    allow_networks=LOCAL,
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
        client(FetchSettings(allow_networks=LOCAL, max_redirects=3)).get(server.url("/chain0"))
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
    settings = FetchSettings(allow_networks=LOCAL, retries=1, backoff_max_s=5, total_timeout_s=30)
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
    settings = FetchSettings(allow_networks=LOCAL, read_timeout_s=0.5, retries=0)
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
        client(FetchSettings(allow_networks=LOCAL, retries=0)).get(server.url("/truncated"))
    assert err.value.error_type == "truncated_body"


def test_connection_refused_and_bad_schemes():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as err:
        client(FetchSettings(allow_networks=LOCAL, retries=0)).get(f"http://127.0.0.1:{port}/")
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


# --- security: public addresses only (transforms/net/guard.py) ----------------------------------


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "not globally routable"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback, embedded in ::ffff:7f00:1"),
        ("::ffff:169.254.169.254", "link-local, embedded in ::ffff:a9fe:a9fe"),
        ("64:ff9b::a9fe:a9fe", "link-local, embedded in 64:ff9b::a9fe:a9fe"),
        ("2002:7f00:1::", "loopback, embedded in 2002:7f00:1::"),
        ("::127.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_named(address, reason):
    assert non_public_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address):
    assert non_public_reason(ipaddress.ip_address(address)) is None
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allow_list_admits_networks_and_their_mapped_forms():
    policy = policy_for(("127.0.0.0/8",))
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    with pytest.raises(BlockedAddressError, match=r"localhost resolves to .* \(loopback\)"):
        resolve_checked("localhost", 80, AddressPolicy())


def test_loopback_and_metadata_addresses_are_refused_by_default_before_connecting(server):
    server.routes["/"] = (200, HTML, b"<html>secret</html>")
    default = HttpClient(FetchSettings(retries=0), UrllibTransport())
    for url in (
        server.url("/"),
        f"http://localhost:{server.port}/",
        f"http://[::ffff:127.0.0.1]:{server.port}/",
        f"http://2130706433:{server.port}/",  # 127.0.0.1 written as one decimal number
        "http://169.254.169.254/latest/meta-data/",
    ):
        with pytest.raises(FetchError) as err:
            default.get(url)
        assert err.value.error_type == "blocked_address", url
    assert "169.254.169.254 (link-local)" in str(err.value)
    assert server.hits == []  # not one connection reached the server


def test_every_redirect_hop_is_checked(server):
    # Only the server's own address is allowed: each hop elsewhere must be refused on its own.
    only_server = FetchSettings(retries=0, allow_networks=("127.0.0.1/32",))
    targets = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/",
        "/to-loopback": f"http://127.0.0.2:{server.port}/",
        "/to-ipv6-loopback": f"http://[::1]:{server.port}/",
        "/to-private": "http://10.0.0.1/admin",
    }
    for path, target in targets.items():
        server.routes[path] = (302, {"Location": target}, b"")
        with pytest.raises(FetchError) as err:
            HttpClient(only_server, UrllibTransport()).get(server.url(path))
        assert err.value.error_type == "blocked_address", path
        assert urlsplit(target).hostname in str(err.value)
    assert sorted(server.hits) == sorted(targets)  # the first hop only, every time


def test_a_name_is_resolved_once_per_connection_and_the_checked_address_is_used(
    server, monkeypatch
):
    # A rebinding zone answers 127.0.0.1 (allowed here) first and a private address after: the
    # connection must use the first, checked answer and never ask again.
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            host = "127.0.0.1" if len(lookups) == 1 else "10.9.9.9"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    seen_host = []

    def page(handler):
        seen_host.append(handler.headers.get("Host"))
        return (200, HTML, b"<html>ok</html>")

    server.routes["/"] = page
    only_server = FetchSettings(retries=0, allow_networks=("127.0.0.1/32",))
    resp = HttpClient(only_server, UrllibTransport()).get(f"http://rebind.test:{server.port}/")
    assert resp.body == b"<html>ok</html>"
    assert lookups == ["rebind.test"]
    assert seen_host == [f"rebind.test:{server.port}"]  # the name still goes in the Host header


def test_a_dripping_server_is_cut_off_at_the_total_budget(server):
    # Every byte arrives well within the read timeout, so only the total budget can stop it.
    def drip(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(400):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        return None

    server.routes["/drip"] = drip
    settings = FetchSettings(
        allow_networks=LOCAL, read_timeout_s=5, total_timeout_s=1, retries=0, max_bytes=1_000_000
    )
    with pytest.raises(FetchError) as err:
        client(settings).get(server.url("/drip"))
    assert err.value.error_type == "timeout"
    assert "total time budget" in str(err.value)
