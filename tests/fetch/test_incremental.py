"""Incremental polling: conditional GET for feeds, the seen-URL ledger, successive real runs."""

import datetime as dt
import importlib.util
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES, ROOT, corpus_dir
from tests.core.test_schemas import (
    test_schema_fields_match_record_fields_in_order_type_and_nullability as check_schema,
)
from transforms.core.records import (
    DeadLetter,
    FeedEntry,
    FeedSource,
    FeedState,
    FetchedPage,
    FilteredItem,
    LedgerEntry,
)
from transforms.core.settings import config_from_mapping
from transforms.dedup.history import history_files
from transforms.feeds.read import poll_feed
from transforms.feeds.state import conditional_headers, items_digest, next_state
from transforms.fetch.ledger import ledger_entry, skip_fetched
from transforms.net.client import HttpClient
from transforms.net.live import UrllibTransport


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_incremental", ROOT / "benchmarks" / "incremental.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_incremental"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
FEEDS = FIXTURES / "incremental"
SOURCE = FeedSource("gazette", "http://127.0.0.1/a.xml", "Gazette", "", ["en"])


def entry(link, title="t", position=0):
    return FeedEntry(
        outlet_id="gazette",
        feed_url=SOURCE.feed_url,
        feed_title=None,
        feed_language=None,
        outlet_languages=[],
        guid=link,
        link=link,
        title=title,
        summary=None,
        published=None,
        authors=[],
        categories=[],
        image_url=None,
        position=position,
    )


def state(**fields):
    base = FeedState(
        feed_url=SOURCE.feed_url,
        outlet_id="gazette",
        etag='"v1"',
        last_modified="Mon, 04 Mar 2024 12:00:00 GMT",
        body_sha256="b" * 64,
        items_sha256="i" * 64,
        entry_count=3,
        status=200,
        changed=True,
        checked_at="2024-03-04T12:00:00Z",
        changed_at="2024-03-04T12:00:00Z",
        run_id="r1",
    )
    return base._replace(**fields)


@pytest.mark.parametrize("record", [FeedState, LedgerEntry])
def test_state_and_ledger_schemas_match_their_records(record):
    check_schema(record)


def test_conditional_headers_echo_the_stored_validators():
    assert conditional_headers(None) == {}
    assert conditional_headers(state()) == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Mon, 04 Mar 2024 12:00:00 GMT",
    }
    assert conditional_headers(state(etag=None)) == {
        "If-Modified-Since": "Mon, 04 Mar 2024 12:00:00 GMT"
    }


def test_items_digest_ignores_order_but_not_content():
    one, two = entry("https://a.example/1"), entry("https://a.example/2", position=1)
    assert items_digest([one, two], []) == items_digest([two, one], [])
    assert items_digest([one, two], []) != items_digest([one, two._replace(title="x")], [])
    assert items_digest([one], []) != items_digest([one], [("#1", "no_link", "entry 1")])


def test_a_304_keeps_the_stored_validators_and_change_time():
    previous = state()
    new = next_state(
        SOURCE,
        previous,
        status=304,
        headers={},
        body_sha256=previous.body_sha256,
        items_sha256=previous.items_sha256,
        entry_count=3,
        changed=False,
        run_id="r2",
        now="2024-03-05T00:00:00Z",
    )
    assert (new.etag, new.last_modified) == (previous.etag, previous.last_modified)
    assert (new.changed_at, new.checked_at, new.run_id) == (
        previous.changed_at,
        "2024-03-05T00:00:00Z",
        "r2",
    )
    # a 200 carries its own validators (or none), never the old ones
    fresh = next_state(
        SOURCE,
        previous,
        status=200,
        headers={"etag": '"v2"'},
        body_sha256="c" * 64,
        items_sha256="j" * 64,
        entry_count=4,
        changed=True,
        run_id="r2",
        now="2024-03-05T00:00:00Z",
    )
    assert (fresh.etag, fresh.last_modified, fresh.changed_at) == (
        '"v2"',
        None,
        "2024-03-05T00:00:00Z",
    )


