"""The demo on a real Flink cluster (1 JobManager, 2 TaskManagers) equals FnApiRunner, row for row.

Cluster up (``scripts/flink-cluster.sh``), Beam's Flink job server (built once by
``scripts/flink-setup.sh`` from ``deploy/flink/pom.xml``, cached in ``.tools/``), a worker pool, the
demo submitted with ``--runner=PortableRunner --parallelism=2``, every table compared with a
FnApiRunner run, Flink's REST API asked which TaskManagers ran the job, then everything stopped
and checked gone. Skips only where Java or Maven is missing.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MISSING = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]


def cluster_jvms() -> list[str]:
    """Pids of this checkout's Flink JVMs (their log file is under .tools/flink-logs)."""
    pattern = f"-Dlog.file={ROOT / '.tools' / 'flink-logs'}/"
    found = subprocess.run(["pgrep", "-f", "--", pattern], stdout=subprocess.PIPE, text=True)
    return found.stdout.split()


@pytest.mark.skipif(bool(MISSING), reason=f"Flink test needs java and mvn; missing: {MISSING}")
def test_demo_on_flink_cluster_matches_fnapi_runner(tmp_path: Path) -> None:
    from flink_run import DEMO_ARGS, compare_batch, flink_services

    assert cluster_jvms() == [], "a Flink cluster of this checkout is running: stop it first"
    # Worker threads (one pool process): the demo on worker processes took 263 s vs 155 s here
    # under load, and make test has a 15-minute budget; the scripts default to processes.
    with flink_services(tmp_path / "logs", worker_processes=False) as services:
        report = compare_batch(services, tmp_path, DEMO_ARGS)
        pool_pid = services.procs[1].pid
    assert report["problems"] == [], report
    assert report["match"] is True
    assert report["rows"]["articles"] >= 30
    job = report["job"]
    assert job["state"] == "FINISHED", job
    # Work really ran on both TaskManagers.
    assert set(job["subtasks_per_taskmanager"]) == {"tm-1", "tm-2"}, job
    assert all(busy > 0 for busy in job["busy_s_per_taskmanager"].values()), job
    # Nothing left running: cluster JVMs, job server, worker pool.
    assert cluster_jvms() == []
    alive = subprocess.run(["ps", "-p", str(pool_pid)], stdout=subprocess.PIPE).returncode == 0
    assert not alive
