"""Flink scenarios over a live local server (used by flink_run.py incremental|stream).

- ``compare_incremental``: tempo-history snapshots (``benchmarks/incremental.py``'s server and
  schedule) as successive ``--incremental`` runs; at every step the same server answers a run on
  FnApiRunner and a run on Flink, each with its own output (ledger, feed state, signatures read
  back across runs). Afterwards every table, the ledger and the feed state are compared row for
  row; only wall-clock columns (when this run fetched or checked) are left out, since the pages
  are fetched live, not replayed.
- ``run_stream``: ``pipelines/stream.py`` with ``--streaming`` on Flink against a server whose feeds
  move to their next snapshot every few seconds (``scripts/prism_stream.py``'s pieces): files per
  window are listed while it runs; afterwards every article must appear once.
"""

import datetime as dt
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import incremental  # noqa: E402
from flink_run import FlinkServices, service_env  # noqa: E402
from prism_stream import advance_snapshots, check_output, serve_snapshot, watch_files  # noqa: E402

from pipelines.ingest import run  # noqa: E402

# Table -> (sort key, wall-clock columns left out of the comparison).
LIVE_TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "articles": (("article_id",), frozenset({"fetched_at"})),
    "stories": (("story_id",), frozenset({"first_seen", "last_seen"})),
    "signatures": (("article_id",), frozenset({"fetched_at"})),
    "filtered": (("stage", "url", "reason"), frozenset({"filtered_at"})),
    "dead_letters": (("stage", "url", "error_type"), frozenset({"failed_at"})),
    "ledger": (("link_key", "fetched_at"), frozenset({"fetched_at"})),
    "state/feeds": (("feed_url", "run_id"), frozenset({"checked_at", "changed_at"})),
}


