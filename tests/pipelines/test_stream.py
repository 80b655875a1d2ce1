"""Streaming logic on the BundleBasedDirectRunner in streaming mode: TestStream, state, windows.

BundleBasedDirectRunner is named explicitly: Beam's DirectRunner may hand the job to Prism (and
download it) instead of running it in-process.
"""

import json
import time
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
import yaml
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from pipelines.stream import DedupAndWrite, build_stream_pipeline, job_from_args, parse_args
from tests.conftest import FIXTURES, LocalServer
from tests.dedup.test_dedup import article
from transforms.core.records import Article, DeadLetter, FeedEntry, FilteredItem
from transforms.core.settings import StreamSettings
from transforms.sinks.streaming import window_balance

WINDOW = 60.0
T0 = 1_750_000_020.0  # a window boundary (divisible by 60)


def streaming_options() -> PipelineOptions:
    """Streaming on the Python bundle-based direct runner, never Prism."""
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return options


def text_article(article_id: str, body: str, url: Optional[str] = None) -> Article:
    """An article whose content hash is the body's (so text copies match)."""
    return article(article_id, url=url, text=body, content_hash=f"h-{body}")


def at(item: Any, seconds: float) -> TimestampedValue:
    """``item`` stamped ``seconds`` after T0."""
    return TimestampedValue(item, T0 + seconds)


def read_windows(base: Path) -> dict[str, list[dict[str, Any]]]:
    """Rows of every Parquet file under ``base``, by file name (window and pane)."""
    return {path.name: pq.read_table(path).to_pylist() for path in sorted(base.glob("*/*.parquet"))}


def test_window_balance_counts_entries_once() -> None:
    """Entries = written + filtered + dead letters after reading; feed-level rows don't count."""
    counts = {
        "entry": 4,
        "article:unique": 1,
        "duplicate:url": 1,
        "filtered:stream_seen:already_fetched": 1,
        "dead:fetch_pages:http_404": 1,
        "filtered:read_feeds:no_link": 3,
        "dead:read_feeds:timeout": 1,
    }
    assert window_balance(counts)["balanced"]
    assert not window_balance({**counts, "entry": 5})["balanced"]


