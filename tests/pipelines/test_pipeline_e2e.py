"""End to end: the real job through ``run([...])`` on real Beam runners, Parquet read back."""

import json
import subprocess
import sys

import duckdb
import pytest

from pipelines.ingest import run
from tests.conftest import DEMO, FIXTURES, ROOT, articles_table

SEED_TITLE = "Putin dan Kim Jong-Un Saling Beri Senapan Sebagai Cendera Mata"


def test_demo_counts_balance_and_match_the_tables(demo_run):
    out, summary = demo_run
    assert summary["balance"]["balanced"] is True
    assert json.loads((out / "run.json").read_text()) == summary
    assert json.loads((out / "runs" / "e2e.json").read_text()) == summary
    con = duckdb.connect()
    glob = f"{out}/articles/**/*.parquet"
    written = con.execute(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)"
    ).fetchone()[0]
    dups = con.execute(
        f"SELECT count(*) FROM read_parquet('{glob}') WHERE duplicate_of IS NOT NULL"
    ).fetchone()[0]
    dead = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/dead_letters/*.parquet')"
    ).fetchone()[0]
    filtered = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/filtered/*.parquet')"
    ).fetchone()[0]
    assert written == summary["articles"]["written"] and written >= 30
    assert dups == summary["articles"]["duplicates_total"]
    assert dead == summary["dead_letters"]["total"]
    assert filtered == summary["filtered"]["total"]
    assert summary["entries_in"] == written + filtered + summary["dead_letters"]["entries"]
    # article ids are unique and every duplicate points at a written canonical row
    ids = con.execute(f"SELECT article_id FROM read_parquet('{glob}')").fetchall()
    assert len(ids) == len(set(ids))
    orphans = con.execute(
        f"SELECT count(*) FROM read_parquet('{glob}') d WHERE d.duplicate_of IS NOT NULL AND "
        f"d.duplicate_of NOT IN (SELECT article_id FROM read_parquet('{glob}'))"
    ).fetchone()[0]
    assert orphans == 0


def test_demo_known_records(demo_run):
    out, _ = demo_run
    con = duckdb.connect()
    glob = f"{out}/articles/**/*.parquet"
    rows = con.execute(
        f"SELECT outlet_id, language, title, CAST(date AS VARCHAR), dup_method, published_at "
        f"FROM read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    by_outlet = {}
    for outlet, lang, title, date, method, published in rows:
        by_outlet.setdefault(outlet, []).append((lang, title, date, method, published))
    (rep,) = by_outlet["republika"]
    assert rep[0] == "id" and rep[1] == SEED_TITLE and rep[2] == "2023-09-14"
    assert by_outlet["ultimahora"][0][0] == "es"
    assert by_outlet["people-cn"][0][0] == "zh"
    assert {r[0] for r in by_outlet["nytimes"]} == {"en"}
    copies = {
        (o, r[3]) for o, rs in by_outlet.items() for r in rs if r[3] not in (None, "same_story")
    }
    # the AMP edition of a Fox News page is the same URL up to edition: a url duplicate
    assert copies == {
        ("foxnews", "url"),
        ("npr", "exact_text"),
        ("washingtonpost", "url"),
        # AP wire stories republished with light edits (giveme5w1h holds several outlets' copies)
        ("nytimes", "near_duplicate"),
        ("dailymail", "near_duplicate"),
        ("timesofindia", "near_duplicate"),
        ("denverpost", "near_duplicate"),
    }
    near = con.execute(
        f"SELECT a.outlet_id, b.outlet_id, a.dup_score, a.story_id = b.story_id "
        f"FROM read_parquet('{glob}') a JOIN read_parquet('{glob}') b "
        f"ON a.duplicate_of = b.article_id WHERE a.dup_method = 'near_duplicate' ORDER BY 1"
    ).fetchall()
    assert [(r[0], r[1]) for r in near] == [
        ("dailymail", "washingtonpost"),
        ("denverpost", "sfgate"),
        ("nytimes", "washingtonpost"),
        ("timesofindia", "foxnews"),
    ]
    # the score is the checked shingle Jaccard, never below the cut; a copy shares its story
    assert all(0.8 <= r[2] <= 1.0 and r[3] for r in near)
    # the AMP copy points at the Fox News article it is a copy of
    amp = con.execute(
        f"SELECT a.duplicate_of, b.url FROM read_parquet('{glob}') a JOIN read_parquet('{glob}') b "
        f"ON a.duplicate_of = b.article_id WHERE a.outlet_id = 'foxnews'"
    ).fetchone()
    assert amp[1].startswith("http://www.foxnews.com/") and not amp[1].endswith(".amp")


def test_demo_stories_group_coverage_across_outlets(demo_run):
    out, summary = demo_run
    con = duckdb.connect()
    glob = f"{out}/articles/**/*.parquet"
    stories = con.execute(
        f"SELECT story_id, article_count, outlet_count, member_ids "
        f"FROM read_parquet('{out}/stories/**/*.parquet') ORDER BY outlet_count DESC"
    ).fetchall()
    # every article has a story, and the stories table lists each article exactly once
    members = [m for s in stories for m in s[3]]
    ids = [r[0] for r in con.execute(f"SELECT article_id FROM read_parquet('{glob}')").fetchall()]
    assert sorted(members) == sorted(ids)
    assert summary["stories"]["touched"] == len(stories)
    multi = [s for s in stories if s[2] >= 3]
    assert len(multi) >= 3 and summary["stories"]["multi_outlet"] >= 3
    # the $284 billion electricity bill (AP wire) is one story covered by at least five outlets
    (bill,) = con.execute(
        f"SELECT DISTINCT s.story_id, s.outlet_count FROM read_parquet('{glob}') a "
        f"JOIN read_parquet('{out}/stories/**/*.parquet') s ON a.story_id = s.story_id "
        "WHERE a.outlet_id = 'dailymail' AND a.text ILIKE '%284 billion%'"
    ).fetchall()
    assert bill[1] >= 5
    # unrelated stories stay apart: the Spanish and Chinese pages are alone in theirs
    alone = con.execute(
        f"SELECT a.outlet_id, s.article_count FROM read_parquet('{glob}') a "
        f"JOIN read_parquet('{out}/stories/**/*.parquet') s ON a.story_id = s.story_id "
        "WHERE a.outlet_id IN ('ultimahora', 'people-cn')"
    ).fetchall()
    assert sorted(alone) == [("people-cn", 1), ("ultimahora", 1)]


def test_demo_dead_letters_and_filtered_have_reasons(demo_run):
    out, summary = demo_run
    con = duckdb.connect()
    dead = con.execute(
        f"SELECT stage, outlet_id, error_type FROM read_parquet('{out}/dead_letters/*.parquet') "
        "ORDER BY 1, 2"
    ).fetchall()
    assert dead == [
        ("fetch_pages", "dailymail", "http_404"),
        ("read_feeds", "tass", "malformed_feed"),
    ]
    filtered = con.execute(
        f"SELECT stage, reason FROM read_parquet('{out}/filtered/*.parquet') ORDER BY 1, 2"
    ).fetchall()
    assert filtered == [
        ("collapse_entries", "duplicate_entry"),
        ("fetch_pages", "empty_body"),
        ("fetch_pages", "not_html"),
    ]
    assert summary["feeds"]["failed"] == 1


@pytest.mark.slow
def test_multiprocessing_runner_gives_identical_output(demo_run, tmp_path):
    out, _ = demo_run
    summary = run(
        [
            "--outlets",
            str(DEMO / "outlets.yaml"),
            "--replay",
            str(DEMO / "recording"),
            "--output",
            str(tmp_path),
            "--run_id",
            "e2e",
            "--runner",
            "FnApiRunner",
            "--direct_num_workers",
            "2",
            "--direct_running_mode",
            "multi_processing",
        ]
    )
    assert summary["balance"]["balanced"]
    one = articles_table(out).sort_by("article_id")
    two = articles_table(tmp_path).sort_by("article_id")
    assert one.equals(two)
    for f in sorted((out / "articles").rglob("*.parquet")):
        twin = tmp_path / f.relative_to(out)
        assert twin.read_bytes() == f.read_bytes(), f


def test_live_http_bad_inputs_end_in_dead_letters_or_filtered(server, tmp_path):
    page = (FIXTURES / "article_en.html").read_bytes()
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><title>Bridge</title><link>{server.url("/news/bridge")}</link></item>
<item><title>Gone</title><link>{server.url("/news/gone")}</link></item>
<item><title>PDF</title><link>{server.url("/files/report.pdf")}</link></item>
<item><title>Empty</title><link>{server.url("/news/empty")}</link></item>
<item><title>Nothing to extract</title><link>{server.url("/news/blank")}</link></item>
<item><title>No link at all</title></item>
</channel></rss>""".encode()
    server.routes.update(
        {
            "/rss": (200, {"Content-Type": "application/rss+xml"}, feed),
            "/broken-rss": (
                200,
                {"Content-Type": "application/rss+xml"},
                b'Rate limit exceeded. Try again later {"code": 429}',
            ),
            "/news/bridge": (200, {"Content-Type": "text/html; charset=utf-8"}, page),
            "/files/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 1 0 obj"),
            "/news/empty": (200, {"Content-Type": "text/html"}, b""),
            "/news/blank": (
                200,
                {"Content-Type": "text/html"},
                b"<html><head><title>t</title></head><body></body></html>",
            ),
        }
    )
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(
        "outlets:\n"
        f"  - {{id: local, name: Local, languages: [en], feeds: ['{server.url('/rss')}']}}\n"
        f"  - {{id: broken, name: Broken, feeds: ['{server.url('/broken-rss')}']}}\n"
        f"  - {{id: down, name: Down, feeds: ['{server.url('/no-such-feed')}']}}\n"
    )
    config = tmp_path / "config.yaml"
    # The server is on 127.0.0.1, which fetching refuses unless allowed; no pacing between pages.
    config.write_text(
        "fetch: {retries: 0, read_timeout_s: 5, allow_networks: ['127.0.0.0/8'], min_delay_s: 0}\n"
    )
    out = tmp_path / "out"
    summary = run(
        [
            "--outlets",
            str(outlets),
            "--output",
            str(out),
            "--config",
            str(config),
            "--run_id",
            "live",
            "--runner",
            "FnApiRunner",
        ]
    )
    assert summary["balance"]["balanced"] is True
    assert summary["entries_in"] == 6
    assert summary["articles"]["written"] == 1
    assert summary["feeds"] == {"configured": 3, "failed": 2, "ok": 1}
    assert summary["dead_letters"]["by_stage"] == {
        "read_feeds": {"malformed_feed": 1, "http_404": 1},
        "fetch_pages": {"http_404": 1},
    }
    assert summary["filtered"]["by_stage"] == {
        "read_feeds": {"no_link": 1},
        "fetch_pages": {"not_html": 1, "empty_body": 1},
        "extract_articles": {"no_text": 1},
    }
    (row,) = articles_table(out).to_pylist()
    assert row["title"] == "Harbour bridge reopens after three years of repairs"
    assert row["language"] == "en"


def test_console_entry_points():
    ok = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "ingest", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert ok.returncode == 0 and "--outlets" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "frobnicate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert bad.returncode == 2 and "unknown command" in bad.stderr


def test_bad_outlets_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "outlets.yaml"
    bad.write_text("outlets:\n  - {id: x, name: X, feeds: ['file:///etc/passwd']}\n")
    from transforms.feeds.outlets import OutletsError

    with pytest.raises(OutletsError, match="not an http"):
        run(["--outlets", str(bad), "--output", str(tmp_path / "o")])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--replay", "nowhere/recording"], "neither WARC files nor a recording directory"),
        (["--replay", "nowhere/*.warc.gz"], "no .warc/.warc.gz files there"),
        (["--config", "nowhere.yaml"], "cannot read config"),
        (["--run_id", "a/b"], "--run_id"),
    ],
)
def test_bad_arguments_are_one_line_errors_before_the_job_starts(tmp_path, capsys, args, message):
    from pipelines.ingest import main

    argv = ["--outlets", str(DEMO / "outlets.yaml"), "--output", str(tmp_path / "o"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("newsbeam ingest: error: ") and message in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_later_run_dedups_against_the_earlier_one(tmp_path):
    """Run 1 without NPR's second feed; run 2 with everything: only news is written, linked back."""
    import yaml

    registry = yaml.safe_load((DEMO / "outlets.yaml").read_text())
    first = {"outlets": []}
    for outlet in registry["outlets"]:
        feeds = [f for f in outlet["feeds"] if not f.endswith("/npr/print.xml")]
        first["outlets"].append({**outlet, "feeds": feeds})
    (tmp_path / "first.yaml").write_text(yaml.safe_dump(first))
    config = tmp_path / "config.yaml"
    config.write_text("dedup: {history_days: 3650}\n")  # the demo spans 2017-12 to 2023-10-19
    out = tmp_path / "out"
    common = [
        "--replay",
        str(DEMO / "recording"),
        "--output",
        str(out),
        "--config",
        str(config),
        "--as_of",
        "2023-10-20",
        "--runner",
        "FnApiRunner",
    ]
    one = run(["--outlets", str(tmp_path / "first.yaml"), "--run_id", "day1", *common])
    two = run(["--outlets", str(DEMO / "outlets.yaml"), "--run_id", "day2", *common])
    assert one["balance"]["balanced"] and two["balance"]["balanced"]
    # everything run 1 wrote is in the window and is not written again
    assert two["filtered"]["by_stage"]["dedup"]["already_stored"] >= 1
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT filename, article_id, outlet_id, duplicate_of, dup_method, story_id "
        f"FROM read_parquet('{out}/articles/**/*.parquet', filename=true)"
    ).fetchall()
    day2 = [r for r in rows if "part-day2-" in r[0]]
    day1_ids = {r[1]: r for r in rows if "part-day1-" in r[0]}
    # ids are never written twice across the two runs
    assert len({r[1] for r in rows}) == len(rows)
    # the NPR copy of run 2 points at the NPR article run 1 wrote, in run 1's story
    (npr,) = [r for r in day2 if r[2] == "npr"]
    assert npr[4] == "exact_text" and npr[3] in day1_ids
    assert npr[5] == day1_ids[npr[3]][5]
    stories = con.execute(
        f"SELECT story_id, article_count, run_id FROM read_parquet('{out}/stories/**/*.parquet') "
        f"WHERE story_id = '{npr[5]}' ORDER BY run_id"
    ).fetchall()
    # the story's row of run 2 has one member more: the copy joined it, nothing else changed
    (first, second) = stories
    assert (first[2], second[2]) == ("day1", "day2") and second[1] == first[1] + 1


