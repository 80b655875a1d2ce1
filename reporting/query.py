"""``newsbeam query "SQL"``: DuckDB over a run's tables, printed as a readable table or CSV."""

import csv
import io
from dataclasses import dataclass

import duckdb

from reporting.tables import connect

MAX_CELL = 60


@dataclass(frozen=True)
class QueryResult:
    """Column names, the first rows as strings, and whether more rows were cut."""

    columns: list[str]
    rows: list[list[str]]
    truncated: bool


def _text(value: object) -> str:
    """A cell as text: NULL spelled out, lists and structs as DuckDB prints them."""
    return "NULL" if value is None else str(value)


def run_query(output: str, sql: str, max_rows: int = 100) -> QueryResult:
    """Run one SQL statement over ``output``'s views; keep at most ``max_rows`` rows."""
    con = connect(output)
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE VIEW ...)
            return QueryResult([], [], False)
        columns = list(relation.columns)
        # DuckDB renders every type as text itself (timestamps in UTC, lists, structs), so
        # nothing is converted by Python (TIMESTAMPTZ would need pytz).
        as_text = relation.project(
            ", ".join(f'CAST("{c.replace(chr(34), chr(34) * 2)}" AS VARCHAR)' for c in columns)
        )
        fetched = as_text.limit(max_rows + 1).fetchall()
    finally:
        con.close()
    rows = [[_text(v) for v in row] for row in fetched[:max_rows]]
    return QueryResult(columns, rows, len(fetched) > max_rows)


def _cell(value: str) -> str:
    """A cell on one line, cut to a readable width."""
    flat = " ".join(value.split())
    return flat if len(flat) <= MAX_CELL else flat[: MAX_CELL - 1] + "…"


def format_table(result: QueryResult) -> str:
    """Aligned columns with a header rule, and a note when rows were cut."""
    if not result.columns:
        return "ok"
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(result.columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    count = f"{len(result.rows)} row" + ("" if len(result.rows) == 1 else "s")
    more = ", more cut: raise --max_rows or add LIMIT/OFFSET" if result.truncated else ""
    lines.append(f"({count}{more})")
    return "\n".join(lines)


def format_csv(result: QueryResult) -> str:
    """The rows as CSV with a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows(result.rows)
    return buffer.getvalue().rstrip("\n")


def describe_views(output: str) -> list[str]:
    """``view (n rows): column, column, ...`` for every view over ``output``."""
    con = connect(output)
    try:
        lines = []
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for name in names:
            columns = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
            count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            lines.append(f"{name} ({count[0] if count else 0} rows): {', '.join(columns)}")
        return lines
    finally:
        con.close()


def safe_error(exc: duckdb.Error) -> str:
    """DuckDB's message without its multi-line hints."""
    return str(exc).strip().splitlines()[0]


def run_command(output: str, sql: str, max_rows: int, fmt: str) -> tuple[int, str]:
    """Run the query command: (exit code, text to print); no SQL lists the views."""
    statement = sql.strip()
    if not statement:
        return 0, "\n".join(describe_views(output))
    try:
        result = run_query(output, statement, max_rows)
    except duckdb.Error as exc:
        return 1, f"newsbeam query: {safe_error(exc)}"
    return 0, format_csv(result) if fmt == "csv" else format_table(result)