def test_ledger_records_pages_and_permanent_failures_only():
    link = "https://a.example/news/1?utm_source=rss"
    page = FetchedPage(
        entry(link), link, 200, "text/html", None, b"<html>", "2024-03-04T12:00:00Z", []
    )
    assert ledger_entry(page, "r1") == LedgerEntry(
        link_key="https://a.example/news/1",
        url=link,
        outlet_id="gazette",
        outcome="fetched",
        fetched_at="2024-03-04T12:00:00Z",
        first_seen_run="r1",
    )

    def dead(error_type):
        return DeadLetter("fetch_pages", link, "gazette", error_type, "m", "2024-03-04T12:00:00Z")

    def dropped(stage, reason):
        return FilteredItem(stage, link, "gazette", reason, "d", "2024-03-04T12:00:00Z")

    assert ledger_entry(dead("http_404"), "r1").outcome == "http_404"
    assert ledger_entry(dead("http_410"), "r1").outcome == "http_410"
    assert ledger_entry(dropped("fetch_pages", "not_html"), "r1").outcome == "not_html"
    for transient in ("http_503", "http_429", "timeout", "connection_error", "not_recorded"):
        assert ledger_entry(dead(transient), "r1") is None, transient
    assert ledger_entry(dropped("fetch_pages", "empty_body"), "r1") is None
    assert ledger_entry(dropped("collapse_entries", "duplicate_entry"), "r1") is None


def test_skip_fetched_filters_links_in_the_ledger_with_the_first_record():
    new = entry("https://a.example/new")
    assert list(skip_fetched("a.example/new", [new], [])) == [new]
    old = [
        LedgerEntry("k", "u", "gazette", "fetched", "2024-03-05T00:00:00Z", "r2"),
        LedgerEntry("k", "u", "gazette", "fetched", "2024-03-04T00:00:00Z", "r1"),
    ]
    (item,) = skip_fetched("k", [new], old)
    assert isinstance(item, FilteredItem)
    assert (item.stage, item.reason) == ("ledger", "already_fetched")
    assert "run r1" in item.detail


def _client():
    settings = config_from_mapping({"fetch": bench.fetch_config(retries=0)}).fetch
    return HttpClient(settings, UrllibTransport())


def _fixture(name, base):
    return (FEEDS / name).read_text().replace("{base}", base).encode()


def test_poll_feed_against_honest_rotating_and_lying_servers():
    modified = dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC)
    with bench.ConditionalServer() as server:
        base = server.url("")
        source = SOURCE._replace(feed_url=server.url("/a.xml"))
        client = _client()

        def poll(previous, run_id):
            items = list(poll_feed(client, source, previous, run_id))
            (new_state,) = [i for i in items if isinstance(i, FeedState)]
            entries = [i.link.removeprefix(base) for i in items if isinstance(i, FeedEntry)]
            return new_state, entries

        v1 = bench.feed_version(_fixture("feed-a.v1.xml", base), modified)
        server.feeds["/a.xml"] = v1
        first, entries = poll(None, "r1")
        assert entries == ["/news/a1", "/news/a2", "/news/a3"]
        assert first.changed and first.etag == v1.etag and first.entry_count == 3

        # same document: the server answers 304 and nothing is emitted
        second, entries = poll(first, "r2")
        assert server.feed_statuses[-1] == ("/a.xml", 304)
        assert entries == [] and not second.changed and second.status == 304
        assert second.changed_at == first.changed_at and second.etag == v1.etag

        # only lastBuildDate moved: a 200 with the same items is not modified
        server.feeds["/a.xml"] = bench.feed_version(_fixture("feed-a.v1b.xml", base), modified)
        third, entries = poll(second, "r3")
        assert server.feed_statuses[-1] == ("/a.xml", 200)
        assert entries == [] and not third.changed and third.status == 200
        assert third.etag != v1.etag  # the new validator is kept for the next poll

        # the server rotates its ETag on every response: same body, still not modified
        rotating = v1._replace(mode="rotate")
        server.feeds["/a.xml"] = rotating
        fourth, entries = poll(third, "r4")
        assert server.feed_statuses[-1][1] == 200
        assert entries == [] and not fourth.changed

        # the server keeps the same ETag although the content changed (and never answers 304):
        # the body decides
        server.feeds["/a.xml"] = v1._replace(body=_fixture("feed-a.v2.xml", base), mode="ignore")
        fifth, entries = poll(fourth._replace(etag=v1.etag), "r5")
        assert fifth.etag == v1.etag and fifth.changed
        assert entries == ["/news/a2", "/news/a3", "/news/a4", "/news/shared"]


