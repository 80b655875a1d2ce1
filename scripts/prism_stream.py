"""Run the streaming pipeline on Prism against a local server whose feeds change over time.

    python scripts/prism_stream.py [--prism .tools/prism/prism] [--feeds a,b] [--snapshots N]
        [--snapshot_every_s S] [--interval_s I] [--window_s W] [--duration_s D] [--out DIR]

A server on 127.0.0.1 (benchmarks/incremental.py's ConditionalServer) serves tempo-history
snapshots in time order, moving every feed to its next snapshot every ``--snapshot_every_s``
seconds, with a generated page per linked article. ``pipelines/stream.py`` runs as a subprocess on
``--runner=PrismRunner --prism_location=<binary> --environment_type=LOOPBACK`` for a bounded time.
While it runs, this script lists Parquet files as they appear; afterwards it reads them back with
DuckDB and checks that every article appears once across all windows and every page was fetched
once. Prints (and writes to <out>/report.json) the measured numbers.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import duckdb
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# benchmarks/ is not a package: import its replay server as a top-level module (as dedup.py does).
sys.path.insert(0, str(ROOT / "benchmarks"))

from incremental import (  # noqa: E402
    CORPUS,
    ConditionalServer,
    Snapshot,
    article_page,
    feed_version,
    fetch_config,
    item_set,
    localize,
    snapshots,
    write_outlets,
)

DEFAULT_PRISM = ROOT / ".tools" / "prism" / "prism"


def serve_snapshot(server: ConditionalServer, feed: str, snap: Snapshot, links: set[str]) -> None:
    """Point the feed's path at ``snap`` and add a page for each link it lists."""
    base = server.url("")
    body = localize(snap.path.read_bytes(), base)
    for link, title, description, *_ in item_set(body):
        path = link.removeprefix(base)
        if path.startswith("/") and path not in server.pages:
            server.pages[path] = article_page(title, description, len(server.pages))
        if path.startswith("/"):
            links.add(path)
    server.feeds[f"/feeds/{feed}.xml"] = feed_version(body, snap.taken_at)


def advance_snapshots(
    server: ConditionalServer,
    plan: dict[str, list[Snapshot]],
    every_s: float,
    links: set[str],
    stop: threading.Event,
    log: list[dict[str, Any]],
    t0: float,
) -> None:
    """Move every feed to its next snapshot every ``every_s`` seconds until ``stop``."""
    step = 1
    while not stop.wait(every_s):
        moved = False
        for feed, snaps in plan.items():
            if step < len(snaps):
                serve_snapshot(server, feed, snaps[step], links)
                moved = True
        if not moved:
            return
        log.append({"t_s": round(time.time() - t0, 1), "snapshot_step": step})
        step += 1


def watch_files(out: Path, seen: dict[str, float], t0: float) -> None:
    """Record the first time each Parquet file under ``out`` is seen."""
    for path in out.glob("*/window=*/*.parquet"):
        key = str(path.relative_to(out))
        if key not in seen:
            seen[key] = round(time.time() - t0, 1)
            print(f"  +{seen[key]:6.1f}s {key}", file=sys.stderr)


