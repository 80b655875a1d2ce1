"""Every feed of the shared corpus through ReadFeeds (and the whole job): no crash, every failure
a dead letter with a reason, run.json balanced; rss-parser's expected output as a cross-check.

The feeds are served from a replay recording built on the fly (feedparser's test files declare
HTTP headers in a ``Header:`` comment line; those are recorded with the body). Nothing in the
files is ever evaluated: their ``Expect:`` lines are Python expressions and are not read.
"""

import collections
import html
import json
import re
from pathlib import Path
from urllib.parse import urljoin

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipelines.ingest import run
from tests.conftest import corpus_dir, write_recording
from transforms.core.records import FeedEntry, FeedSource, FilteredItem
from transforms.core.settings import FetchSettings
from transforms.feeds.read import ReadFeeds

pytestmark = pytest.mark.corpus

BASE = "https://corpus.example"
_HEADER_RE = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.M)
FEED_DEAD_TYPES = {"malformed_feed", "empty_feed"}


def corpus_feeds() -> list[tuple[str, Path]]:
    """(set, file) for every document of both sets."""
    feedparser_dir = corpus_dir("feeds", "feedparser-tests", "tests")
    rss_parser_dir = corpus_dir("feeds", "rss-parser-fixtures", "input")
    found = []
    for name, root in (("feedparser", feedparser_dir), ("rss-parser", rss_parser_dir)):
        found += [(name, p) for p in sorted(root.rglob("*")) if p.is_file()]
    return found


def feed_url(name: str, path: Path) -> str:
    root = corpus_dir("feeds", "feedparser-tests", "tests") if name == "feedparser" else None
    rel = path.relative_to(root).as_posix() if root else path.name
    return f"{BASE}/{name}/{rel}"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    feeds = corpus_feeds()
    responses, sources = [], []
    for name, path in feeds:
        body = path.read_bytes()
        headers = {}
        if name == "feedparser":
            headers = {
                k.decode("ascii"): v.decode("latin-1") for k, v in _HEADER_RE.findall(body[:4000])
            }
        url = feed_url(name, path)
        responses.append({"url": url, "headers": headers, "body": body})
        sources.append(FeedSource(name, url, name, "", []))
    rec = write_recording(tmp_path_factory.mktemp("corpus") / "recording", responses)
    return rec, sources


def _row(item) -> str:
    """One output of ReadFeeds as a JSON line: kind, feed, link/reason/type, title/detail."""
    if isinstance(item, FeedEntry):
        return json.dumps(["entry", item.feed_url, item.link, item.title])
    if isinstance(item, FilteredItem):
        feed = item.detail.rsplit(" of ", 1)[-1]
        return json.dumps(["filtered", feed, item.reason, item.detail])
    return json.dumps(["dead", item.url, item.error_type, item.error_message])


@pytest.fixture(scope="module")
def read_all(recording, tmp_path_factory):
    rec, sources = recording
    out = tmp_path_factory.mktemp("rows") / "rows"
    with BeamTestPipeline(runner="FnApiRunner") as p:
        feeds = p | beam.Create(sources) | ReadFeeds(FetchSettings(retries=0), str(rec))
        (
            (
                feeds.main | "Entries" >> beam.Map(_row),
                feeds.filtered | "Filtered" >> beam.Map(_row),
                feeds.dead_letters | "Dead" >> beam.Map(_row),
            )
            | beam.Flatten()
            | beam.io.WriteToText(str(out), shard_name_template="")
        )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return sources, rows


