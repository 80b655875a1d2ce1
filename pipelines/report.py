"""``newsbeam report`` and ``newsbeam query``: the run's tables for people (wiring only).

newsbeam report OUTPUT [-o report.html] [--max_stories N]   # one self-contained HTML file
newsbeam query "SQL" [--output DIR] [--max_rows N] [--format table|csv]
python -m pipelines.report OUTPUT                            # the same as newsbeam report
"""

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Optional

REPORT_DESCRIPTION = """Write one self-contained HTML report of a run's output directory.

The funnel and balance of the latest run, articles per outlet and day, languages, stories,
quality flags, failing hosts, and the run-over-run trend when the output holds several runs.
Opens without a network (plotly.js is inlined).
"""
QUERY_DESCRIPTION = """Run SQL (DuckDB) over an output directory's tables.

Views: articles, stories, dead_letters, filtered, runs, and signatures, ledger, feed_states
where the output has them; tables without a run_id column get one from their file names.
Without SQL, lists the views and their columns.
"""


def program_name() -> str:
    """How to call ``newsbeam`` from here: the bare name when it is on PATH, else its path.

    ``make demo`` runs from a venv that is not activated: the hint it prints must work as
    printed, so it names ``.venv/bin/newsbeam``.
    """
    script = os.path.join(os.path.dirname(sys.executable), "newsbeam")
    on_path = shutil.which("newsbeam")
    if on_path and os.path.realpath(on_path) == os.path.realpath(script):
        return "newsbeam"
    if not os.path.exists(script):
        return "newsbeam"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else script


def report_main(argv: Optional[Sequence[str]] = None) -> int:
    """``newsbeam report OUTPUT [-o PATH]``: write the report, print its headline and path."""
    parser = argparse.ArgumentParser(prog="newsbeam report", description=REPORT_DESCRIPTION)
    parser.add_argument("output", help="the run's output directory (local)")
    parser.add_argument(
        "-o", "--out", default=None, help="the report file (default: OUTPUT/report.html)"
    )
    parser.add_argument(
        "--max_stories", type=int, default=100, help="stories listed on the page (default 100)"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    # plotly, jinja2 and DuckDB load only for the commands that use them.
    from reporting.aggregate import Limits
    from reporting.html import build_report
    from reporting.text import format_report_summary

    try:
        path, data = build_report(args.output, args.out, Limits(stories=args.max_stories))
    except (ValueError, OSError) as exc:
        print(f"newsbeam report: error: {exc}", file=sys.stderr)
        return 2
    print(format_report_summary(data, path, program_name()))
    return 0


def query_main(argv: Optional[Sequence[str]] = None) -> int:
    """``newsbeam query "SQL" [--output DIR]``: print the result as a table (or CSV)."""
    parser = argparse.ArgumentParser(prog="newsbeam query", description=QUERY_DESCRIPTION)
    parser.add_argument("sql", nargs="?", default="", help="one SQL statement (quote it)")
    parser.add_argument("--output", default=".", help="the run's output directory (default .)")
    parser.add_argument("--max_rows", type=int, default=100, help="rows printed (default 100)")
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    from reporting.query import run_command

    try:
        code, text = run_command(args.output, args.sql, args.max_rows, args.format)
    except (ValueError, OSError) as exc:
        print(f"newsbeam query: error: {exc}", file=sys.stderr)
        return 2
    print(text, file=sys.stderr if code else sys.stdout)
    return code


main = report_main

if __name__ == "__main__":
    sys.exit(main())
