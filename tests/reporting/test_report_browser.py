"""The report in a real browser: Debian's headless chromium, driven over the DevTools protocol.

Every chart must have drawn its SVG (plotly's ``.main-svg`` layers and the marks in its traces)
after the page's scripts ran, with no exception or console error and no request leaving the
file. Skips where chromium is missing (``make browser`` installs it). With
``NEWSBEAM_REPORT_SCREENSHOT=docs/report-demo.png`` the demo's screenshot is written there too.
"""

import os
from pathlib import Path

import pytest

from reporting.html import build_report
from scripts.report_screenshot import find_browser, open_report
from tests.reporting.html_facts import parse

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="chromium is not installed (make browser installs Debian's chromium)",
)
PNG = b"\x89PNG\r\n\x1a\n"


def chart_ids(path: Path) -> list[str]:
    """The chart divs the page holds."""
    return [f.get("data-chart") for f in parse(path).xpath("//figure[@data-chart]")]


def assert_rendered(check, expected: list[str]) -> None:
    """Every expected chart drew, and the page logged nothing wrong and stayed offline."""
    drawn = {c["id"]: c for c in check.charts}
    assert sorted(drawn) == sorted(expected)
    for chart_id in expected:
        chart = drawn[chart_id]
        assert chart["svgs"] >= 1 and chart["traces"] >= 1 and chart["marks"] >= 1, chart
        assert chart["width"] > 300 and chart["height"] > 100, chart
    assert check.errors == []
    assert check.remote_requests == []
    assert check.screenshot.startswith(PNG) and len(check.screenshot) > 20_000


def test_demo_report_renders_in_chromium(demo_run, tmp_path):
    out, _ = demo_run
    path, _ = build_report(str(out), str(tmp_path / "report.html"))
    expected = chart_ids(Path(path))
    assert {"chart-funnel", "chart-drops", "chart-outlets", "chart-days"} <= set(expected)
    check = open_report(path)
    assert check.title.startswith("newsbeam report")
    assert_rendered(check, expected)
    (tmp_path / "report.png").write_bytes(check.screenshot)
    target = os.environ.get("NEWSBEAM_REPORT_SCREENSHOT")
    if target:
        Path(target).write_bytes(check.screenshot)


def test_large_report_renders_in_chromium(large_report):
    expected = chart_ids(large_report.path)
    assert "chart-trend" in expected
    assert_rendered(open_report(str(large_report.path), screenshot_height=1200), expected)
