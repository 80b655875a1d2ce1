"""The report of a 100,000-article output over three runs: right numbers, bounded page."""

from collections import Counter

import pyarrow.compute as pc

from reporting.charts import build_charts
from tests.reporting.conftest import LARGE_N
from tests.reporting.html_facts import card, column, number, parse
from tests.reporting.synthetic import FEEDS, LEDGER_FETCHED, LEDGER_GONE, RUNS
from transforms.core.tables import read_json


def test_large_report_is_bounded_and_plotly_is_inlined_once(large_report):
    html = large_report.path.read_text(encoding="utf-8")
    assert large_report.path.stat().st_size < 10_000_000
    assert html.count("plotly.js v") == 1
    page = parse(large_report.path)
    # aggregated before rendering: no DOM row or chart point per article
    assert len(page.xpath("//tr")) < 2_000
    assert len(page.xpath('//*[@id="story-list"]/details')) == 100
    for chart in build_charts(large_report.data).values():
        points = sum(
            len(trace.x if trace.x is not None else trace.y) for trace in chart.figure.data
        )
        assert points <= 1_000, chart.chart_id


def test_large_report_numbers_match_the_tables(large_report):
    arts, page = large_report.articles, parse(large_report.path)
    assert card(page, "articles") == arts.num_rows == LARGE_N
    assert card(page, "copies") == pc.sum(pc.is_valid(arts["duplicate_of"])).as_py()
    assert column(page, "outlet-table", "data-outlet", 1) == dict(
        Counter(arts["outlet_id"].to_pylist())
    )
    stories = Counter(arts["story_id"].to_pylist())
    outlets_of: dict[str, set[str]] = {}
    for story, outlet in zip(
        arts["story_id"].to_pylist(), arts["outlet_id"].to_pylist(), strict=True
    ):
        outlets_of.setdefault(story, set()).add(outlet)
    multi = sum(len(v) > 1 for v in outlets_of.values())
    assert card(page, "stories") == len(stories)
    assert card(page, "multi_outlet_stories") == multi == 10_000
    (more,) = page.xpath('//*[@id="stories-more"]')
    assert int(more.get("data-more")) == len(stories) - 100
    assert "newsbeam query" in page.xpath('string(//*[@id="stories"])')
    # a language the outlet does not declare (the synthetic outlets declare en or id)
    declared = [h[0].removeprefix("outlet:") for h in arts["language_hints"].to_pylist()]
    mismatched = sum(
        lang != d for lang, d in zip(arts["language"].to_pylist(), declared, strict=True)
    )
    (callout,) = page.xpath('//*[@id="mismatches"]')
    assert int(callout.get("data-total")) == mismatched > 1_000
    flags = Counter(f for row in arts["quality_flags"].to_pylist() for f in row)
    assert column(page, "quality-table", "data-flag", 1) == dict(flags)


def test_large_report_funnel_balance_and_trend(large_report):
    root, arts, page = large_report.root, large_report.articles, parse(large_report.path)
    latest = read_json(str(root / "run.json"))
    assert latest["run_id"] == "r3"
    steps = {r.get("data-step"): number(r[1]) for r in page.xpath("//tr[@data-step]")}
    per_run = Counter(arts["_run"].to_pylist())
    assert steps["entries"] == latest["entries_in"]
    assert steps["written"] == per_run["r3"] == latest["articles"]["written"]
    (balance,) = page.xpath('//*[@id="balance"]')
    assert balance.get("data-balanced") == "true" and balance.get("data-tables-close") == "true"
    assert int(balance.get("data-dead-letters")) == latest["balance"]["dead_letters"]
    trend = page.xpath('//table[@id="trend-table"]//tr[@data-run]')
    assert [r.get("data-run") for r in trend] == ["r1", "r2", "r3"]
    assert column(page, "trend-table", "data-run", 2) == dict(per_run)
    # a story is new in the run that wrote its first article
    first_run: dict[str, str] = {}
    for story, run in zip(arts["story_id"].to_pylist(), arts["_run"].to_pylist(), strict=True):
        first_run.setdefault(story, run)
    assert column(page, "trend-table", "data-run", 6) == dict(Counter(first_run.values()))
    dead = {
        r: read_json(str(root / "runs" / f"{r}.json"))["dead_letters"]["total"] for r in per_run
    }
    assert column(page, "trend-table", "data-run", 5) == dead
    assert page.xpath('//figure[@data-chart="chart-trend"]')


def test_large_report_shows_the_incremental_state(large_report):
    page = parse(large_report.path)
    ledger = {
        r[0].text_content(): number(r[1]) for r in page.xpath('//table[@id="ledger-table"]//tr[td]')
    }
    assert ledger == {"fetched": LEDGER_FETCHED * len(RUNS), "http_404": LEDGER_GONE * len(RUNS)}
    # each feed at its latest poll: the last run found every third feed changed
    states = {
        r[0].text_content(): number(r[1])
        for r in page.xpath('//table[@id="feed-state-table"]//tr[td]')
    }
    assert states == {"changed": FEEDS // 3, "not modified": FEEDS - FEEDS // 3}