def check_output(out: Path, server: ConditionalServer, links: set[str]) -> dict[str, Any]:
    """Read the tables back with DuckDB: each article once, each page fetched once, balances."""
    articles = str(out / "articles" / "*" / "*.parquet")
    filtered = str(out / "filtered" / "*" / "*.parquet")
    con = duckdb.connect()
    total, ids, urls = con.sql(
        f"SELECT count(*), count(DISTINCT article_id), count(DISTINCT url) FROM '{articles}'"
    ).fetchall()[0]
    per_window = con.sql(
        f"SELECT regexp_extract(filename, 'window=([^/]+)', 1) AS w, count(*) "
        f"FROM read_parquet('{articles}', filename=true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    reasons = con.sql(
        f"SELECT stage || ':' || reason, count(*) FROM '{filtered}' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    summaries = [json.loads(p.read_text()) for p in sorted((out / "windows").glob("*.json"))]
    fetches = Counter(server.hits[path] for path in links)
    return {
        "articles_rows": total,
        "distinct_article_ids": ids,
        "distinct_urls": urls,
        "each_article_once": total == ids == urls,
        "articles_per_window": dict(per_window),
        "filtered_by_reason": dict(reasons),
        "distinct_links_served": len(links),
        "page_fetches_histogram": dict(sorted(fetches.items())),
        "window_summaries": len(summaries),
        "windows_balanced": sum(1 for s in summaries if s["balance"]["balanced"]),
        "entries_total": sum(s["balance"]["entries"] for s in summaries),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: serve, run on Prism, watch, check; print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prism", default=str(DEFAULT_PRISM))
    parser.add_argument("--feeds", default="free-cekfakta,free-investigasi")
    parser.add_argument("--snapshots", type=int, default=8, help="snapshots per feed, in order")
    parser.add_argument("--snapshot_every_s", type=float, default=10.0)
    parser.add_argument("--interval_s", type=float, default=5.0)
    parser.add_argument("--window_s", type=float, default=20.0)
    parser.add_argument("--duration_s", type=float, default=90.0)
    parser.add_argument("--out", default=str(ROOT / "out" / "prism-stream"))
    args = parser.parse_args(argv)
    if not Path(args.prism).exists():
        print(f"no Prism binary at {args.prism}: run scripts/build-prism.sh", file=sys.stderr)
        return 2
    work = Path(args.out)
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    out = work / "out"
    plan = {f: snapshots(CORPUS, f, args.snapshots) for f in args.feeds.split(",")}
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({"fetch": fetch_config(retries=0, read_timeout_s=10)}))
    links: set[str] = set()
    file_times: dict[str, float] = {}
    snapshot_log: list[dict[str, Any]] = []
    with ConditionalServer() as server:
        outlets = write_outlets(
            work / "outlets.yaml",
            "tempo",
            [server.url(f"/feeds/{feed}.xml") for feed in plan],
            "id",
        )
        for feed, snaps in plan.items():
            serve_snapshot(server, feed, snaps[0], links)
        # Start on a window boundary so the first window is whole.
        start = (int(time.time()) // int(args.window_s) + 1) * int(args.window_s)
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
            "--interval_s",
            str(args.interval_s),
            "--window_s",
            str(args.window_s),
            "--start",
            dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--duration_s",
            str(args.duration_s),
            "--runner=PrismRunner",
            f"--prism_location={args.prism}",
            "--environment_type=LOOPBACK",
        ]
        print("running:", " ".join(command), file=sys.stderr)
        t0 = time.time()
        stop = threading.Event()
        mover = threading.Thread(
            target=advance_snapshots,
            args=(server, plan, args.snapshot_every_s, links, stop, snapshot_log, float(start)),
            daemon=True,
        )
        log_path = work / "pipeline.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            # Snapshots move on from the first poll, not from the job's submission.
            while time.time() < start and proc.poll() is None:
                time.sleep(0.2)
            mover.start()
            # Bounded: the job stops polling after duration_s; allow startup and drain time.
            deadline = t0 + args.duration_s + (start - t0) + 300
            while proc.poll() is None and time.time() < deadline:
                watch_files(out, file_times, float(start))
                time.sleep(1)
            if proc.poll() is None:
                proc.kill()
            stop.set()
        watch_files(out, file_times, float(start))
        elapsed = time.time() - t0
        report = {
            "runner": "PrismRunner",
            "prism": args.prism,
            "exit_code": proc.returncode,
            "wall_s": round(elapsed, 1),
            "first_poll_after_submit_s": round(start - t0, 1),
            "duration_s": args.duration_s,
            "interval_s": args.interval_s,
            "window_s": args.window_s,
            "feeds": list(plan),
            "snapshots_per_feed": {f: len(s) for f, s in plan.items()},
            "snapshot_every_s": args.snapshot_every_s,
            "snapshot_changes": snapshot_log,
            "feed_polls": len(server.feed_statuses),
            "files_seen_at_s": file_times,
            **(check_output(out, server, links) if file_times else {}),
        }
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if proc.returncode == 0 and report.get("each_article_once") else 1


if __name__ == "__main__":
    sys.exit(main())
