"""WARC: archive every response of a run, replay the run from its archive, CC-NEWS-style input."""

import gzip
import io

import pyarrow.dataset as ds
import pytest
import yaml
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.ingest import run
from tests.conftest import FIXTURES, LocalServer, write_recording
from transforms.core.settings import config_from_mapping
from transforms.net.client import HttpClient, TransportOptions, build_transport
from transforms.net.transport import FetchError
from transforms.net.warc import (
    WarcArchivingTransport,
    WarcReplayTransport,
    is_warc_source,
    warc_files,
)

PAGE_EN = (FIXTURES / "article_en.html").read_bytes()
PAGE_ID = (FIXTURES / "article_id.html").read_bytes()
NO_DATE = (
    b"<!doctype html><html lang='en'><head><title>Tide tables</title></head><body><article>"
    b"<h1>Tide tables for the week</h1><p>"
    + b"The harbour office publishes the tide tables for the coming week every Sunday. " * 8
    + b"</p></article></body></html>"
)


def fetch_section(**fetch):
    # Loopback is refused unless allowed; a local test server needs no pacing.
    return {"allow_networks": ["127.0.0.0/8"], "min_delay_s": 0, **fetch}


def settings(**fetch):
    return config_from_mapping({"fetch": fetch_section(**fetch)}).fetch


def records(path):
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            yield (
                record.rec_type,
                record.rec_headers.get_header("WARC-Target-URI"),
                record.rec_headers.get_header("WARC-Date"),
                record.http_headers.get_statuscode()
                if record.rec_type == "response" and record.http_headers
                else None,
                record.content_stream().read(),
            )


def test_is_warc_source_tells_recordings_from_warc(tmp_path):
    recording = write_recording(tmp_path / "rec", [{"url": "https://a.example/", "body": b"x"}])
    assert not is_warc_source(str(recording))
    archive = tmp_path / "warc"
    archive.mkdir()
    (archive / "r1-1.warc.gz").write_bytes(b"")
    assert is_warc_source(str(archive))
    assert is_warc_source(str(archive / "r1-1.warc.gz"))
    assert is_warc_source(str(tmp_path / "warc" / "*.warc.gz"))
    assert warc_files(str(archive)) == [str(archive / "r1-1.warc.gz")]


def test_archive_then_replay_gives_the_same_responses(server, tmp_path):
    """Every raw response (page, redirect hop, error, retried 503) is archived and replayed."""
    calls = {"n": 0}

    def flaky(_handler):
        calls["n"] += 1
        if calls["n"] == 1:
            return 503, {"Content-Type": "text/plain", "Retry-After": "0"}, b"busy"
        return 200, {"Content-Type": "text/html"}, b"<html>later</html>"

    server.routes.update(
        {
            "/page": (200, {"Content-Type": "text/html; charset=utf-8", "ETag": '"p1"'}, PAGE_EN),
            "/old": (301, {"Location": "/page"}, b""),
            "/flaky": flaky,
            "/gz": (
                200,
                {"Content-Type": "text/html", "Content-Encoding": "gzip"},
                gzip.compress(PAGE_ID),
            ),
        }
    )
    fetch = settings(retries=1, backoff_base_s=0)
    archive = tmp_path / "warc"
    transport = build_transport(
        TransportOptions(replay=None, archive_dir=str(archive), run_id="live")
    )
    assert isinstance(transport, WarcArchivingTransport)
    live = HttpClient(fetch, transport)
    got = {path: live.get(server.url(path)) for path in ("/old", "/flaky", "/gz")}
    with pytest.raises(FetchError, match="404"):
        live.get(server.url("/missing"))
    transport.close()
    (path,) = transport.paths
    assert path.startswith(str(archive / "live-")) and path.endswith(".warc.gz")
    found = list(records(path))
    kinds = [kind for kind, *_ in found]
    assert kinds[0] == "warcinfo"
    # request + response per exchange: /old, /page, /flaky twice, /gz, /missing
    assert kinds.count("response") == 6 and kinds.count("request") == 6
    statuses = sorted((uri.rsplit("/", 1)[1], code) for kind, uri, _, code, _ in found if code)
    assert statuses == [
        ("flaky", "200"),
        ("flaky", "503"),
        ("gz", "200"),
        ("missing", "404"),
        ("old", "301"),
        ("page", "200"),
    ]
    # the payload is stored decoded (the client had decoded the gzip body)
    (gz_body,) = [body for kind, uri, _, code, body in found if code and uri.endswith("/gz")]
    assert gz_body == PAGE_ID

    replay = HttpClient(fetch, WarcReplayTransport(str(archive)))
    for path, response in got.items():
        again = replay.get(server.url(path))
        assert again.body == response.body and again.status == response.status, path
        assert again.url == response.url and again.redirects == response.redirects, path
        assert again.fetched_at == response.fetched_at, path
        assert again.content_type == response.content_type, path
    with pytest.raises(FetchError, match="404"):
        replay.get(server.url("/missing"))
    with pytest.raises(FetchError) as missing:
        replay.get(server.url("/never-fetched"))
    assert missing.value.error_type == "not_recorded"


