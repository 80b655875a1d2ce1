"""The demo on PortableRunner with an external worker pool equals the default runner, row for row.

Beam's Python job service and worker pool run as separate processes: the pipeline is serialized
to a portable proto, its DoFns are pickled and unpickled in other interpreters, exactly as on
Flink or Spark. A DoFn that closes over something unpicklable fails here, not in production.
"""

import pytest

from pipelines.ingest import run
from scripts.compare_runs import compare_runs, read_table
from tests.conftest import DEMO
from tests.pipelines.portable_services import portable_services

pytestmark = pytest.mark.slow


def demo_args(out, run_id):
    return [
        "--outlets",
        str(DEMO / "outlets.yaml"),
        "--replay",
        str(DEMO / "recording"),
        "--output",
        str(out),
        "--run_id",
        run_id,
        "--as_of",
        "2026-11-25",
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("fnapi")
    summary = run([*demo_args(out, "demo"), "--runner=FnApiRunner"])
    return out, summary


def test_portable_runner_with_worker_pool_matches_default_runner(reference, tmp_path):
    expected, expected_summary = reference
    out = tmp_path / "portable"
    with portable_services(tmp_path / "services") as services:
        summary = run([*demo_args(out, "demo"), *services.runner_args()])
    pool_log = (tmp_path / "services" / "worker_pool.log").read_text()
    # The work really ran in SDK workers the pool started, not in this process.
    assert "Starting worker with command" in pool_log, pool_log
    assert summary["balance"]["balanced"] is True
    # run.json names the output directory; every count must be the same.
    assert {**summary, "output": None} == {**expected_summary, "output": None}
    assert read_table(out, "articles").num_rows >= 30
    # Every table row for row; only filtered_at/failed_at (wall clock) may differ.
    assert compare_runs(expected, out) == []
