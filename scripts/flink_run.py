"""Run newsbeam on a local Flink cluster and compare every table with FnApiRunner on the same input.

    python scripts/flink_run.py demo                      # the batch demo
    python scripts/flink_run.py batch --outlets F --replay DIR   # any replayed batch job
    python scripts/flink_run.py incremental [--snapshots N]      # tempo-history, successive runs
    python scripts/flink_run.py stream [--duration_s S]          # pipelines/stream.py --streaming
    python scripts/flink_run.py batch ... --kill_taskmanager_after_s 20   # a TaskManager SIGKILLed
        [--replace_taskmanager_after_s 5]       # ... and a replacement started 5 s later

Pieces (all started here and stopped when the command ends, unless ``--flink_master`` names a
running cluster): the cluster (``scripts/flink-cluster.sh``: one JobManager, two TaskManagers),
Beam's Flink job server (the jar ``scripts/flink-setup.sh`` builds from ``deploy/flink/pom.xml``)
on free ports, and an SDK worker pool (``scripts/flink_worker_pool.py``: Beam's pool stops the
wrong worker when two TaskManagers share it). The job: ``--runner=PortableRunner
--job_endpoint=... --environment_type=EXTERNAL --parallelism=2``. Flink's REST API then says which
TaskManager ran which subtask. Prints a JSON report (also written to <out>/report.json).
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# scripts/ is not a package: import its modules as top-level ones (as prism_stream.py does).
sys.path.insert(0, str(ROOT / "scripts"))

from compare_runs import compare_runs, read_table  # noqa: E402
from subprocs import stop_process  # noqa: E402

TOOLS = ROOT / ".tools"
VENV_BIN = Path(sys.executable).parent
DEMO = ROOT / "seeds" / "demo"
DEMO_ARGS = [
    "--outlets",
    str(DEMO / "outlets.yaml"),
    "--replay",
    str(DEMO / "recording"),
    "--run_id",
    "demo",
    "--as_of",
    "2026-11-25",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Wait until something listens on ``port``; fail if ``proc`` dies first."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listening on {port} after {timeout_s} s")


def service_env() -> dict[str, str]:
    """Environment for services and jobs: this venv first on PATH (workers run a bare python)."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def setup() -> Path:
    """Flink distribution and job server jar (built once, cached in .tools/); the jar's path."""
    result = subprocess.run(
        ["scripts/flink-setup.sh"],
        cwd=ROOT,
        env={**service_env(), "PYTHON": sys.executable},
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(result.stdout.strip().splitlines()[-1])


def rest_get(rest_port: int, path: str) -> Any:
    """GET one Flink REST resource as JSON."""
    url = f"http://127.0.0.1:{rest_port}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@dataclass
class FlinkServices:
    """A cluster (ours or given), a job server and a worker pool; ``runner_args`` submit there."""

    log_dir: Path
    flink_master: Optional[str] = None
    # One process per SDK worker: in one shared process (threads) a native crash of one worker
    # (`free(): invalid pointer` in the pool, once, on a loaded machine) took every worker and the
    # job with it; a crashed worker process fails one task, which Flink restarts.
    worker_processes: bool = True
    rest_port: int = 0
    job_port: int = 0
    pool_port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    own_cluster: bool = False

    def start(self) -> "FlinkServices":
        """Start whatever is missing: cluster, job server, worker pool."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        jar = setup()
        if self.flink_master is None:
            cluster("start")
            self.own_cluster = True
            env = dict(
                line.split("=", 1)
                for line in (TOOLS / "flink-cluster" / "cluster.env").read_text().split()
            )
            self.flink_master = env["FLINK_MASTER"]
        self.rest_port = int(self.flink_master.rsplit(":", 1)[1])
        self.job_port = free_port()
        job_server = [
            "java",
            "-Xmx512m",
            "-jar",
            str(jar),
            f"--flink-master={self.flink_master}",
            "--job-host=127.0.0.1",
            f"--job-port={self.job_port}",
            f"--artifact-port={free_port()}",
            f"--expansion-port={free_port()}",
        ]
        self.procs.append(self._spawn(job_server, "job_server.log"))
        self.pool_port = free_port()
        pool = [sys.executable, str(ROOT / "scripts" / "flink_worker_pool.py"), str(self.pool_port)]
        self.procs.append(
            self._spawn([*pool, *(["--processes"] if self.worker_processes else [])], "pool.log")
        )
        wait_port(self.job_port, self.procs[0], 120)
        wait_port(self.pool_port, self.procs[1])
        return self

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / log_name).open("wb")
        return subprocess.Popen(
            command, cwd=ROOT, env=service_env(), stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        """Stop what was started here (by pid), the cluster last."""
        for proc in reversed(self.procs):
            stop_process(proc, timeout_s=15)
        self.procs.clear()
        if self.own_cluster:
            cluster("stop")
            self.own_cluster = False

    def runner_args(self, parallelism: int = 2, streaming: bool = False) -> list[str]:
        """Beam options that submit a job to this cluster."""
        return [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.pool_port}",
            f"--parallelism={parallelism}",
            *(["--streaming"] if streaming else []),
        ]

    def latest_job(self) -> dict[str, Any]:
        """The most recently started job on the cluster, with per-TaskManager subtask counts."""
        jobs = rest_get(self.rest_port, "/jobs/overview")["jobs"]
        job = max(jobs, key=lambda j: j["start-time"])
        return job_distribution(self.rest_port, job["jid"])


@contextlib.contextmanager
def flink_services(
    log_dir: Path, flink_master: Optional[str] = None, worker_processes: bool = True
) -> Iterator[FlinkServices]:
    """``FlinkServices`` started for the block and stopped after it, whatever happens."""
    services = FlinkServices(log_dir, flink_master, worker_processes)
    try:
        yield services.start()
    finally:
        services.stop()


def cluster(action: str, *args: str) -> str:
    """scripts/flink-cluster.sh start|stop|status|add-taskmanager ID; its output."""
    result = subprocess.run(
        ["scripts/flink-cluster.sh", action, *args],
        cwd=ROOT,
        env={**service_env(), "PYTHON": sys.executable},
        check=action != "status",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return result.stdout


def job_distribution(rest_port: int, job_id: str) -> dict[str, Any]:
    """Where a job's subtasks ran: per TaskManager id, subtasks and busy seconds (REST API)."""
    job = rest_get(rest_port, f"/jobs/{job_id}")
    subtasks: Counter[str] = Counter()
    busy_ms: Counter[str] = Counter()
    records_in: Counter[str] = Counter()
    vertices_on: dict[str, set[str]] = defaultdict(set)
    attempts = 0
    for vertex in job["vertices"]:
        detail = rest_get(rest_port, f"/jobs/{job_id}/vertices/{vertex['id']}")
        for subtask in detail["subtasks"]:
            tm = subtask.get("taskmanager-id", subtask.get("host", "?"))
            subtasks[tm] += 1
            busy_ms[tm] += max(int(subtask.get("duration", 0)), 0)
            records_in[tm] += int(subtask.get("metrics", {}).get("read-records", 0))
            vertices_on[vertex["id"]].add(tm)
            attempts = max(attempts, int(subtask.get("attempt", 0)))
    return {
        "job_id": job_id,
        "name": job["name"],
        "state": job["state"],
        "duration_s": round(job["duration"] / 1000, 1),
        "vertices": len(job["vertices"]),
        "vertices_on_both": sum(1 for tms in vertices_on.values() if len(tms) > 1),
        "subtasks_per_taskmanager": dict(sorted(subtasks.items())),
        "busy_s_per_taskmanager": {k: round(v / 1000, 1) for k, v in sorted(busy_ms.items())},
        "records_read_per_taskmanager": dict(sorted(records_in.items())),
        "max_attempt": attempts,
        "failures": job_failures(rest_port, job_id),
    }


def job_failures(rest_port: int, job_id: str) -> list[str]:
    """The job's failure history (REST ``exceptions``): one line per failure, oldest first."""
    history = rest_get(rest_port, f"/jobs/{job_id}/exceptions").get("exceptionHistory", {})
    lines = []
    for entry in sorted(history.get("entries", []), key=lambda e: e.get("timestamp", 0)):
        first = (entry.get("stacktrace") or entry.get("exceptionName") or "").splitlines()
        where = entry.get("taskManagerId") or entry.get("taskName") or ""
        lines.append(f"{where}: {first[0][:200] if first else '?'}")
    return lines


def run_ingest(args: Sequence[str], log: Path, timeout_s: float = 1800) -> float:
    """``python -m pipelines.ingest ARGS`` as a subprocess; its wall time (fails on an error)."""
    t0 = time.time()
    with log.open("wb") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.ingest", *args],
            cwd=ROOT,
            env=service_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    if proc.returncode:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise RuntimeError(f"ingest failed ({proc.returncode}), see {log}: " + " | ".join(tail))
    return round(time.time() - t0, 1)


def table_rows(output: Path) -> dict[str, int]:
    """Rows per output table."""
    return {name: read_table(output, name).num_rows for name in ("articles", "stories")}


def compare_batch(
    services: FlinkServices,
    work: Path,
    job_args: Sequence[str],
    kill_after_s: Optional[float] = None,
    replace_after_s: Optional[float] = None,
) -> dict[str, Any]:
    """One input on FnApiRunner and on Flink; times, table comparison, TaskManager evidence."""
    fn_out, flink_out = work / "fnapi", work / "flink"
    for out in (fn_out, flink_out):
        shutil.rmtree(out, ignore_errors=True)
    report: dict[str, Any] = {}
    report["fnapi_s"] = run_ingest(
        [*job_args, "--output", str(fn_out), "--runner=FnApiRunner"], work / "fnapi.log"
    )
    flink_args = [*job_args, "--output", str(flink_out), *services.runner_args()]
    killer = None
    if kill_after_s is not None:
        killer = threading.Thread(
            target=kill_one_taskmanager,
            args=(kill_after_s, report, replace_after_s),
            daemon=True,
        )
        killer.start()
    try:
        report["flink_s"] = run_ingest(flink_args, work / "flink.log")
    except RuntimeError as error:
        report["flink_error"] = str(error)
    if killer is not None:
        killer.join()
    report["job"] = services.latest_job()
    if "flink_error" in report:
        # Failed loudly: run it again over what the failed attempt left (one TaskManager short)
        # and check nothing is doubled.
        report["left_by_failed_run"] = sorted(
            str(p.relative_to(flink_out)) for p in flink_out.rglob("*.parquet")
        )
        report["rerun_s"] = run_ingest(flink_args, work / "flink-rerun.log")
        report["rerun_job"] = services.latest_job()
    problems = compare_runs(fn_out, flink_out)
    report["match"] = not problems
    report["problems"] = problems
    report["rows"] = table_rows(fn_out)
    return report


def kill_one_taskmanager(
    after_s: float, report: dict[str, Any], replace_after_s: Optional[float] = None
) -> None:
    """SIGKILL TaskManager tm-2's JVM ``after_s`` seconds from now; with ``replace_after_s``, start
    a replacement (tm-3) that long after the kill, as Kubernetes or YARN would."""
    time.sleep(after_s)
    pids = subprocess.run(
        ["pgrep", "-f", "TaskManagerRunner.*taskmanager.resource-id=tm-2"],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    ).stdout.split()
    report["killed_taskmanager"] = {"pids": pids, "at_s": after_s}
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    if replace_after_s is not None:
        time.sleep(replace_after_s)
        report["replacement_taskmanager"] = {
            "id": "tm-3",
            "at_s": after_s + replace_after_s,
            "started": cluster("add-taskmanager", "tm-3").strip().splitlines()[-1:],
        }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: run, compare, print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["demo", "batch", "incremental", "stream"])
    parser.add_argument("--out", default=str(ROOT / "out" / "flink"))
    parser.add_argument("--flink_master", default=None, help="a running cluster (host:rest port)")
    parser.add_argument(
        "--worker_threads",
        action="store_true",
        help="SDK workers as threads of one pool process (default: one process per worker)",
    )
    parser.add_argument("--outlets", default=None)
    parser.add_argument("--replay", default=None)
    parser.add_argument("--as_of", default="2026-11-25")
    parser.add_argument("--kill_taskmanager_after_s", type=float, default=None)
    parser.add_argument(
        "--replace_taskmanager_after_s",
        type=float,
        default=None,
        help="after the kill, start a replacement TaskManager this many seconds later",
    )
    parser.add_argument("--feeds", default="free-cekfakta,free-investigasi")
    parser.add_argument("--snapshots", type=int, default=4)
    parser.add_argument("--duration_s", type=float, default=60.0)
    args = parser.parse_args(argv)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with flink_services(work / "logs", args.flink_master, not args.worker_threads) as services:
        report: dict[str, Any] = {"services_up_s": round(time.time() - t0, 1)}
        if args.command == "demo":
            report |= compare_batch(services, work, DEMO_ARGS)
        elif args.command == "batch":
            job = ["--outlets", args.outlets, "--replay", str(Path(args.replay).resolve())]
            job += ["--run_id", "batch", "--as_of", args.as_of]
            report |= compare_batch(
                services,
                work,
                job,
                args.kill_taskmanager_after_s,
                args.replace_taskmanager_after_s,
            )
        elif args.command == "incremental":
            from flink_scenarios import compare_incremental

            report |= compare_incremental(services, work, args.feeds.split(","), args.snapshots)
        else:
            from flink_scenarios import run_stream

            report |= run_stream(services, work, args.feeds.split(","), args.duration_s)
    report["total_s"] = round(time.time() - t0, 1)
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if report.get("match") or report.get("each_article_once") else 1


if __name__ == "__main__":
    sys.exit(main())
