"""The report as one self-contained HTML file: plotly.js inlined once, every figure uses it.

Opening the file needs no network: no CDN script, font or stylesheet. Every string that came
from a feed or a page (titles, URLs, outlet ids) goes through Jinja's autoescaping, and only
http(s) URLs become links, opened with ``rel="noopener noreferrer"``.
"""

from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import plotly.io as pio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from reporting.aggregate import Limits, ReportData, load_report_data
from reporting.charts import build_charts
from reporting.text import query_command

TEMPLATES = Path(__file__).resolve().parent / "templates"
# No plotly logo in the mode bar; figures follow the page width.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def safe_href(url: Optional[str]) -> Optional[str]:
    """``url`` if it is an absolute http(s) URL with a host, else None (no javascript:, data:)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url.strip()


def _number(value: object) -> str:
    """Thousands separated integers, two decimals for floats."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _environment() -> Environment:
    """Jinja with autoescaping on for every template."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["href"] = safe_href
    env.filters["num"] = _number
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    return env


def query_hints(data: ReportData) -> dict[str, str]:
    """Commands that list what the page leaves out."""
    limits, out = data.limits, data.output
    return {
        "stories": query_command(
            "SELECT story_id, outlet_count, article_count, representative_title FROM stories "
            "QUALIFY row_number() OVER (PARTITION BY story_id ORDER BY article_count DESC) = 1 "
            f"ORDER BY outlet_count DESC, article_count DESC LIMIT 100 OFFSET {limits.stories}",
            out,
        ),
        "members": query_command(
            "SELECT outlet_id, language, title, url FROM articles WHERE story_id = 'STORY_ID'",
            out,
        ),
        "outlets": query_command(
            "SELECT outlet_id, count(*) AS n FROM articles GROUP BY ALL ORDER BY n DESC", out
        ),
        "mismatches": query_command(
            "SELECT outlet_id, language, language_hints, title, url FROM articles "
            "WHERE NOT list_contains(language_hints, 'outlet:' || language)",
            out,
        ),
        "hosts": query_command(
            "SELECT regexp_extract(url, '//([^/]+)', 1) AS host, stage, error_type, count(*) AS n "
            "FROM dead_letters GROUP BY ALL ORDER BY n DESC",
            out,
        ),
        "drops": query_command(
            "SELECT stage, reason, outlet_id, url, detail FROM filtered ORDER BY stage, reason", out
        ),
        "any": query_command("SELECT * FROM runs", out),
    }


def render_report(data: ReportData) -> str:
    """The whole page."""
    charts = build_charts(data)
    figures = {
        chart_id: Markup(
            pio.to_html(
                chart.figure,
                full_html=False,
                include_plotlyjs=False,
                div_id=chart_id,
                config=PLOTLY_CONFIG,
                default_width="100%",
                default_height=f"{chart.figure.layout.height}px",
            )
        )
        for chart_id, chart in charts.items()
    }
    template = _environment().get_template("report.html.j2")
    return template.render(
        data=data,
        funnel=data.funnel,
        balance=data.funnel.balance,
        charts=charts,
        figures=figures,
        hints=query_hints(data),
        plotly_js=Markup(get_plotlyjs()),
    )


def default_report_path(output: str) -> str:
    """Where a report goes when no path is given: ``<output>/report.html``."""
    return str(Path(output.removeprefix("file://")) / "report.html")


def write_report(data: ReportData, path: str) -> str:
    """Render the report and write it to ``path`` (atomically); return the path."""
    target = Path(path)
    page = render_report(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + ".tmp")
    temp.write_text(page, encoding="utf-8")
    temp.replace(target)
    return str(target)


def build_report(
    output: str, path: Optional[str] = None, limits: Optional[Limits] = None
) -> tuple[str, ReportData]:
    """Aggregate ``output``'s tables and write the report (default ``<output>/report.html``)."""
    data = load_report_data(output, limits)
    return write_report(data, path or default_report_path(output)), data
