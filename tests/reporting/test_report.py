"""The HTML report of the demo run: every number on the page checked against the run's tables."""

import json
import shlex
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from pipelines import cli
from pipelines.ingest_job import job_from_args, parse_args
from reporting.aggregate import SOURCE_STAGES, STEP_NOT_REACHED
from reporting.html import build_report, safe_href
from tests.conftest import DEMO, articles_table
from tests.reporting.html_facts import card, column, number, parse
from tests.reporting.synthetic import write_output
from transforms.sinks import summary as run_summary


def table(out: Path, name: str):
    """A table of the output, read with pyarrow (not with the report's DuckDB views)."""
    return ds.dataset(str(out / name), format="parquet", partitioning="hive").to_table()


@pytest.fixture(scope="module")
def demo_report(demo_run, tmp_path_factory):
    out, summary = demo_run
    path, _data = build_report(str(out), str(tmp_path_factory.mktemp("report") / "demo.html"))
    return out, summary, Path(path), parse(Path(path))


def test_demo_report_counts_match_the_tables(demo_report):
    out, summary, _path, page = demo_report
    articles = articles_table(out)
    stories = table(out, "stories")
    assert card(page, "articles") == articles.num_rows == summary["articles"]["written"]
    copies = pc.sum(pc.is_valid(articles["duplicate_of"])).as_py()
    assert card(page, "copies") == copies == summary["articles"]["duplicates_total"]
    assert card(page, "stories") == len(set(stories["story_id"].to_pylist()))
    multi = pc.sum(pc.greater(stories["outlet_count"], 1)).as_py()
    assert card(page, "multi_outlet_stories") == multi == summary["stories"]["multi_outlet"] == 5
    per_outlet = Counter(articles["outlet_id"].to_pylist())
    assert column(page, "outlet-table", "data-outlet", 1) == dict(per_outlet)
    assert column(page, "language-table", "data-language", 1) == dict(
        Counter(articles["language"].to_pylist())
    )
    methods = Counter(
        m
        for m, d in zip(
            articles["dup_method"].to_pylist(), articles["duplicate_of"].to_pylist(), strict=True
        )
        if d is not None
    )
    assert column(page, "copy-table", "data-method", 1) == dict(methods)
    flags = Counter(f for row in articles["quality_flags"].to_pylist() for f in row)
    assert column(page, "quality-table", "data-flag", 1) == dict(flags)


def test_demo_report_funnel_drops_and_balance(demo_report):
    out, summary, _path, page = demo_report
    filtered, dead = table(out, "filtered"), table(out, "dead_letters")
    drops = Counter(zip(filtered["stage"].to_pylist(), filtered["reason"].to_pylist(), strict=True))
    dead_drops = Counter(
        zip(dead["stage"].to_pylist(), dead["error_type"].to_pylist(), strict=True)
    )
    rows = page.xpath('//table[@id="drops"]//tr[@data-stage]')
    shown = {
        (r.get("data-kind"), r.get("data-stage"), r.get("data-reason")): number(r[3]) for r in rows
    }
    expected = {("filtered", *k): v for k, v in drops.items()}
    expected |= {("dead_letter", *k): v for k, v in dead_drops.items()}
    assert shown == expected
    steps = {r.get("data-step"): number(r[1]) for r in page.xpath("//tr[@data-step]")}
    entry_dead = sum(v for (stage, _), v in dead_drops.items() if stage not in SOURCE_STAGES)
    lost_fetching = sum(
        v
        for (stage, _), v in (drops + dead_drops).items()
        if STEP_NOT_REACHED.get(stage) == "fetched" and stage not in SOURCE_STAGES
    ) + sum(v for (stage, _), v in drops.items() if stage == "read_feeds")
    assert steps["entries"] == summary["entries_in"] == 41
    assert steps["fetched"] == 41 - lost_fetching == 37
    assert steps["written"] == articles_table(out).num_rows
    (balance,) = page.xpath('//*[@id="balance"]')
    assert int(balance.get("data-entries-in")) == summary["balance"]["entries_in"]
    assert int(balance.get("data-written")) == summary["balance"]["written"]
    assert int(balance.get("data-filtered")) == summary["balance"]["filtered"] == filtered.num_rows
    assert int(balance.get("data-dead-letters")) == summary["balance"]["dead_letters"] == entry_dead
    assert balance.get("data-balanced") == "true" and balance.get("data-tables-close") == "true"
    assert balance.get("data-tables-agree") == "true"
    assert "41 entries in = 37 written + 3 filtered + 1 dead letters: closes" in " ".join(
        balance.text_content().split()
    )
    feeds = page.xpath('//*[@data-key="feeds_failed"]')[0]
    assert number(feeds) == summary["feeds"]["failed"] == 1
    hosts = {r.get("data-host") for r in page.xpath('//table[@id="host-table"]//tr[@data-host]')}
    assert {"tass.com", "www.dailymail.co.uk"} <= hosts


