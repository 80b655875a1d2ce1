"""What the terminal shows of a run: the run summary, and the report's headline numbers.

Light on purpose (no plotly, jinja2 or DuckDB): ``newsbeam ingest`` imports it for every run.
"""

import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reporting.aggregate import ReportData

DEMO_QUERY = "SELECT outlet_id, language, title FROM articles ORDER BY outlet_id LIMIT 10"


def query_command(sql: str, output: str, program: str = "newsbeam") -> str:
    """The shell command that runs ``sql`` on ``output`` (what the report and the demo print)."""
    return f'{program} query "{sql}" --output {shlex.quote(output)}'


def format_summary(summary: dict[str, Any]) -> str:
    """Render the run summary (run.json) for a terminal."""
    arts = summary["articles"]
    lines = [
        f"run {summary['run_id']} -> {summary['output']}",
        f"  feeds: {summary['feeds']['ok']} ok, {summary['feeds']['failed']} failed"
        + (
            f", {summary['feeds']['not_modified']} not modified"
            if "not_modified" in summary["feeds"]
            else ""
        ),
        f"  entries in: {summary['entries_in']}",
        f"  articles written: {arts['written']} ({arts['unique']} originals, of which "
        f"{arts['same_story']} joined another article's story; {arts['duplicates_total']} "
        f"labelled copies {arts['duplicates']})",
        f"  stories: {summary['stories']['touched']} "
        f"({summary['stories']['multi_outlet']} covered by several outlets)",
        f"  filtered: {summary['filtered']['total']} {summary['filtered']['by_stage']}",
        f"  dead letters: {summary['dead_letters']['total']} {summary['dead_letters']['by_stage']}",
        f"  balanced: {summary['balance']['balanced']}",
    ]
    if "report" in summary:
        lines.append(f"  report: {summary['report']}")
    return "\n".join(lines)


def format_report_summary(
    data: "ReportData", path: str, program: str = "newsbeam", stories: int = 5
) -> str:
    """The report's headline numbers, where it was written and how to ask the tables more."""
    totals, balance = data.totals, data.funnel.balance
    verdict = {True: "closes", False: "does not close", None: "unknown (no run.json)"}
    lines = [
        f"{data.output}: {totals['runs']} run(s), latest {data.funnel.run_id}; "
        f"balance {verdict[balance.balanced]}",
        f"  articles: {totals['articles']} ({totals['originals']} originals, "
        f"{totals['copies']} labelled copies"
        + (": " + ", ".join(f"{m} {n}" for m, n in data.copies) if data.copies else "")
        + ")",
        "  per outlet: "
        + ", ".join(f"{o.outlet_id} {o.articles}" for o in data.outlets)
        + (f" (+{data.more_outlets} more)" if data.more_outlets else ""),
        "  languages: " + ", ".join(f"{lang} {n}" for lang, n in data.languages),
        f"  stories: {totals['stories']} ({totals['multi_outlet_stories']} covered by several "
        "outlets)",
    ]
    for story in data.stories[:stories]:
        if story.outlet_count < 2:
            break
        lines.append(
            f"    {story.outlet_count} outlets, {story.article_count} articles, "
            f"{'/'.join(story.languages)}: {story.title[:70]}"
        )
    lines += [
        "",
        f"report: {path}",
        f"query:  {query_command(DEMO_QUERY, data.output, program)}",
    ]
    return "\n".join(lines)