@pytest.mark.parametrize(
    ("flags", "spread"),
    [
        (["--runner=FnApiRunner"], False),
        (["--runner=FnApiRunner", "--direct_num_workers=2"], True),
        (["--runner=DirectRunner", "--direct_num_workers=0"], True),  # 0: one per core
        (["--runner=DataflowRunner"], True),
        (["--runner=PortableRunner"], True),
        (["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"], False),
    ],
)
def test_pages_are_spread_over_workers_unless_one_worker_runs_in_process(flags, spread):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.ingest import spreads_pages

    assert spreads_pages(PipelineOptions(flags)) is spread


def test_options_views_are_made_once_and_stay_live_and_the_graph_is_unchanged(tmp_path):
    import pickle

    import apache_beam as beam
    from apache_beam.options.pipeline_options import (
        PipelineOptions,
        StandardOptions,
        TypeOptions,
    )

    from pipelines.ingest import build_pipeline
    from pipelines.ingest_job import job_from_args, parse_args, pipeline_options

    argv = ["--outlets", str(DEMO / "outlets.yaml"), "--replay", str(DEMO / "recording")]
    argv += ["--output", str(tmp_path), "--run_id", "views", "--runner", "FnApiRunner"]
    args, beam_args = parse_args(argv)
    options = pipeline_options(beam_args)
    assert options.view_as(TypeOptions) is options.view_as(TypeOptions)
    # A change through one view is seen by every view, cached or new, and by the whole.
    options.view_as(StandardOptions).streaming = True
    assert options.view_as(StandardOptions).streaming is True
    assert PipelineOptions.view_as(options, StandardOptions).streaming is True
    assert options.get_all_options()["streaming"] is True
    options.view_as(StandardOptions).streaming = False
    copy = pickle.loads(pickle.dumps(options))
    assert "_views" not in copy.__dict__
    assert copy.get_all_options() == options.get_all_options()

    def graph(opts: PipelineOptions) -> tuple[list[str], list[str]]:
        p = beam.Pipeline(options=opts)
        build_pipeline(p, job_from_args(args))
        proto = p.to_runner_api()
        names = sorted(t.unique_name for t in proto.components.transforms.values())
        coders = sorted(
            f"{pc.unique_name}={proto.components.coders[pc.coder_id].spec.urn}"
            for pc in proto.components.pcollections.values()
        )
        return names, coders

    assert graph(pipeline_options(beam_args)) == graph(PipelineOptions(beam_args))
