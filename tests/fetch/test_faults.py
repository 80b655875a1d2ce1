"""Hostile input for real: a fault-injecting HTTP server on 127.0.0.x and the whole ingest job.

Every fault must end as a dead letter or a filtered item with the right reason, the job must finish
and ``run.json`` must balance. The server runs on 127.0.0.2 and only 127.0.0.2/32 is allowed, so a
redirect to 127.0.0.1, localhost or 169.254.169.254 meets the default address rules.
"""

import gzip
import socket
import struct
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from pipelines.ingest import run
from tests.conftest import FIXTURES

FRENCH = (
    "Le président français a annoncé mardi une réforme écologique très attendue. Selon le "
    "ministère, les régions côtières recevront des aides supplémentaires dès l'été prochain, "
    "et les élus locaux ont salué une décision qu'ils réclamaient depuis des années. "
)
RUSSIAN = (
    "Правительство объявило во вторник о новой программе поддержки малого бизнеса. По словам "  # noqa: RUF001
    "министра, средства получат предприятия в регионах, пострадавших от наводнений, а местные "  # noqa: RUF001
    "власти приветствовали решение, которого они добивались несколько лет. "
)
HUGE = 50 * 1024 * 1024


def article(title: str, text: str, head: str = "") -> str:
    paragraphs = "".join(f"<p>{text}</p>" for _ in range(4))
    return (
        f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body><article>"
        f"<h1>{title}</h1>{paragraphs}</article></body></html>"
    )


class FaultServer:
    """A threaded HTTP server whose paths each misbehave in one way (``self.faults``)."""

    def __init__(self, host: str) -> None:
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.sent: dict[str, int] = defaultdict(int)
        self.routes: dict = {}
        faults = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                faults.hits[self.path].append(time.monotonic())
                route = faults.routes.get(self.path)
                if route is None:
                    self.reply(404, {"Content-Type": "text/plain"}, b"not found")
                else:
                    route(self)

            def reply(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients hanging up on a fault are the point

        self.httpd = Server((host, 0), Handler)
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> "FaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def static(status, headers, body):
    return lambda h: h.reply(status, headers, body)


def slow(h):
    time.sleep(1.5)  # longer than read_timeout_s
    h.reply(200, {"Content-Type": "text/html"}, b"<html>late</html>")


def flaky_factory():
    calls = []

    def flaky(h):
        calls.append(1)
        if len(calls) == 1:
            h.reply(500, {}, b"oops")
        else:
            h.reply(200, {"Content-Type": "text/html"}, article("Recovered", FRENCH).encode())

    return flaky


def rate_limited_factory():
    calls = []

    def rate_limited(h):
        calls.append(1)
        if len(calls) == 1:
            h.reply(429, {"Retry-After": "1"}, b"slow down")
        else:
            h.reply(200, {"Content-Type": "text/html"}, article("Patience", FRENCH).encode())

    return rate_limited


def reset_mid_body(h):
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"<html><body>" + b"a" * 5000)
    h.wfile.flush()
    # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def truncated(h):
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"<html><body>only a part")
    h.wfile.flush()
    h.close_connection = True


def streamer(server: FaultServer, path: str, chunked: bool):
    """50 MB of body, counting what actually left the server."""

    def stream(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(HUGE))
        h.end_headers()
        chunk = b"<p>" + b"z" * (64 * 1024 - 7) + b"</p>"
        try:
            while server.sent[path] < HUGE:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                server.sent[path] += len(chunk)
            if chunked:
                h.wfile.write(b"0\r\n\r\n")
        except OSError:
            h.close_connection = True

    return stream


def drip(h):
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "10000")
    h.end_headers()
    try:
        for _ in range(10000):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)  # each byte well inside read_timeout_s
    except OSError:
        h.close_connection = True


