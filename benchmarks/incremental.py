"""Replay tempo-history feed snapshots as successive incremental runs against a local server.

    python benchmarks/incremental.py [--feeds free-cekfakta,free-investigasi] [--snapshots N]
        [--every_hours H] [--out DIR]

Every run polls the feeds of ``../shared/corpus/feeds/tempo-history`` as they were at the run's
time (the latest snapshot at or before it), served by an HTTP server on 127.0.0.1 that honours
If-None-Match / If-Modified-Since, with a small generated article page for every link. Runs happen
at every snapshot time (the union over the feeds) or every ``--every_hours``. The server counts
requests per path, so the output shows how often each article was fetched across all runs, how
many feed polls were answered 304, and whether every run's ``run.json`` balanced. Prints JSON.
"""

import argparse
import dataclasses
import datetime as dt
import email.utils
import hashlib
import html
import json
import re
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.ingest import run  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds" / "tempo-history"
_STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6})_")
_TEMPO_URL_RE = re.compile(rb"https?://((?:[a-z0-9-]+\.)*tempo\.co)/")


class FeedVersion(NamedTuple):
    """What the server answers for a feed path: body, validators and how honest it is."""

    body: bytes
    etag: str
    last_modified: str
    # honest: 304 when the validators match; rotate: a new ETag on every response and never 304;
    # ignore: never 304 (the same ETag whatever the body).
    mode: str = "honest"


class ConditionalServer:
    """A threaded HTTP server on 127.0.0.1: feeds with conditional GET, pages, counted requests."""

    def __init__(self) -> None:
        self.feeds: dict[str, FeedVersion] = {}
        self.pages: dict[str, bytes] = {}
        self.page_status: dict[str, int] = {}
        self.hits: Counter[str] = Counter()
        self.feed_statuses: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._rotation = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, headers, body = server.answer(self.path, dict(self.headers.items()))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one GET (counted per path)."""
        request = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.hits[path] += 1
            feed = self.feeds.get(path)
            if feed is not None:
                reply = self._feed_answer(feed, request)
                self.feed_statuses.append((path, reply[0]))
                return reply
        if path in self.pages:
            status = self.page_status.get(path, 200)
            body = self.pages[path] if status == 200 else b"unavailable"
            return status, {"Content-Type": "text/html; charset=utf-8"}, body
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _feed_answer(
        self, feed: FeedVersion, request: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Conditional GET as the feed's mode says."""
        etag = feed.etag
        if feed.mode == "rotate":
            self._rotation += 1
            etag = f'"{feed.etag.strip(chr(34))}-{self._rotation}"'
        headers = {"Content-Type": "application/rss+xml", "ETag": etag}
        headers["Last-Modified"] = feed.last_modified
        if feed.mode == "honest":
            inm = request.get("if-none-match")
            ims = request.get("if-modified-since")
            if (inm is not None and inm == etag) or (inm is None and ims == feed.last_modified):
                return 304, headers, b""
        return 200, headers, feed.body

    def __enter__(self) -> "ConditionalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def feed_version(body: bytes, modified: dt.datetime, mode: str = "honest") -> FeedVersion:
    """A feed version with a strong ETag from its bytes and Last-Modified from ``modified``."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return FeedVersion(body, etag, email.utils.format_datetime(modified, usegmt=True), mode)


def fetch_config(**fetch: Any) -> dict[str, Any]:
    """A ``fetch:`` section for a local server: loopback allowed (refused by default), no pacing."""
    return {"allow_networks": ["127.0.0.0/8"], "min_delay_s": 0, **fetch}


def write_config(path: Path, retention_days: int = 30) -> Path:
    """Write a test config: incremental on, no retries, short timeouts."""
    config = {
        "fetch": fetch_config(retries=0, read_timeout_s=10, total_timeout_s=30),
        "incremental": {"enabled": True, "retention_days": retention_days},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_outlets(path: Path, outlet_id: str, feed_urls: Sequence[str], language: str) -> Path:
    """Write an outlets registry with one outlet and the given feeds."""
    registry = {
        "outlets": [
            {"id": outlet_id, "name": outlet_id, "languages": [language], "feeds": list(feed_urls)}
        ]
    }
    path.write_text(yaml.safe_dump(registry), encoding="utf-8")
    return path


def run_once(
    outlets: Path, config: Path, output: Path, run_id: str, as_of: Optional[dt.date] = None
) -> dict[str, Any]:
    """One pipeline run on FnApiRunner; returns its run.json."""
    when = ["--as_of", as_of.isoformat()] if as_of else []
    return run(
        [
            "--outlets",
            str(outlets),
            "--config",
            str(config),
            "--output",
            str(output),
            "--run_id",
            run_id,
            "--runner",
            "FnApiRunner",
            *when,
        ]
    )


def article_page(title: str, description: str, number: int, language: str = "id") -> bytes:
    """A small article page (our own filler text around the feed's title and description)."""
    title, description = html.escape(title), html.escape(description)
    filler = (
        f"Laporan nomor {number} ini disusun oleh redaksi berdasarkan keterangan sejumlah sumber "
        "yang dihubungi secara terpisah. Setiap pernyataan dalam tulisan ini telah diperiksa "
        "kembali oleh tim pemeriksa fakta sebelum diterbitkan, dan pembaca dapat menghubungi "
        "redaksi bila menemukan kekeliruan. Informasi tambahan akan dimuat dalam pembaruan "
        "berikutnya setelah pihak terkait memberikan tanggapan resmi kepada wartawan kami."
    )
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{description}</p><p>{filler}</p></article></body></html>"
    ).encode()


