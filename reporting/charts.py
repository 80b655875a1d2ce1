"""The report's charts as plotly figures, each built from already aggregated rows.

Every figure is a few traces of at most a few hundred points (outlets, days, stages), never a
point per article. Labels that come from feeds or pages are HTML-escaped: plotly renders a
subset of HTML (``<b>``, ``<a href>``) in text, and decodes the entities back for display.
"""

import html
from dataclasses import dataclass

import plotly.graph_objects as go

from reporting.aggregate import ReportData

COLORS = {
    "filtered": "#e3a21a",
    "dead_letter": "#c0392b",
    "originals": "#2c7fb8",
    "copies": "#a6bddb",
}
LINE_COLORS = ("#2c7fb8", "#c0392b", "#31a354", "#e3a21a")
STEP_NAMES = {
    "entries": "feed entries",
    "fetched": "pages fetched",
    "extracted": "articles extracted",
    "written": "articles written",
}


@dataclass(frozen=True)
class Chart:
    """One figure and where it goes on the page."""

    chart_id: str
    title: str
    figure: go.Figure


def label(value: str) -> str:
    """A data string made safe for plotly text."""
    return html.escape(value, quote=False)


def _layout(fig: go.Figure, height: int, **extra: object) -> go.Figure:
    """Common look: white template, tight margins, legend on top."""
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        **extra,
    )
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(automargin=True)
    return fig


def count_axis(values: list[int]) -> dict[str, object]:
    """A count axis: whole-number ticks when the counts are small (no 0.2, 0.4 ...)."""
    return {"dtick": 1, "rangemode": "tozero"} if max(values, default=0) <= 10 else {}


def funnel_chart(data: ReportData) -> go.Figure:
    """Entries -> fetched -> extracted -> written for the latest run."""
    steps = data.funnel.steps
    fig = go.Figure(
        go.Funnel(
            y=[STEP_NAMES[s] for s, _ in steps],
            x=[n for _, n in steps],
            textinfo="value+percent initial",
            marker={"color": COLORS["originals"]},
        )
    )
    return _layout(fig, 300)


def drops_chart(data: ReportData) -> go.Figure:
    """Filtered items and dead letters of the latest run, by stage and reason."""
    fig = go.Figure()
    for kind, name in (("filtered", "filtered"), ("dead_letter", "dead letters")):
        drops = [d for d in data.funnel.drops if d.kind == kind]
        fig.add_trace(
            go.Bar(
                name=name,
                orientation="h",
                y=[label(f"{d.stage} · {d.reason}") for d in drops],
                x=[d.count for d in drops],
                marker={"color": COLORS[kind]},
            )
        )
    rows = len({(d.stage, d.reason) for d in data.funnel.drops})
    totals: dict[tuple[str, str], int] = {}
    for d in data.funnel.drops:
        totals[(d.stage, d.reason)] = totals.get((d.stage, d.reason), 0) + d.count
    return _layout(
        fig,
        120 + 24 * rows,
        barmode="stack",
        yaxis={"autorange": "reversed"},
        xaxis=count_axis(list(totals.values())),
    )


def outlets_chart(data: ReportData) -> go.Figure:
    """Originals and labelled copies per outlet (the largest outlets)."""
    top = data.outlets[: data.limits.chart_outlets]
    names = [label(o.outlet_id) for o in top]
    fig = go.Figure(
        [
            go.Bar(
                name="originals",
                x=names,
                y=[o.originals for o in top],
                marker={"color": COLORS["originals"]},
            ),
            go.Bar(
                name="labelled copies",
                x=names,
                y=[o.copies for o in top],
                marker={"color": COLORS["copies"]},
            ),
        ]
    )
    return _layout(fig, 360, barmode="stack", xaxis={"tickangle": -45})


def days_chart(data: ReportData) -> go.Figure:
    """Articles per publication day (or month)."""
    fig = go.Figure(
        go.Bar(
            x=[d for d, _ in data.days],
            y=[n for _, n in data.days],
            marker={"color": COLORS["originals"]},
            name="articles",
        )
    )
    # Few days: one bar each, side by side (a date axis over years would make them hairlines).
    axis = "category" if len(data.days) <= data.limits.days else "date"
    return _layout(fig, 300, xaxis={"type": axis, "tickangle": -45}, bargap=0.15)


def language_chart(data: ReportData) -> go.Figure:
    """Languages per outlet, stacked (the largest outlets, the commonest languages)."""
    outlets = [o.outlet_id for o in data.outlets[: data.limits.chart_outlets]]
    counts = {(o, lang): n for o, lang, n in data.language_mix}
    languages = sorted({lang for _, lang, _ in data.language_mix}, key=lambda x: (x == "other", x))
    fig = go.Figure(
        [
            go.Bar(
                name=label(lang),
                x=[label(o) for o in outlets],
                y=[counts.get((o, lang), 0) for o in outlets],
            )
            for lang in languages
        ]
    )
    return _layout(fig, 360, barmode="stack", xaxis={"tickangle": -45})


def counts_chart(rows: list[tuple[str, int]], color: str, name: str) -> go.Figure:
    """A horizontal bar per (label, count) row."""
    fig = go.Figure(
        go.Bar(
            orientation="h",
            y=[label(k) for k, _ in rows],
            x=[n for _, n in rows],
            marker={"color": color},
            name=name,
        )
    )
    return _layout(
        fig,
        100 + 28 * len(rows),
        yaxis={"autorange": "reversed"},
        xaxis=count_axis([n for _, n in rows]),
    )


def trend_chart(data: ReportData) -> go.Figure:
    """Articles written, dead letters and new stories per run."""
    runs = [label(t.run_id) for t in data.trend]
    series = (
        ("articles written", [t.written for t in data.trend]),
        ("dead letters", [t.dead_letters for t in data.trend]),
        ("new stories", [t.new_stories for t in data.trend]),
        ("filtered", [t.filtered for t in data.trend]),
    )
    fig = go.Figure(
        [
            go.Scatter(x=runs, y=values, name=name, mode="lines+markers", line={"color": color})
            for (name, values), color in zip(series, LINE_COLORS, strict=True)
        ]
    )
    return _layout(fig, 320, xaxis={"type": "category"})


def build_charts(data: ReportData) -> dict[str, Chart]:
    """Every chart the data has something for, by id."""
    charts = [Chart("chart-funnel", "Funnel", funnel_chart(data))]
    if data.funnel.drops:
        charts.append(Chart("chart-drops", "Dropped by stage and reason", drops_chart(data)))
    if data.outlets:
        charts.append(Chart("chart-outlets", "Articles per outlet", outlets_chart(data)))
        charts.append(Chart("chart-languages", "Languages per outlet", language_chart(data)))
    if data.days:
        charts.append(Chart("chart-days", f"Articles per {data.day_bucket}", days_chart(data)))
    counted = (
        ("chart-copies", "Copies by method", data.copies, COLORS["copies"], "copies"),
        ("chart-quality", "Quality flags", data.quality, COLORS["filtered"], "articles"),
    )
    for chart_id, title, rows, color, name in counted:
        if rows:
            charts.append(Chart(chart_id, title, counts_chart(rows, color, name)))
    if len(data.trend) > 1:
        charts.append(Chart("chart-trend", "Run over run", trend_chart(data)))
    return {c.chart_id: c for c in charts}