# filtered.detail of an already-fetched link names when the earlier run fetched it (wall clock).
_FETCHED_AT_RE = re.compile(r" at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def read_sorted(output: Path, name: str, keys: Sequence[str]) -> pa.Table:
    """One table (all partitions) sorted by ``keys``; empty when it does not exist."""
    path = output / name
    if not path.exists():
        return pa.table({})
    table = ds.dataset(str(path), format="parquet", partitioning="hive").to_table()
    return table.sort_by([(key, "ascending") for key in keys])


def compare_live(expected: Path, actual: Path) -> tuple[list[str], dict[str, int]]:
    """Differences between two outputs of live runs (all tables, ledger, feed state); row counts."""
    problems: list[str] = []
    rows: dict[str, int] = {}
    for name, (keys, wall_clock) in LIVE_TABLES.items():
        left, right = read_sorted(expected, name, keys), read_sorted(actual, name, keys)
        rows[name] = left.num_rows
        if left.num_rows != right.num_rows:
            problems.append(f"{name}: row counts differ: {left.num_rows} != {right.num_rows}")
            continue
        for column in left.column_names:
            if column in wall_clock:
                continue
            a, b = left.column(column).to_pylist(), right.column(column).to_pylist()
            if (name, column) == ("filtered", "detail"):
                a = [_FETCHED_AT_RE.sub(" at <time>", x) if x else x for x in a]
                b = [_FETCHED_AT_RE.sub(" at <time>", x) if x else x for x in b]
            bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
            if bad:
                problems.append(f"{name}.{column}: {len(bad)} rows differ, first {a[bad[0]]!r}")
    return problems, rows


def compare_incremental(
    services: FlinkServices, work: Path, feeds: Sequence[str], limit: int
) -> dict[str, Any]:
    """Successive incremental runs, each on FnApiRunner and on Flink; compare the end state."""
    flink_out = work / "replay" / "out-flink"
    steps: list[dict[str, Any]] = []

    def run_both(
        outlets: Path, config: Path, output: Path, run_id: str, as_of: dt.date | None = None
    ) -> dict[str, Any]:
        common = ["--outlets", str(outlets), "--config", str(config), "--run_id", run_id]
        common += ["--incremental", *(["--as_of", as_of.isoformat()] if as_of else [])]
        t0 = time.time()
        summary: dict[str, Any] = run([*common, "--output", str(output), "--runner=FnApiRunner"])
        t1 = time.time()
        flink = run([*common, "--output", str(flink_out), *services.runner_args()])
        t2 = time.time()
        job = services.latest_job()
        steps.append(
            {
                "run_id": run_id,
                "fnapi_s": round(t1 - t0, 1),
                "flink_s": round(t2 - t1, 1),
                "written": summary["articles"]["written"],
                "already_fetched": summary["incremental"]["already_fetched"],
                "summaries_equal": {**summary, "output": None} == {**flink, "output": None},
                "subtasks_per_taskmanager": job["subtasks_per_taskmanager"],
            }
        )
        return summary

    incremental.run_once = run_both  # replay() calls it once per step
    (work / "replay").mkdir(parents=True, exist_ok=True)
    result = incremental.replay(feeds, work / "replay", limit=limit)
    problems, rows = compare_live(work / "replay" / "out", flink_out)
    return {
        "runs": result.runs,
        "feeds": list(feeds),
        "steps": steps,
        "fnapi_s": round(sum(s["fnapi_s"] for s in steps), 1),
        "flink_s": round(sum(s["flink_s"] for s in steps), 1),
        "rows": rows,
        "match": not problems and all(s["summaries_equal"] for s in steps),
        "problems": problems,
    }


def run_stream(
    services: FlinkServices, work: Path, feeds: Sequence[str], duration_s: float
) -> dict[str, Any]:
    """pipelines/stream.py on Flink --streaming against changing feeds; files per window, once."""
    out = work / "stream" / "out"
    (work / "stream").mkdir(parents=True, exist_ok=True)
    plan = {f: incremental.snapshots(incremental.CORPUS, f, 8) for f in feeds}
    config = work / "stream" / "config.yaml"
    config.write_text(yaml.safe_dump({"fetch": incremental.fetch_config(retries=0)}))
    links: set[str] = set()
    file_times: dict[str, float] = {}
    snapshot_log: list[dict[str, Any]] = []
    window_s, interval_s, every_s = 20, 5, 8.0
    with incremental.ConditionalServer() as server:
        outlets = incremental.write_outlets(
            work / "stream" / "outlets.yaml",
            "tempo",
            [server.url(f"/feeds/{feed}.xml") for feed in plan],
            "id",
        )
        for feed, snaps in plan.items():
            serve_snapshot(server, feed, snaps[0], links)
        # The job needs ~30 s to be submitted and deployed: start polling after that.
        start = (int(time.time()) // window_s + 3) * window_s
        command = [
            sys.executable,
            "-m",
            "pipelines.stream",
            "--outlets",
            str(outlets),
            "--output",
            str(out),
            "--config",
            str(config),
            f"--interval_s={interval_s}",
            f"--window_s={window_s}",
            "--start",
            dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            f"--duration_s={duration_s}",
            *services.runner_args(streaming=True),
        ]
        t0 = time.time()
        stop = threading.Event()
        mover = threading.Thread(
            target=advance_snapshots,
            args=(server, plan, every_s, links, stop, snapshot_log, float(start)),
            daemon=True,
        )
        with (work / "stream" / "pipeline.log").open("w") as log:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=service_env(), stdout=log, stderr=subprocess.STDOUT
            )
            while time.time() < start and proc.poll() is None:
                time.sleep(0.2)
            mover.start()
            deadline = start + duration_s + 300
            while proc.poll() is None and time.time() < deadline:
                watch_files(out, file_times, float(start))
                time.sleep(1)
            if proc.poll() is None:
                proc.kill()
            stop.set()
        watch_files(out, file_times, float(start))
        job = services.latest_job()
        report: dict[str, Any] = {
            "exit_code": proc.returncode,
            "wall_s": round(time.time() - t0, 1),
            "first_poll_after_submit_s": round(start - t0, 1),
            "duration_s": duration_s,
            "window_s": window_s,
            "feeds": list(plan),
            "snapshot_changes": len(snapshot_log),
            "feed_polls": len(server.feed_statuses),
            "files_seen_at_s": file_times,
            "job": job,
            **(check_output(out, server, links) if file_times else {}),
        }
    return report