def test_every_feed_is_read_without_a_crash_and_every_failure_has_a_reason(read_all):
    sources, rows = read_all
    assert len(sources) >= 2136  # 2,106 feedparser documents (+1 JSON feed) and 30 rss-parser
    per_feed = collections.defaultdict(collections.Counter)
    for kind, feed, reason, detail in rows:
        per_feed[feed][kind] += 1
        if kind == "dead":
            assert reason in FEED_DEAD_TYPES, (feed, reason, detail)
            assert detail.strip()
        if kind == "filtered":
            assert reason in {"no_link", "unsupported_link"} and detail.strip()
    assert set(per_feed) <= {s.feed_url for s in sources}
    for feed, kinds in per_feed.items():
        # a failed feed is one dead letter and nothing else
        assert kinds["dead"] <= 1 and (not kinds["dead"] or len(kinds) == 1), (feed, kinds)
    counts = collections.Counter(
        (kind, reason if kind != "entry" else "") for kind, _, reason, _ in rows
    )
    print("ReadFeeds over the corpus:", dict(counts))
    dead = {feed for feed, kinds in per_feed.items() if kinds["dead"]}
    assert f"{BASE}/feedparser/illformed/rss_empty_document.xml" in dead
    assert f"{BASE}/rss-parser/unrecognized.rss" in dead
    assert counts[("entry", "")] >= 700


def _expected(path: Path) -> dict:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:  # one expected file is Latin-1
        return json.loads(raw.decode("latin-1"))


def _norm(text) -> str:
    """Text as both parsers should agree on: entities decoded (twice: rss-parser leaves some),
    markup dropped (our titles are plain text: ``650ft<sup>2</sup>`` is ``650ft2``), whitespace
    collapsed."""
    text = html.unescape(html.unescape(text or ""))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()


def _same_title(expected: str, ours: str) -> bool:
    """rss-parser writes U+FFFD where it could not decode Latin-1: any one non-ASCII character
    matches, or a space (a no-break space, collapsed like any whitespace)."""
    pattern = re.escape(expected).replace("\ufffd", "(?:[^\\x00-\\x7f]| )")
    return re.fullmatch(pattern, ours) is not None


def test_rss_parser_fixtures_agree_with_its_expected_output(read_all):
    _, rows = read_all
    outputs = corpus_dir("feeds", "rss-parser-fixtures", "output")
    compared = 0
    for expected_file in sorted(outputs.glob("*.json")):
        (source,) = corpus_dir("feeds", "rss-parser-fixtures", "input").glob(
            expected_file.stem + ".*"
        )
        url = f"{BASE}/rss-parser/{source.name}"
        items = _expected(expected_file)["feed"].get("items", [])
        entries = [
            (link, title) for kind, feed, link, title in rows if kind == "entry" and feed == url
        ]
        rejected = [r for r in rows if r[0] == "filtered" and r[1] == url]
        assert len(entries) + len(rejected) == len(items), source.name
        # links: relative ones resolved against the feed, as we do
        want_links = sorted(urljoin(url, i["link"].strip()) for i in items if i.get("link"))
        assert sorted(link for link, _ in entries) == want_links, source.name
        want_titles = sorted(_norm(i["title"]) for i in items if i.get("title"))
        got_titles = sorted(_norm(t) for _, t in entries if t)
        assert len(got_titles) == len(want_titles), source.name
        for want, got in zip(want_titles, got_titles, strict=True):
            assert _same_title(want, got), (source.name, want, got)
        compared += 1
    assert compared == 28


def test_the_whole_job_over_the_corpus_balances(recording, tmp_path):
    rec, sources = recording
    outlets = tmp_path / "outlets.yaml"
    lines = ["outlets:"]
    by_set = collections.defaultdict(list)
    for source in sources:
        by_set[source.outlet_id].append(source.feed_url)
    for outlet, urls in by_set.items():
        lines.append(f"  - id: {outlet}\n    name: {outlet}\n    feeds:")
        lines += [f"      - {json.dumps(u)}" for u in urls]
    outlets.write_text("\n".join(lines) + "\n")
    summary = run(
        [
            "--outlets",
            str(outlets),
            "--replay",
            str(rec),
            "--output",
            str(tmp_path / "out"),
            "--run_id",
            "corpus",
            "--runner",
            "FnApiRunner",
        ]
    )
    assert summary["balance"]["balanced"] is True
    assert summary["feeds"]["configured"] == len(sources)
    dead = summary["dead_letters"]["by_stage"]
    assert not any(t.startswith("unexpected") for s in dead.values() for t in s), dead
    # pages are not in the recording: each entry that reached FetchPages says so
    print("whole job over the corpus:", json.dumps(summary["dead_letters"]), summary["filtered"])
    assert set(dead.get("fetch_pages", {})) <= {"not_recorded", "unsupported_url"}