def test_demo_report_lists_stories_multi_outlet_first_with_linked_titles(demo_report):
    out, _summary, _path, page = demo_report
    articles = articles_table(out).to_pylist()
    stories = page.xpath('//*[@id="story-list"]/details')
    assert len(stories) == len(set(table(out, "stories")["story_id"].to_pylist())) == 10
    counts = [int(s.get("data-outlet-count")) for s in stories]
    assert counts == sorted(counts, reverse=True) and counts[0] == 8
    assert sum(c > 1 for c in counts) == 5
    urls_of = {}
    for a in articles:
        urls_of.setdefault(a["story_id"], set()).add(a["url"])
    for story in stories:
        links = story.xpath(".//a")
        assert {a.get("href") for a in links} == urls_of[story.get("data-story")]
        assert all(a.get("rel") == "noopener noreferrer" for a in links)
    seed = next(s for s in stories if "ru" in s.xpath("string(.//summary)"))
    assert {"en", "id", "ko", "ru"} <= set(
        seed.xpath("string(.//summary)").replace(",", " ").split()
    )
    labels = " ".join(page.xpath('string(//*[@id="story-list"])').split())
    assert "copy · near_duplicate" in labels and "copy · url" in labels
    assert "copy · exact_text" in labels and "coverage" in labels


def test_demo_report_is_self_contained(demo_report):
    _out, _summary, path, page = demo_report
    html = path.read_text(encoding="utf-8")
    scripts = page.xpath("//script")
    assert all(s.get("src") is None for s in scripts)
    assert not page.xpath("//link[@href] | //img[@src] | //iframe")
    # plotly.js inlined exactly once, and every chart div draws with it
    assert (
        html.count("plotly.js v") == 1
        and html.count("Plotly.newPlot(")
        == len(page.xpath('//div[contains(@class, "plotly-graph-div")]'))
        >= 6
    )
    assert all(
        safe_href(a.get("href")) for a in page.xpath("//a[@href][not(starts-with(@href, '#'))]")
    )
    assert path.stat().st_size < 10_000_000


def test_report_escapes_titles_and_refuses_non_http_links(tmp_path):
    evil = '<img src=x onerror="alert(1)"></script><script>alert(2)</script>'
    write_output(tmp_path, 12, title=evil, url="javascript:alert(3)")
    path, _ = build_report(str(tmp_path))
    html = Path(path).read_text(encoding="utf-8")
    assert evil not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    page = parse(Path(path))
    assert not page.xpath("//a[starts-with(@href, 'javascript')]")
    assert not page.xpath("//img")
    assert page.xpath("//span[@class='nolink']")
    assert safe_href("javascript:alert(1)") is None and safe_href("data:text/html,x") is None
    assert safe_href("https://example.com/a?b=c") == "https://example.com/a?b=c"


