"""Compare two runs' output tables row for row: python scripts/compare_runs.py EXPECTED ACTUAL."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.dataset as ds

# Table -> (sort key, columns that differ between two runs of the same replay). Under --replay
# every article column is reproducible (fetched_at comes from the recording, ids from content);
# only the wall-clock stamps of filtered and dead-letter rows record when this run saw them.
TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "articles": (("article_id",), frozenset()),
    "stories": (("story_id",), frozenset()),
    "signatures": (("article_id",), frozenset()),
    "filtered": (("stage", "url", "reason"), frozenset({"filtered_at"})),
    "dead_letters": (("stage", "url", "error_type"), frozenset({"failed_at"})),
}


def read_table(output: Path, name: str) -> pa.Table:
    """Read one output table (all partitions) sorted by its key."""
    keys, _ = TABLES[name]
    table = ds.dataset(str(output / name), format="parquet", partitioning="hive").to_table()
    return table.sort_by([(key, "ascending") for key in keys])


def compare_table(expected: Path, actual: Path, name: str) -> list[str]:
    """Return the differences in one table between two runs (empty when equal)."""
    left, right = read_table(expected, name), read_table(actual, name)
    if left.schema != right.schema:
        return [f"{name}: schemas differ:\n{left.schema}\n---\n{right.schema}"]
    if left.num_rows != right.num_rows:
        return [f"{name}: row counts differ: {left.num_rows} != {right.num_rows}"]
    problems: list[str] = []
    for column in left.column_names:
        if column in TABLES[name][1]:
            continue
        a, b = left.column(column).to_pylist(), right.column(column).to_pylist()
        bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if bad:
            i = bad[0]
            problems.append(f"{name}.{column}: {len(bad)} rows differ, first {a[i]!r} != {b[i]!r}")
    return problems


def compare_runs(expected: Path, actual: Path) -> list[str]:
    """Return the differences in every output table between two runs (empty when equal)."""
    return [problem for name in TABLES for problem in compare_table(expected, actual, name)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print a verdict; exit 0 when every table matches row for row, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("expected", type=Path, help="output directory of the reference run")
    parser.add_argument("actual", type=Path, help="output directory of the run to check")
    args = parser.parse_args(argv)
    problems = compare_runs(args.expected, args.actual)
    if problems:
        print("MISMATCH\n  " + "\n  ".join(problems))
        return 1
    rows = ", ".join(f"{name} {read_table(args.expected, name).num_rows}" for name in TABLES)
    print(f"MATCH: row for row ({rows} rows; all columns but filtered_at/failed_at)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