# --- tempo-history ----------------------------------------------------------------------------


class Snapshot(NamedTuple):
    """One stored state of one feed."""

    feed: str
    taken_at: dt.datetime
    path: Path


def snapshots(corpus: Path, feed: str, limit: Optional[int] = None) -> list[Snapshot]:
    """The snapshots of ``feed`` in time order (the first ``limit``)."""
    found = []
    for path in sorted((corpus / feed).glob("*.xml")):
        match = _STAMP_RE.match(path.name)
        if match:
            taken = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H%M%S").replace(tzinfo=dt.UTC)
            found.append(Snapshot(feed, taken, path))
    found.sort(key=lambda s: s.taken_at)
    return found[:limit] if limit else found


def schedule(
    by_feed: Mapping[str, Sequence[Snapshot]], every: Optional[dt.timedelta] = None
) -> list[dict[str, Snapshot]]:
    """What each run sees: per feed, its latest snapshot at the run's time.

    Runs start once every feed has a snapshot and happen at every snapshot time, or every
    ``every`` until the last snapshot.
    """
    start = max(snaps[0].taken_at for snaps in by_feed.values())
    end = max(snaps[-1].taken_at for snaps in by_feed.values())
    if every is None:
        times = sorted({s.taken_at for snaps in by_feed.values() for s in snaps})
    else:
        times, moment = [], start
        while moment <= end:
            times.append(moment)
            moment += every
    runs = []
    for moment in times:
        if moment < start:
            continue
        runs.append(
            {
                feed: [s for s in snaps if s.taken_at <= moment][-1]
                for feed, snaps in by_feed.items()
            }
        )
    return runs


def localize(body: bytes, base: str) -> bytes:
    """Point the snapshot's tempo.co links at the local server (``<base>/<host>/<path>``)."""
    return _TEMPO_URL_RE.sub(lambda m: f"{base}/{m.group(1).decode()}/".encode(), body)


