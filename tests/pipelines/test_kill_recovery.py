"""An incremental run SIGKILLed mid-job loses nothing and doubles nothing on the next run.

A local server serves one feed of 24 generated article pages, each answered slowly, so the job
is still fetching when it is killed (a subprocess on FnApiRunner, SIGKILL after 8 pages were
served: no cleanup, no finally blocks). The next run (a new run id, as the next scheduled run
would be) must write every article exactly once, record every link in the ledger exactly once,
and leave a feed state that points at the current feed; a third run must find nothing to do.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from pipelines.ingest import run
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from incremental import (
    ConditionalServer,
    article_page,
    feed_version,
    fetch_config,
    write_outlets,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PAGES = 24
KILL_AFTER_PAGES = 8


class SlowPages(ConditionalServer):
    """Pages take 0.4 s each: the job is mid-fetch for several seconds."""

    def answer(self, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/news/"):
            time.sleep(0.4)
        return super().answer(path, headers)


def rss(server: ConditionalServer, count: int) -> bytes:
    items = "".join(
        f"<item><title>Berita nomor {i}</title><link>{server.url(f'/news/{i}.html')}</link>"
        f"<guid>{server.url(f'/news/{i}.html')}</guid>"
        f"<pubDate>Tue, 24 Nov 2026 0{i % 10}:00:00 GMT</pubDate>"
        f"<description>Ringkasan berita nomor {i}</description></item>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{server.url('/')}</link>{items}</channel></rss>"
    ).encode()


def table(output: Path, name: str) -> list[dict[str, object]]:
    path = output / name
    if not path.exists():
        return []
    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table().to_pylist()


def job_args(work: Path, outlets: Path, run_id: str) -> list[str]:
    return [
        "--outlets",
        str(outlets),
        "--config",
        str(work / "config.yaml"),
        "--output",
        str(work / "out"),
        "--run_id",
        run_id,
        "--as_of",
        "2026-11-25",
        "--incremental",
        "--runner=FnApiRunner",
    ]


def test_sigkilled_incremental_run_is_completed_by_the_next(tmp_path: Path) -> None:
    config = {
        "fetch": fetch_config(retries=0, read_timeout_s=10, total_timeout_s=30),
        "incremental": {"enabled": True, "retention_days": 30},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with SlowPages() as server:
        body = rss(server, PAGES)
        server.feeds["/feed.xml"] = feed_version(body, dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
        for i in range(PAGES):
            server.pages[f"/news/{i}.html"] = article_page(f"Berita nomor {i}", f"Isi {i}", i)
        outlets = write_outlets(tmp_path / "outlets.yaml", "lokal", [server.url("/feed.xml")], "id")

        # Run 1: killed while fetching.
        log = (tmp_path / "killed.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.ingest", *job_args(tmp_path, outlets, "r1")],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            served = sum(n for path, n in server.hits.items() if path.startswith("/news/"))
            if served >= KILL_AFTER_PAGES:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the job ended before it could be killed mid-fetch"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        fetched_before_kill = sum(n for p, n in server.hits.items() if p.startswith("/news/"))
        assert KILL_AFTER_PAGES <= fetched_before_kill < PAGES
        # The killed run committed nothing: no articles, no ledger entries, no run summary.
        assert table(tmp_path / "out", "articles") == []
        assert table(tmp_path / "out", "ledger") == []
        assert not (tmp_path / "out" / "run.json").exists()

        # Run 2 (the next run) completes the work.
        summary = run(job_args(tmp_path, outlets, "r2"))
        assert summary["balance"]["balanced"] is True
        # Run 3: nothing left to do.
        third = run(job_args(tmp_path, outlets, "r3"))

    out = tmp_path / "out"
    articles = table(out, "articles")
    urls = Counter(str(a["url"]) for a in articles)
    assert len(urls) == PAGES, sorted(urls)
    assert max(urls.values()) == 1, "an article was written twice"
    ledger = table(out, "ledger")
    keys = Counter(str(e["link_key"]) for e in ledger)
    assert len(keys) == PAGES and max(keys.values()) == 1, keys
    assert {e["outcome"] for e in ledger} == {"fetched"}, Counter(e["outcome"] for e in ledger)
    states = table(out, "state/feeds")
    assert {s["run_id"] for s in states} <= {"r2", "r3"}
    latest = max(states, key=lambda s: str(s["run_id"]))
    assert latest["entry_count"] == PAGES
    assert third["articles"]["written"] == 0
    assert third["incremental"]["already_fetched"] in (0, PAGES)  # 304: no entries at all