def _site(server):
    """A feed with an article, a redirect to an article, a PDF, a 404 and an empty page."""
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><title>Bridge</title><link>{server.url("/news/bridge")}</link></item>
<item><title>Jembatan</title><link>{server.url("/old/jembatan")}</link></item>
<item><title>Tides</title><link>{server.url("/news/tides")}</link></item>
<item><title>PDF</title><link>{server.url("/files/report.pdf")}</link></item>
<item><title>Gone</title><link>{server.url("/news/gone")}</link></item>
<item><title>Empty</title><link>{server.url("/news/empty")}</link></item>
</channel></rss>""".encode()
    server.routes.update(
        {
            "/rss": (200, {"Content-Type": "application/rss+xml"}, feed),
            "/news/bridge": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE_EN),
            "/old/jembatan": (302, {"Location": "/news/jembatan"}, b""),
            "/news/jembatan": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE_ID),
            "/news/tides": (200, {"Content-Type": "text/html"}, NO_DATE),
            "/files/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 1 0 obj"),
            "/news/empty": (200, {"Content-Type": "text/html"}, b""),
        }
    )


def _articles(out):
    table = ds.dataset(str(out / "articles"), format="parquet", partitioning="hive").to_table()
    return table.sort_by("article_id")


def test_a_run_replayed_from_its_warc_archive_has_identical_output(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"fetch": fetch_section(retries=0, read_timeout_s=5)}))
    live_out, replay_out = tmp_path / "live", tmp_path / "replay"
    with LocalServer() as server:
        _site(server)
        outlets = tmp_path / "outlets.yaml"
        outlets.write_text(
            f"outlets:\n  - {{id: local, name: Local, languages: [en], "
            f"feeds: ['{server.url('/rss')}']}}\n"
        )
        common = ["--outlets", str(outlets), "--config", str(config), "--runner", "FnApiRunner"]
        live = run([*common, "--output", str(live_out), "--run_id", "live", "--archive_warc"])
    # the server is gone: everything below comes from the archive
    archives = sorted((live_out / "warc").glob("live-*.warc.gz"))
    assert archives, "no WARC written"
    uris = {uri for path in archives for kind, uri, *_ in records(path) if kind == "response"}
    assert {u.split("/", 3)[3] for u in uris} == {
        "rss",
        "news/bridge",
        "old/jembatan",
        "news/jembatan",
        "news/tides",
        "files/report.pdf",
        "news/gone",
        "news/empty",
        # robots.txt goes through the same transport: archived, and obeyed again in replay
        "robots.txt",
    }
    replayed = run(
        [
            *common,
            "--output",
            str(replay_out),
            "--run_id",
            "live",
            "--replay",
            str(live_out / "warc"),
        ]
    )
    assert live["balance"]["balanced"] and replayed["balance"]["balanced"]
    assert live["articles"]["written"] == 3
    one, two = _articles(live_out), _articles(replay_out)
    assert one.num_rows == 3
    assert one.to_pylist() == two.to_pylist()
    for key in ("entries_in", "articles", "filtered", "dead_letters", "feeds", "stories"):
        if key in ("filtered", "dead_letters"):
            assert live[key]["by_stage"] == replayed[key]["by_stage"], key
        else:
            assert live[key] == replayed[key], key
    assert live["dead_letters"]["by_stage"] == {"fetch_pages": {"http_404": 1}}


def _http(status, content_type=None, extra=()):
    headers = [("Content-Type", content_type)] if content_type else []
    return StatusAndHeaders(f"{status} X", [*headers, *extra], protocol="HTTP/1.1")


def write_cc_news(path, date="2024-03-05T01:02:03Z"):
    """A CC-NEWS-like WARC: warcinfo, request/response pairs, metadata, and some non-articles."""
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))

        def response(uri, http, body):
            headers = {"WARC-Date": date}
            writer.write_record(
                writer.create_warc_record(
                    uri,
                    "request",
                    payload=io.BytesIO(b""),
                    http_headers=StatusAndHeaders(
                        "GET / HTTP/1.1", [("Host", "x")], is_http_request=True
                    ),
                    warc_headers_dict=headers,
                )
            )
            writer.write_record(
                writer.create_warc_record(
                    uri,
                    "response",
                    payload=io.BytesIO(body),
                    http_headers=http,
                    warc_headers_dict=headers,
                )
            )

        response("https://www.gazette.example/news/bridge", _http(200, "text/html"), PAGE_EN)
        # stored as sent: gzip Content-Encoding, decoded on reading
        response(
            "https://kabar.example.id/berita/jembatan",
            _http(200, "text/html; charset=utf-8", [("Content-Encoding", "gzip")]),
            gzip.compress(PAGE_ID),
        )
        response("https://www.gazette.example/tides", _http(200, "text/html"), NO_DATE)
        response("https://www.gazette.example/report.pdf", _http(200, "application/pdf"), b"%PDF")
        response("https://www.gazette.example/gone", _http(404, "text/html"), b"<html>404</html>")
        response(
            "https://www.gazette.example/old",
            _http(301, "text/html", [("Location", "https://www.gazette.example/news/bridge")]),
            b"",
        )
        writer.write_record(
            writer.create_warc_record(
                "https://www.gazette.example/news/bridge",
                "metadata",
                payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
                warc_content_type="application/warc-fields",
            )
        )
    return path


def test_cc_news_style_warc_input_without_feeds(tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_cc_news(crawl / "CC-NEWS-20240305010203-00001.warc.gz")
    # a damaged file: fails as a whole, like an unreadable feed
    (crawl / "CC-NEWS-20240305010203-00002.warc.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 4)
    out = tmp_path / "out"
    summary = run(
        [
            "--warc_input",
            str(crawl / "*.warc.gz"),
            "--output",
            str(out),
            "--run_id",
            "ccnews",
            "--runner",
            "FnApiRunner",
        ]
    )
    assert summary["balance"]["balanced"] is True
    # entries in = response records considered (request, metadata and warcinfo are not items)
    assert summary["entries_in"] == 6
    assert summary["warc_input"] == {"files": 2, "files_failed": 1, "records": 6}
    assert summary["articles"]["written"] == 3
    assert summary["filtered"]["by_stage"] == {
        "read_warc": {"not_html": 1, "http_status": 1, "redirect": 1}
    }
    assert summary["dead_letters"]["by_stage"] == {"read_warc_files": {"warc_unreadable": 1}}
    assert summary["dead_letters"]["entries"] == 0
    rows = {r["url"]: r for r in _articles(out).to_pylist()}
    assert set(rows) == {
        "https://www.gazette.example/news/bridge",
        "https://kabar.example.id/berita/jembatan",
        "https://www.gazette.example/tides",
    }
    bridge = rows["https://www.gazette.example/news/bridge"]
    assert bridge["outlet_id"] == "gazette.example"
    assert bridge["title"] == "Harbour bridge reopens after three years of repairs"
    assert bridge["language"] == "en" and bridge["date_source"] != "warc"
    assert bridge["fetched_at"].isoformat() == "2024-03-05T01:02:03+00:00"
    assert bridge["feed_url"].endswith("CC-NEWS-20240305010203-00001.warc.gz")
    jembatan = rows["https://kabar.example.id/berita/jembatan"]
    assert jembatan["outlet_id"] == "kabar.example.id" and jembatan["language"] == "id"
    # the page's own date wins; the crawl time stands in only for a page that states none
    assert jembatan["published_at"].isoformat() == "2024-03-04T02:00:00+00:00"
    tides = rows["https://www.gazette.example/tides"]
    assert tides["date_source"] == "warc"
    assert tides["published_at"].isoformat() == "2024-03-05T01:02:03+00:00"