def test_stream_dedup_windows_lateness_and_ttl(tmp_path: Path) -> None:
    """TestStream: copies across windows, TTL expiry, late data within and beyond lateness."""
    settings = StreamSettings(
        window_s=WINDOW, allowed_lateness_s=30, dedup_ttl_s=150, seen_ttl_s=150
    )
    body = "the same long body"
    original = text_article("a", body)
    other = text_article("b", "unrelated")
    text_copy = text_article("c", body, url="https://b.example/c")
    url_copy = text_article("d", "edited", url="https://a.example/a?utm_source=feed")
    late_ok = text_article("e", "late but allowed")
    too_late = text_article("f", "too late")
    after_ttl = text_article("g", body, url="https://c.example/g")
    refetched = text_article("b", "unrelated")
    stream = (
        BeamTestStream()
        .advance_watermark_to(T0)
        .add_elements([at(original, 10)])  # window 0: [0, 60)
        .advance_watermark_to(T0 + 60)
        .add_elements([at(other, 70)])  # window 1: [60, 120)
        .advance_watermark_to(T0 + 120)
        # Window 2: copies of the window-0 article, two windows later (TTL 150 s not reached).
        .add_elements([at(text_copy, 130), at(url_copy, 135)])
        # Late for window 1 (closed at 120) but within its 30 s of allowed lateness.
        .add_elements([at(late_ok, 100)])
        .advance_watermark_to(T0 + 180)
        # Late for window 0 beyond its lateness (90): dropped by the runner, written nowhere.
        .add_elements([at(too_late, 50)])
        # The same article id as window 1's "b" (remembered until its window's end + 150 = 270).
        .add_elements([at(refetched, 200)])
        .advance_watermark_to(T0 + 240)
        .advance_watermark_to(T0 + 300)
        # State lives until its window's end + TTL: "a" until 210, its copies "c" and "d" until
        # 330. This copy's window ends at 360: nothing is remembered, it is not labelled.
        .add_elements([at(after_ttl, 310)])
        .advance_watermark_to_infinity()
    )
    with BeamTestPipeline(options=streaming_options()) as p:
        articles = p | "Articles" >> stream
        no_filtered = p | "NoFiltered" >> beam.Create([]).with_output_types(FilteredItem)
        no_dead = p | "NoDead" >> beam.Create([]).with_output_types(DeadLetter)
        no_entries = p | "NoEntries" >> beam.Create([]).with_output_types(FeedEntry)
        (articles, no_filtered, no_dead, no_entries) | DedupAndWrite(str(tmp_path), settings)

    files = read_windows(tmp_path / "articles")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0))
    w1 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + 60))
    w2 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + 120))
    w3 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + 180))
    w5 = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + 300))

    def rows(name: str) -> dict[str, tuple[Optional[str], Optional[str]]]:
        return {r["article_id"]: (r["duplicate_of"], r["dup_method"]) for r in files[name]}

    assert sorted(files) == sorted(
        [
            f"part-{stamp}-p000.parquet",
            f"part-{w1}-p000.parquet",
            f"part-{w1}-p001.parquet",  # the late pane of window 1
            f"part-{w2}-p000.parquet",
            f"part-{w5}-p000.parquet",
        ]
    )
    assert rows(f"part-{stamp}-p000.parquet") == {"a": (None, None)}
    assert rows(f"part-{w1}-p000.parquet") == {"b": (None, None)}
    assert rows(f"part-{w1}-p001.parquet") == {"e": (None, None)}
    assert rows(f"part-{w2}-p000.parquet") == {"c": ("a", "exact_text"), "d": ("a", "url")}
    assert rows(f"part-{w5}-p000.parquet") == {"g": (None, None)}
    filtered = read_windows(tmp_path / "filtered")
    assert [(r["reason"], r["url"]) for r in filtered[f"part-{w3}-p000.parquet"]] == [
        ("already_written", "https://a.example/b")
    ]
    # Each file is valid Parquet for DuckDB too; "f" (too late) is nowhere and "a" once.
    glob = str(tmp_path / "articles" / "*" / "*.parquet")
    ids = duckdb.sql(f"SELECT article_id, count(*) FROM '{glob}' GROUP BY 1 ORDER BY 1").fetchall()
    assert ids == [(i, 1) for i in "abcdeg"]
    summaries = {
        path.name: json.loads(path.read_text())
        for path in sorted((tmp_path / "windows").glob("*.json"))
    }
    assert summaries[f"{w2}-p000.json"]["counts"] == {
        "duplicate:exact_text": 1,
        "duplicate:url": 1,
        "story:single": 1,
    }
    # Each late element fires its own pane: the late article and its story row, in any order.
    late = [summaries[f"{w1}-p00{n}.json"]["counts"] for n in (1, 2)]
    assert sorted(late, key=str) == [{"article:unique": 1}, {"story:single": 1}]
    # The copies' window writes their story's row: the original and both copies, a's story id.
    stories = read_windows(tmp_path / "stories")
    (row,) = stories[f"part-{w2}-p000.parquet"]
    assert (row["member_ids"], row["representative_id"]) == (["a", "c", "d"], "a")
    (first,) = stories[f"part-{stamp}-p000.parquet"]
    assert first["story_id"] == row["story_id"] and first["member_ids"] == ["a"]