def items_of(body: bytes) -> list[tuple[str, ...]]:
    """(link, title, description, guid, pubDate) of each item of an RSS document."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    return [
        (
            (item.findtext("link") or "").strip(),
            (item.findtext("title") or "").strip(),
            (item.findtext("description") or "").strip(),
            (item.findtext("guid") or "").strip(),
            (item.findtext("pubDate") or "").strip(),
        )
        for item in root.iter("item")
    ]


def item_set(body: bytes) -> frozenset[tuple[str, ...]]:
    """The items of a feed document as a set (what 'the same items' means)."""
    return frozenset(items_of(body))


@dataclasses.dataclass
class ReplayResult:
    """What a replay measured."""

    runs: int
    feeds: list[str]
    snapshots_served: int
    distinct_links: int
    fetches_per_link: dict[int, int]
    feed_polls: int
    feed_304: int
    not_modified: int
    expected_not_modified: int
    expected_304: int
    feeds_failed: int
    expected_feeds_failed: int
    balanced_runs: int
    articles_written: int
    already_fetched: int
    summaries: list[dict[str, Any]]
    link_hits: dict[str, int]


def replay(
    feeds: Sequence[str],
    workdir: Path,
    *,
    corpus: Path = CORPUS,
    limit: Optional[int] = None,
    every: Optional[dt.timedelta] = None,
    retention_days: int = 365,
    progress: bool = False,
) -> ReplayResult:
    """Replay the snapshots of ``feeds`` as successive incremental runs into ``workdir/out``.

    Each run's ``--as_of`` is the day of its time, so the ledger and dedup windows move with the
    replayed calendar; ``retention_days`` is the ledger window (links listed longer than that are
    fetched again).
    """
    by_feed = {feed: snapshots(corpus, feed, limit) for feed in feeds}
    plan = schedule(by_feed, every)
    output = workdir / "out"
    config = write_config(workdir / "config.yaml", retention_days)
    summaries: list[dict[str, Any]] = []
    expected_nm = expected_304 = expected_failed = 0
    with ConditionalServer() as server:
        base = server.url("")
        paths = {feed: f"/feeds/{feed}.xml" for feed in feeds}
        outlets = write_outlets(
            workdir / "outlets.yaml", "tempo", [server.url(p) for p in paths.values()], "id"
        )
        served: dict[str, Snapshot] = {}
        served_items: dict[str, frozenset[tuple[str, ...]]] = {}
        links: set[str] = set()
        for number, view in enumerate(plan):
            for feed, snap in view.items():
                body = localize(snap.path.read_bytes(), base)
                items = item_set(body)
                if not body.strip():
                    # Some snapshots are empty files: the poll fails (empty_feed) and the
                    # pipeline keeps the state of the last poll that succeeded.
                    expected_failed += 1
                elif feed in served:
                    # What the pipeline should see as "nothing new", compared with its last
                    # successful poll: the same file (304), or other bytes with the same items
                    # (lastBuildDate moved on).
                    if served[feed] == snap:
                        expected_304 += 1
                        expected_nm += 1
                    elif served_items[feed] == items:
                        expected_nm += 1
                if body.strip():
                    served[feed], served_items[feed] = snap, items
                server.feeds[paths[feed]] = feed_version(body, snap.taken_at)
                for link, title, description, *_ in items:
                    path = link.removeprefix(base)
                    if path.startswith("/") and path not in server.pages:
                        server.pages[path] = article_page(title, description, len(server.pages))
                    links.add(path)
            moment = max(snap.taken_at for snap in view.values())
            summary = run_once(outlets, config, output, f"r{number:04d}", moment.date())
            summaries.append(summary)
            if progress:
                print(
                    f"run {number + 1}/{len(plan)} ({moment:%Y-%m-%d %H:%M}): "
                    f"in {summary['entries_in']}, "
                    f"written {summary['articles']['written']}, "
                    f"not modified {summary['feeds'].get('not_modified')}",
                    file=sys.stderr,
                )
        link_hits = {path: server.hits[path] for path in links}
        feed_polls = len(server.feed_statuses)
        feed_304 = sum(1 for _, status in server.feed_statuses if status == 304)
    return ReplayResult(
        runs=len(plan),
        feeds=list(feeds),
        snapshots_served=len({snap for view in plan for snap in view.values()}),
        distinct_links=len(link_hits),
        fetches_per_link=dict(sorted(Counter(link_hits.values()).items())),
        feed_polls=feed_polls,
        feed_304=feed_304,
        not_modified=sum(s["feeds"].get("not_modified", 0) for s in summaries),
        expected_not_modified=expected_nm,
        expected_304=expected_304,
        feeds_failed=sum(s["feeds"]["failed"] for s in summaries),
        expected_feeds_failed=expected_failed,
        balanced_runs=sum(1 for s in summaries if s["balance"]["balanced"]),
        articles_written=sum(s["articles"]["written"] for s in summaries),
        already_fetched=sum(s["incremental"]["already_fetched"] for s in summaries),
        summaries=summaries,
        link_hits=link_hits,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: replay and print the measured numbers as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--feeds", default=None, help="comma-separated feed dirs (default: all)")
    parser.add_argument("--snapshots", type=int, default=None, help="first N snapshots per feed")
    parser.add_argument("--every_hours", type=float, default=None, help="poll every H hours")
    parser.add_argument("--retention_days", type=int, default=365, help="ledger window")
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    feeds = args.feeds.split(",") if args.feeds else sorted(p.name for p in corpus.iterdir())
    every = dt.timedelta(hours=args.every_hours) if args.every_hours else None
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(args.out or temp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = replay(
            feeds,
            workdir,
            corpus=corpus,
            limit=args.snapshots,
            every=every,
            retention_days=args.retention_days,
            progress=True,
        )
    report = dataclasses.asdict(result)
    del report["summaries"], report["link_hits"]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
