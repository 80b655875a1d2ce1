"""What a run did, for a terminal: the run summary, and a report of a finished run's tables.

python -m pipelines.report OUTPUT_DIR
"""

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import pyarrow.dataset as ds

from transforms.core.tables import read_json


def _rows(path: Path, columns: list[str]) -> list[dict[str, Any]]:
    """Read selected columns of a Parquet table directory (Hive partitions included)."""
    if not path.exists():
        return []
    dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    return list(dataset.to_table(columns=columns).to_pylist())


def report(output: str) -> str:
    """Render the run summary plus per-outlet, language and duplicate breakdowns."""
    root = Path(output)
    summary = read_json(str(root / "run.json"))
    articles = _rows(
        root / "articles", ["outlet_id", "language", "title", "dup_method", "duplicate_of"]
    )
    lines = [
        f"run {summary['run_id']}: balanced={summary['balance']['balanced']}",
        "tables (Parquet):",
    ]
    for name in ("articles", "dead_letters", "filtered"):
        files = sorted((root / name).rglob("*.parquet")) if (root / name).exists() else []
        lines.append(f"  {root / name}/  ({len(files)} files)")
    by_outlet = Counter(a["outlet_id"] for a in articles)
    by_lang = Counter(a["language"] for a in articles)
    lines.append("")
    lines.append(
        "articles per outlet: " + ", ".join(f"{k} {v}" for k, v in sorted(by_outlet.items()))
    )
    lines.append("languages: " + ", ".join(f"{k} {v}" for k, v in by_lang.most_common()))
    dups = [a for a in articles if a["dup_method"]]
    if dups:
        lines.append("labelled duplicates:")
        for a in sorted(dups, key=lambda x: (x["dup_method"], x["outlet_id"])):
            lines.append(f"  [{a['dup_method']}] {a['outlet_id']}: {(a['title'] or '')[:70]}")
    lines.append("")
    lines.append(
        'query: duckdb -c "SELECT outlet_id, language, title FROM '
        f"read_parquet('{root}/articles/**/*.parquet', hive_partitioning=true) LIMIT 10\""
    )
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """Render the run summary for a terminal."""
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
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(report(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