def _feed(base: str, links: list[str]) -> bytes:
    """A small RSS feed listing ``links`` on the local server."""
    items = "".join(
        f"<item><title>Item {n}</title><link>{base}{link}</link>"
        f"<pubDate>Mon, 02 Jun 2025 10:0{n}:00 GMT</pubDate></item>"
        for n, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


def _page(fixture: str) -> bytes:
    """An article page with a story fixture's title and body (two fixtures: two stories)."""
    lines = (FIXTURES / "story" / fixture).read_text(encoding="utf-8").splitlines()
    paragraphs = "".join(f"<p>{line}</p>" for line in lines[1:])
    return (
        f'<!doctype html><html lang="id"><head><meta charset="utf-8"><title>{lines[0]}</title>'
        f"</head><body><article><h1>{lines[0]}</h1>{paragraphs}</article></body></html>"
    ).encode()


def test_stream_pipeline_polls_fetches_each_link_once(tmp_path: Path, server: LocalServer) -> None:
    """The whole graph: three polls of an unchanged feed fetch each article once, all counted."""
    html = {"Content-Type": "text/html; charset=utf-8"}
    server.routes["/robots.txt"] = (404, {}, b"")
    server.routes["/p/1"] = (200, html, _page("id-harga-beras-jakarta.txt"))
    server.routes["/p/2"] = (200, html, _page("en-putin-energy-week.txt"))
    server.routes["/p/copy"] = (200, html, _page("id-harga-beras-jakarta.txt"))  # as /p/1
    server.routes["/rss"] = (
        200,
        {"Content-Type": "application/rss+xml"},
        _feed(server.url(""), ["/p/1", "/p/2", "/p/copy", "/p/1"]),
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"fetch": {"allow_networks": ["127.0.0.0/8"], "min_delay_s": 0, "retries": 0}}
        )
    )
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(
        yaml.safe_dump(
            {
                "outlets": [
                    {"id": "o", "name": "O", "languages": ["id"], "feeds": [server.url("/rss")]}
                ]
            }
        )
    )
    # Polls are driven by TestStream (PeriodicImpulse does not run on this runner).
    now = float(int(time.time()) // 10 * 10)
    args, _ = parse_args(
        [
            "--outlets",
            str(outlets),
            "--output",
            str(tmp_path / "out"),
            "--config",
            str(config),
            "--interval_s",
            "10",
            "--window_s",
            "10",
            "--start",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)),
            "--duration_s",
            "25",
        ]
    )
    job = job_from_args(args)
    ticks = (
        BeamTestStream()
        .advance_watermark_to(now - 30)
        .add_elements([TimestampedValue(0, now - 30)])
        .advance_watermark_to(now - 20)
        .add_elements([TimestampedValue(1, now - 20)])
        .advance_watermark_to(now - 10)
        .add_elements([TimestampedValue(2, now - 10)])
        .advance_watermark_to_infinity()
    )
    with BeamTestPipeline(options=streaming_options()) as p:
        build_stream_pipeline(p, job, ticks=p | "Ticks" >> ticks)

    out = tmp_path / "out"
    assert [server.hits.count(f"/p/{n}") for n in ("1", "2", "copy")] == [1, 1, 1]
    assert server.hits.count("/rss") == 3
    glob = str(out / "articles" / "*" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT url, article_id, duplicate_of, dup_method FROM '{glob}' ORDER BY url"
    ).fetchall()
    by_path = {u.removeprefix(server.url("")): (i, d, m) for u, i, d, m in rows}
    assert sorted(by_path) == ["/p/1", "/p/2", "/p/copy"]
    assert by_path["/p/2"][1:] == (None, None)
    # /p/1 and /p/copy arrive in the same window: the earlier published (feed dates) is the
    # original, whatever order the state sees them in.
    assert by_path["/p/1"][1:] == (None, None)
    assert by_path["/p/copy"][1:] == (by_path["/p/1"][0], "exact_text")
    summaries = [json.loads(p.read_text()) for p in sorted((out / "windows").glob("*.json"))]
    assert len(summaries) == 3
    assert all(s["balance"]["balanced"] for s in summaries)
    assert [s["balance"]["entries"] for s in summaries] == [4, 4, 4]
    assert [s["balance"]["written"] for s in summaries] == [3, 0, 0]
    assert summaries[1]["counts"]["filtered:stream_seen:already_fetched"] == 3