def fault_routes(srv: FaultServer) -> dict[str, str]:
    """Install the faults; return path -> expected outcome (error type or filtered reason)."""
    good = (FIXTURES / "article_en.html").read_bytes()
    html = {"Content-Type": "text/html; charset=utf-8"}
    bomb = gzip.compress(b"\0" * HUGE)
    srv.routes.update(
        {
            "/robots.txt": static(
                200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
            ),
            "/ok": static(200, html, good),
            "/slow": slow,
            "/error500": static(500, {}, b"internal error"),
            "/flaky500": flaky_factory(),
            "/rate-limited": rate_limited_factory(),
            "/reset": reset_mid_body,
            "/truncated": truncated,
            "/loop-a": static(302, {"Location": "/loop-b"}, b""),
            "/loop-b": static(302, {"Location": "/loop-a"}, b""),
            "/huge": streamer(srv, "/huge", chunked=False),
            "/huge-chunked": streamer(srv, "/huge-chunked", chunked=True),
            "/bomb": static(200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb),
            "/drip": drip,
            "/latin1-declared": static(
                200,
                {"Content-Type": "text/html; charset=iso-8859-1"},
                article("Réforme écologique", FRENCH).encode("utf-8"),
            ),
            "/utf8-declared": static(
                200,
                {"Content-Type": "text/html; charset=utf-8"},
                article("Поддержка бизнеса", RUSSIAN).encode("cp1251"),
            ),
            "/report.pdf": static(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\n" * 100),
            "/data.json": static(200, {"Content-Type": "application/json"}, b'{"a": 1}'),
            "/private/secret": static(200, html, good),
            "/to-localhost": static(302, {"Location": f"http://127.0.0.1:{srv.port}/ok"}, b""),
            "/to-localhost-name": static(302, {"Location": f"http://localhost:{srv.port}/ok"}, b""),
            "/to-metadata": static(
                302, {"Location": "http://169.254.169.254/latest/meta-data/iam/"}, b""
            ),
            "/to-file": static(302, {"Location": "file:///etc/passwd"}, b""),
        }
    )
    return {
        "/ok": "article",
        "/slow": "timeout",
        "/error500": "http_500",
        "/flaky500": "article",
        "/rate-limited": "article",
        "/reset": "truncated_body",
        "/truncated": "truncated_body",
        "/loop-a": "redirect_loop",
        "/huge": "too_large",
        "/huge-chunked": "too_large",
        "/bomb": "too_large",
        "/drip": "timeout",
        "/latin1-declared": "article",
        "/utf8-declared": "article",
        "/report.pdf": "not_html",
        "/data.json": "not_html",
        "/private/secret": "robots_disallowed",
        "/to-localhost": "blocked_address",
        "/to-localhost-name": "blocked_address",
        "/to-metadata": "blocked_address",
        "/to-file": "bad_redirect",
    }


def feed(srv: FaultServer, paths) -> bytes:
    items = "".join(
        f"<item><title>{p}</title><link>{srv.url(p)}</link></item>" for p in sorted(paths)
    )
    channel = f"<channel><title>F</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def run_job(tmp_path, feeds: dict[str, str], config: str, run_id: str):
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(
        "outlets:\n"
        + "".join(
            f"  - {{id: {oid}, name: {oid}, languages: [en], feeds: ['{url}']}}\n"
            for oid, url in feeds.items()
        )
    )
    (tmp_path / "config.yaml").write_text(config)
    out = tmp_path / "out"
    summary = run(
        [
            "--outlets",
            str(outlets),
            "--output",
            str(out),
            "--config",
            str(tmp_path / "config.yaml"),
            "--run_id",
            run_id,
            "--runner",
            "FnApiRunner",
        ]
    )
    return out, summary


def outcomes_by_path(out, srv: FaultServer) -> dict[str, tuple[str, str]]:
    """path -> (outcome, detail) from the three output tables."""
    con = duckdb.connect()
    prefix = srv.url("")
    found: dict[str, tuple[str, str]] = {}
    rows = con.execute(
        f"SELECT url, error_type, error_message FROM read_parquet('{out}/dead_letters/*.parquet') "
        "WHERE stage <> 'read_feeds'"
    ).fetchall()
    rows += con.execute(
        f"SELECT url, reason, detail FROM read_parquet('{out}/filtered/*.parquet')"
    ).fetchall()
    rows += con.execute(
        f"SELECT source_url, 'article', text FROM read_parquet('{out}/articles/**/*.parquet')"
    ).fetchall()
    for url, outcome, detail in rows:
        assert url not in found, f"{url} ended twice"
        found[url.removeprefix(prefix)] = (outcome, detail)
    return found


FAULT_CONFIG = """
fetch:
  allow_networks: ["127.0.0.2/32"]
  retries: 1
  backoff_base_s: 0.05
  backoff_max_s: 0.2
  read_timeout_s: 0.5
  total_timeout_s: 2
  max_bytes: 2000000
  min_delay_s: 0
  per_host_concurrency: 4
  # Faults share one host: keep it from being backed off here (tested on its own below).
  host_failure_limit: 100
"""


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("faults")
    with FaultServer("127.0.0.2") as srv:
        expected = fault_routes(srv)
        srv.routes["/rss"] = static(
            200, {"Content-Type": "application/rss+xml"}, feed(srv, expected)
        )
        srv.routes["/feed-500"] = static(500, {}, b"")
        srv.routes["/feed-html"] = static(200, {"Content-Type": "text/html"}, b"<html>no</html>")
        out, summary = run_job(
            tmp_path,
            {
                "faults": srv.url("/rss"),
                "down": srv.url("/feed-500"),
                "html": srv.url("/feed-html"),
            },
            FAULT_CONFIG,
            "faults",
        )
        yield srv, expected, out, summary


def test_every_fault_ends_with_its_reason_and_the_run_balances(fault_run):
    srv, expected, out, summary = fault_run
    assert summary["balance"]["balanced"] is True
    assert summary["entries_in"] == len(expected)
    found = outcomes_by_path(out, srv)
    assert {path: outcome for path, (outcome, _) in found.items()} == expected
    assert summary["dead_letters"]["by_stage"]["read_feeds"] == {
        "http_500": 1,
        "malformed_feed": 1,
    }
    assert not any(
        t.startswith("unexpected") for s in summary["dead_letters"]["by_stage"].values() for t in s
    )


def test_refusals_name_the_address_and_never_connect(fault_run):
    srv, _, out, _ = fault_run
    found = outcomes_by_path(out, srv)
    assert "127.0.0.1 (loopback)" in found["/to-localhost"][1]
    assert "localhost resolves to" in found["/to-localhost-name"][1]
    assert "169.254.169.254 (link-local)" in found["/to-metadata"][1]
    # the redirects were followed only as far as the check: /ok was asked for exactly once
    assert len(srv.hits["/ok"]) == 1


def test_big_bodies_are_refused_without_reading_them(fault_run):
    srv, _, out, _ = fault_run
    found = outcomes_by_path(out, srv)
    assert "Content-Length 52428800 exceeds" in found["/huge"][1]
    assert "body exceeds 2000000 bytes" in found["/huge-chunked"][1]
    # the client hung up early: far less than 50 MB left the server (socket buffers aside)
    assert srv.sent["/huge-chunked"] < HUGE // 4
    assert srv.sent["/huge"] < HUGE // 4
    assert "body exceeds" in found["/bomb"][1]  # counted after decompression


def test_retries_backoff_and_retry_after(fault_run):
    srv, _, out, _ = fault_run
    assert len(srv.hits["/flaky500"]) == 2
    assert len(srv.hits["/error500"]) == 2  # retries: 1
    first, second = srv.hits["/rate-limited"]
    assert second - first >= 1.0  # Retry-After: 1 honoured
    found = outcomes_by_path(out, srv)
    assert "after 2 attempts" in found["/error500"][1]
    assert "total time budget" in found["/drip"][1]
    assert srv.hits["/robots.txt"] and len(srv.hits["/robots.txt"]) == 1
    assert "/private/secret" not in srv.hits


def test_wrong_declared_charsets_do_not_produce_mojibake(fault_run):
    srv, _, out, _ = fault_run
    found = outcomes_by_path(out, srv)
    french = found["/latin1-declared"][1]
    russian = found["/utf8-declared"][1]
    assert "président français" in french and "Ã" not in french
    assert "Правительство объявило" in russian


# One request at a time and no retries: exactly four attempts reach the host before it is
# skipped (tests/fetch/test_politeness.py covers backoff with retries pending).
BACKOFF_CONFIG = """
fetch:
  allow_networks: ["127.0.0.2/32"]
  retries: 0
  min_delay_s: 0
  per_host_concurrency: 1
  host_failure_limit: 4
"""


def test_a_host_that_keeps_failing_is_backed_off_and_shows_in_run_json(tmp_path):
    with FaultServer("127.0.0.2") as srv, FaultServer("127.0.0.2") as down:
        pages = [f"/story-{i}" for i in range(10)]
        for path in pages:
            down.routes[path] = static(503, {}, b"maintenance")
        items = "".join(f"<item><title>{p}</title><link>{down.url(p)}</link></item>" for p in pages)
        srv.routes["/rss"] = static(
            200,
            {"Content-Type": "application/rss+xml"},
            f'<rss version="2.0"><channel><title>D</title>{items}</channel></rss>'.encode(),
        )
        out, summary = run_job(tmp_path, {"down": srv.url("/rss")}, BACKOFF_CONFIG, "backoff")
        page_hits = sum(len(down.hits[p]) for p in pages)
    assert summary["balance"]["balanced"] is True
    assert summary["hosts_backed_off"] == {"count": 1, "hosts": [f"127.0.0.2:{down.port}"]}
    dead = summary["dead_letters"]["by_stage"]["fetch_pages"]
    assert page_hits == 4
    assert dead == {"http_503": 4, "host_backed_off": 6}
    assert json_run(out)["hosts_backed_off"]["count"] == 1


def json_run(out):
    import json

    return json.loads((out / "run.json").read_text())


def test_without_an_allow_list_nothing_local_is_fetched(tmp_path):
    with FaultServer("127.0.0.2") as srv:
        srv.routes["/rss"] = static(200, {"Content-Type": "application/rss+xml"}, b"<rss/>")
        _, summary = run_job(tmp_path, {"local": srv.url("/rss")}, "fetch: {retries: 0}\n", "d")
        assert srv.hits == {}
    assert summary["balance"]["balanced"] is True
    assert summary["dead_letters"]["by_stage"] == {"read_feeds": {"blocked_address": 1}}