def test_query_prints_the_tables_as_text(demo_run, capsys):
    out, _ = demo_run
    sql = "SELECT outlet_id, count(*) AS n FROM articles GROUP BY ALL ORDER BY n DESC, 1 LIMIT 3"
    assert cli.main(["query", sql, "--output", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["outlet_id", "n"] and lines[-1] == "(3 rows)"
    counts = Counter(articles_table(out)["outlet_id"].to_pylist())
    assert lines[2].split() == ["washingtonpost", str(counts["washingtonpost"])]
    assert cli.main(["query", "SELECT DISTINCT run_id FROM filtered", "--output", str(out)]) == 0
    assert "e2e" in capsys.readouterr().out
    sql = "SELECT stage, count(*) AS n FROM dead_letters GROUP BY ALL ORDER BY 1"
    assert cli.main(["query", sql, "--output", str(out), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["stage,n", "fetch_pages,1", "read_feeds,1"]
    assert cli.main(["query", "SELECT nope FROM articles", "--output", str(out)]) == 1
    assert "newsbeam query: Binder Error" in capsys.readouterr().err
    assert cli.main(["query", "--output", str(out)]) == 0
    views = capsys.readouterr().out
    for view in ("articles (37 rows)", "stories (10 rows)", "filtered (3 rows)", "runs (1 rows)"):
        assert view in views


def test_report_command_prints_a_query_hint_that_runs_as_printed(demo_run, tmp_path, capsys):
    out, _ = demo_run
    assert cli.main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    printed = capsys.readouterr().out
    assert f"report: {tmp_path / 'r.html'}" in printed and (tmp_path / "r.html").is_file()
    (hint,) = [
        line.removeprefix("query:").strip()
        for line in printed.splitlines()
        if line.startswith("query:")
    ]
    program, *argv = shlex.split(hint)
    # The venv is not activated in `make demo`: the hint names the entry point it can run.
    assert program == "newsbeam" or (Path(program).name == "newsbeam" and Path(program).exists())
    assert "duckdb" not in printed
    assert cli.main(argv) == 0
    assert "(10 rows)" in capsys.readouterr().out


def test_ingest_report_flag(tmp_path):
    args, _ = parse_args(["--outlets", str(DEMO / "outlets.yaml"), "--output", "o", "--report"])
    assert job_from_args(args).report == ""
    args, _ = parse_args(["--outlets", "x.yaml", "--output", "o", "--report", "r.html"])
    assert args.report == "r.html"
    args, _ = parse_args(["--outlets", str(DEMO / "outlets.yaml"), "--output", "o"])
    assert job_from_args(args).report is None
    args, _ = parse_args(
        ["--outlets", str(DEMO / "outlets.yaml"), "--output", "gs://b/o", "--report"]
    )
    with pytest.raises(ValueError, match="--report needs a local --output"):
        job_from_args(args)


@pytest.mark.slow
def test_ingest_with_report_writes_it_at_the_end_of_the_run(tmp_path):
    import yaml

    from pipelines.ingest import run

    registry = yaml.safe_load((DEMO / "outlets.yaml").read_text())
    two = [o for o in registry["outlets"] if o["id"] in {"republika", "rodong"}]
    (tmp_path / "two.yaml").write_text(yaml.safe_dump({"outlets": two}))
    out = tmp_path / "out"
    summary = run(
        [
            "--outlets",
            str(tmp_path / "two.yaml"),
            "--replay",
            str(DEMO / "recording"),
            "--output",
            str(out),
            "--run_id",
            "r",
            "--runner",
            "FnApiRunner",
            "--report",
        ]
    )
    assert summary["report"] == str(out / "report.html")
    assert "report" not in json.loads((out / "run.json").read_text())
    page = parse(out / "report.html")
    assert card(page, "articles") == summary["articles"]["written"] == 2
    assert column(page, "outlet-table", "data-outlet", 1) == {"republika": 1, "rodong": 1}


def test_report_of_an_output_with_no_rows(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert cli.main(["query", "SELECT 1", "--output", "gs://bucket/out"]) == 2
    assert "local output directories only" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    path, data = build_report(str(tmp_path / "empty"))
    page = parse(Path(path))
    assert card(page, "articles") == 0 and data.funnel.balance.balanced is None
    assert page.xpath('//*[@data-key="balanced"]')[0].text_content() == "unknown"


def test_source_stages_are_the_summary_s():
    assert SOURCE_STAGES == run_summary.SOURCE_STAGES
