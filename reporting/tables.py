"""An output directory's tables as DuckDB views, and its run summaries in run order."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import duckdb
import pyarrow as pa

from transforms.core.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_STATE_SCHEMA,
    FILTERED_SCHEMA,
    LEDGER_SCHEMA,
    SIGNATURE_SCHEMA,
    STORY_SCHEMA,
)
from transforms.core.tables import read_json

# view name -> (directory under the output, schema). The first four are always defined (empty
# when the run wrote none); the others only where the output has them.
TABLES: Mapping[str, tuple[str, pa.Schema]] = {
    "articles": ("articles", ARTICLE_SCHEMA),
    "stories": ("stories", STORY_SCHEMA),
    "dead_letters": ("dead_letters", DEAD_LETTER_SCHEMA),
    "filtered": ("filtered", FILTERED_SCHEMA),
    "signatures": ("signatures", SIGNATURE_SCHEMA),
    "ledger": ("ledger", LEDGER_SCHEMA),
    "feed_states": ("state/feeds", FEED_STATE_SCHEMA),
}
ALWAYS = frozenset({"articles", "stories", "dead_letters", "filtered"})
# transforms/sinks/parquet.py names files part-<run_id>-<shard>-of-<shards>.parquet (or
# part-<run_id>-empty.parquet): tables without a run_id column get theirs from the file name.
RUN_FROM_FILE = r"part-(.+)-(?:\d{5}-of-\d{5}|empty)\.parquet$"
PARTITION_COLUMNS = ("date", "window")
_NATURAL = re.compile(r"(\d+)")


def natural_key(run_id: str) -> tuple[Any, ...]:
    """Sort key that puts ``run2`` before ``run10`` (default run ids are UTC times anyway)."""
    return tuple(int(p) if p.isdigit() else p for p in _NATURAL.split(run_id))


def local_output(output: str) -> Path:
    """The output directory as a local path; other filesystems are refused with a clear error."""
    if "://" in output and not output.startswith("file://"):
        raise ValueError(f"{output!r}: reports and queries read local output directories only")
    path = Path(output.removeprefix("file://"))
    if not path.is_dir():
        raise ValueError(f"{output!r} is not a directory")
    return path


def _files(directory: Path) -> list[str]:
    """Every Parquet file below ``directory`` (Hive partitions included), sorted."""
    return sorted(str(p) for p in directory.rglob("*.parquet")) if directory.is_dir() else []


def sql_string(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def _create_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into a DuckDB table (so no helper registration stays visible)."""
    con.register("_arrow_source", table)
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_source")
    con.unregister("_arrow_source")


@dataclass(frozen=True)
class RunSummary:
    """One run's ``runs/<run_id>.json`` (or ``run.json``), in run order."""

    run_id: str
    summary: dict[str, Any]


def run_summaries(root: Path) -> list[RunSummary]:
    """The output's run summaries, oldest first; ``run.json`` alone without ``runs/``."""
    found = {p.stem: read_json(str(p)) for p in (root / "runs").glob("*.json")}
    if not found and (root / "run.json").is_file():
        latest = read_json(str(root / "run.json"))
        found[str(latest["run_id"])] = latest
    return [RunSummary(run_id, found[run_id]) for run_id in sorted(found, key=natural_key)]


def latest_summary(root: Path, runs: list[RunSummary]) -> Optional[dict[str, Any]]:
    """The summary in ``run.json`` (the latest run), else the last of ``runs``."""
    if (root / "run.json").is_file():
        return read_json(str(root / "run.json"))
    return runs[-1].summary if runs else None


def connect(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table of ``output`` (and ``runs``)."""
    root = local_output(output)
    con = duckdb.connect()
    # Timestamps are stored in UTC; show them in UTC whatever the machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    for view, (directory, schema) in TABLES.items():
        has_run_id = "run_id" in schema.names
        if not _files(root / directory):
            if view in ALWAYS:
                empty = schema.empty_table()
                if not has_run_id:
                    empty = empty.append_column("run_id", pa.array([], pa.string()))
                _create_table(con, view, empty)
            continue
        source = (
            f"read_parquet({sql_string(str(root / directory / '**' / '*.parquet'))}, "
            "hive_partitioning = true, union_by_name = true, filename = true)"
        )
        run_col = (
            "" if has_run_id else f", regexp_extract(filename, '{RUN_FROM_FILE}', 1) AS run_id"
        )
        con.execute(f"CREATE VIEW {view} AS SELECT * EXCLUDE (filename){run_col} FROM {source}")
    _create_table(con, "runs", runs_table(run_summaries(root)))
    return con


# The ``runs`` view: a column per headline number of the run summaries (path in run.json).
RUN_FIELDS: Mapping[str, tuple[str, ...]] = {
    "feeds_configured": ("feeds", "configured"),
    "feeds_failed": ("feeds", "failed"),
    "entries_in": ("entries_in",),
    "written": ("articles", "written"),
    "duplicates": ("articles", "duplicates_total"),
    "filtered": ("filtered", "total"),
    "dead_letters": ("dead_letters", "total"),
    "stories_touched": ("stories", "touched"),
    "multi_outlet_stories": ("stories", "multi_outlet"),
}
RUNS_SCHEMA = pa.schema(
    [
        ("run_order", pa.int64()),
        ("run_id", pa.string()),
        *((name, pa.int64()) for name in RUN_FIELDS),
        ("balanced", pa.bool_()),
    ]
)


def _dig(summary: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a run summary."""
    value: Any = summary
    for key in path:
        value = value[key]
    return value


def runs_table(runs: list[RunSummary]) -> pa.Table:
    """The run summaries' headline numbers, one row per run in run order (the ``runs`` view)."""
    rows = [
        {
            "run_order": order,
            "run_id": run.run_id,
            **{name: _dig(run.summary, path) for name, path in RUN_FIELDS.items()},
            "balanced": bool(run.summary["balance"]["balanced"]),
        }
        for order, run in enumerate(runs)
    ]
    return pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)