def test_successive_runs_fetch_each_link_once(tmp_path):
    """Five scheduled runs over changing fixture feeds: 304s, the ledger, retries, balance."""
    modified = dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC)
    out = tmp_path / "out"
    config = bench.write_config(tmp_path / "config.yaml")
    with bench.ConditionalServer() as server:
        base = server.url("")
        for name in ("a1", "a2", "a3", "a4", "a5", "shared", "b1", "b2", "b-flaky", "b-gone"):
            server.pages[f"/news/{name}"] = bench.article_page(
                f"Story {name} of the harbour town", f"What happened in story {name}.", len(name)
            )
        outlets = bench.write_outlets(
            tmp_path / "outlets.yaml", "gazette", [server.url("/a.xml"), server.url("/b.xml")], "en"
        )

        def serve(a, b, a_mode="honest", b_mode="honest"):
            server.feeds["/a.xml"] = bench.feed_version(_fixture(a, base), modified, a_mode)
            server.feeds["/b.xml"] = bench.feed_version(_fixture(b, base), modified, b_mode)

        def go(run_id):
            summary = bench.run_once(outlets, config, out, run_id)
            assert summary["balance"]["balanced"], summary
            return summary

        # run 1: everything is new; one page fails transiently (503), one is gone (404)
        server.page_status["/news/b-flaky"] = 503
        server.page_status["/news/b-gone"] = 404
        serve("feed-a.v1.xml", "feed-b.v1.xml")
        one = go("r1")
        assert one["entries_in"] == 6 and one["articles"]["written"] == 4
        assert one["feeds"]["not_modified"] == 0
        assert one["dead_letters"]["by_stage"]["fetch_pages"] == {"http_503": 1, "http_404": 1}
        assert one["incremental"]["ledger_recorded"] == {"fetched": 4, "http_404": 1}

        # run 2: nothing changed: both feeds answer 304, no entry enters
        two = go("r2")
        assert two["feeds"]["not_modified"] == 2 and two["entries_in"] == 0
        assert [s for _, s in server.feed_statuses[-2:]] == [304, 304]

        # run 3: feed A only moved lastBuildDate; feed B has new items, and the 503 page is back
        del server.page_status["/news/b-flaky"]
        serve("feed-a.v1b.xml", "feed-b.v2.xml")
        three = go("r3")
        assert three["feeds"]["not_modified"] == 1
        assert three["entries_in"] == 5
        assert three["filtered"]["by_stage"]["ledger"] == {"already_fetched": 2}  # b1, b-gone
        assert three["articles"]["written"] == 3  # b-flaky (retried), shared, b2

        # run 4: feed A changed (shared is already known through feed B); feed B rotates ETags
        serve("feed-a.v2.xml", "feed-b.v2.xml", b_mode="rotate")
        four = go("r4")
        assert four["feeds"]["not_modified"] == 1
        assert four["filtered"]["by_stage"]["ledger"] == {"already_fetched": 3}  # a2, a3, shared
        assert four["articles"]["written"] == 1  # a4

        # run 5: feed A changed but keeps its ETag and never answers 304; feed B is back to its
        # stable ETag, which the stored (rotated) one does not match: a 200 with the same body
        previous_etag = server.feeds["/a.xml"].etag
        serve("feed-a.v3.xml", "feed-b.v2.xml")
        server.feeds["/a.xml"] = server.feeds["/a.xml"]._replace(etag=previous_etag, mode="ignore")
        five = go("r5")
        assert five["feeds"]["not_modified"] == 1
        assert five["articles"]["written"] == 1  # a5
        assert five["filtered"]["by_stage"]["ledger"] == {"already_fetched": 3}

        hits = {path: n for path, n in server.hits.items() if path.startswith("/news/")}
        feed_304 = sum(1 for _, status in server.feed_statuses if status == 304)

    # every page was requested once, except the one that failed transiently (retried once)
    assert hits == {
        f"/news/{n}": 1 for n in ("a1", "a2", "a3", "a4", "a5", "shared", "b1", "b2")
    } | {
        "/news/b-flaky": 2,
        "/news/b-gone": 1,
    }
    assert feed_304 == 2  # run 2
    summaries = [one, two, three, four, five]
    assert sum(s["articles"]["written"] for s in summaries) == 9
    con = duckdb.connect()
    ledger = con.execute(
        f"SELECT link_key, outcome, first_seen_run FROM read_parquet('{out}/ledger/**/*.parquet') "
        "ORDER BY 1"
    ).fetchall()
    assert len(ledger) == 10 and len({row[0] for row in ledger}) == 10
    assert {row[1] for row in ledger} == {"fetched", "http_404"}
    assert {row[0].rsplit("/", 1)[1]: row[2] for row in ledger}["b-flaky"] == "r3"
    states = con.execute(
        f"SELECT run_id, feed_url, status, changed FROM "
        f"read_parquet('{out}/state/feeds/**/*.parquet') ORDER BY 1, 2"
    ).fetchall()
    assert len(states) == 10  # two feeds polled successfully in each of the five runs
    assert [(r[2], r[3]) for r in states if r[0] == "r2"] == [(304, False), (304, False)]
    # retention: the run-day partitions fall out of the window after retention_days (run 2
    # fetched nothing and wrote no ledger file)
    today = dt.datetime.now(dt.UTC).date()
    assert len(history_files(str(out / "ledger"), today + dt.timedelta(days=30), 30)) == 4
    assert history_files(str(out / "ledger"), today + dt.timedelta(days=31), 30) == []


def test_rerunning_a_run_id_ignores_its_own_state(tmp_path):
    """A run re-done under the same id polls and fetches as it did the first time."""
    modified = dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC)
    out = tmp_path / "out"
    config = bench.write_config(tmp_path / "config.yaml")
    with bench.ConditionalServer() as server:
        base = server.url("")
        for name in ("a1", "a2", "a3"):
            server.pages[f"/news/{name}"] = bench.article_page(f"Story {name}", "Lead.", 1)
        server.feeds["/a.xml"] = bench.feed_version(_fixture("feed-a.v1.xml", base), modified)
        outlets = bench.write_outlets(tmp_path / "o.yaml", "gazette", [server.url("/a.xml")], "en")
        first = bench.run_once(outlets, config, out, "day1")
        again = bench.run_once(outlets, config, out, "day1")
    assert first["articles"]["written"] == again["articles"]["written"] == 3
    assert again["feeds"]["not_modified"] == 0
    rows = pq.ParquetDataset(str(out / "ledger")).read().num_rows
    assert rows == 3  # the re-run replaced its own ledger file


@pytest.mark.corpus
def test_tempo_history_replay_fetches_every_article_once(tmp_path):
    """2 feeds x 6 snapshots of tempo-history replayed in time order as successive runs."""
    corpus = corpus_dir("feeds", "tempo-history")
    result = bench.replay(["free-cekfakta", "free-investigasi"], tmp_path, corpus=corpus, limit=6)
    assert result.runs >= 6 and result.snapshots_served == 12
    assert result.balanced_runs == result.runs
    # every distinct article link was fetched exactly once over all runs
    assert result.distinct_links > 150
    assert result.fetches_per_link == {1: result.distinct_links}
    assert result.articles_written == result.distinct_links
    # unchanged snapshots: 304 from the server; same items under a new lastBuildDate: not modified
    assert result.feed_304 == result.expected_304 > 0
    assert result.not_modified == result.expected_not_modified > result.feed_304
    assert result.already_fetched > 0
    assert result.feeds_failed == result.expected_feeds_failed
