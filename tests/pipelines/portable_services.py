"""Beam's Python job service and an external SDK worker pool, started as real subprocesses.

The path Flink and Spark use: the job is submitted over the Job API and the SDK harness runs in
separate worker processes, so anything that does not pickle or is not installed fails here.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from scripts.subprocs import stop_process


@dataclass(frozen=True)
class PortableServices:
    """Addresses of a running job service and worker pool."""

    job_endpoint: str
    worker_pool: str

    def runner_args(self) -> list[str]:
        """Beam flags that submit a job to these services."""
        return [
            "--runner=PortableRunner",
            f"--job_endpoint={self.job_endpoint}",
            "--environment_type=EXTERNAL",
            f"--environment_config={self.worker_pool}",
        ]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, deadline_s: float) -> None:
    """Block until ``port`` accepts connections; raise if ``proc`` exits or time runs out."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {deadline_s:.0f} s")


@contextmanager
def portable_services(log_dir: Path, python: Optional[str] = None) -> Iterator[PortableServices]:
    """Start a job service and a worker pool on 127.0.0.1; stop both on exit."""
    python = python or sys.executable
    # The worker pool starts each SDK worker as a bare `python -c ...` looked up on PATH: put
    # this interpreter's directory first, or workers start outside the venv without Beam.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(python).parent), os.environ["PATH"]])}
    job_port, pool_port = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    logs: list[IO[bytes]] = []
    try:
        for name, cmd in (
            (
                "job_service",
                [
                    python,
                    "-m",
                    "apache_beam.runners.portability.local_job_service_main",
                    "--port",
                    str(job_port),
                    "--staging_dir",
                    str(log_dir / "staging"),
                ],
            ),
            (
                "worker_pool",
                [
                    python,
                    "-m",
                    "apache_beam.runners.worker.worker_pool_main",
                    "--service_port",
                    str(pool_port),
                ],
            ),
        ):
            log = (log_dir / f"{name}.log").open("wb")
            logs.append(log)
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
        wait_for_port(job_port, procs[0], 60)
        wait_for_port(pool_port, procs[1], 60)
        yield PortableServices(f"localhost:{job_port}", f"localhost:{pool_port}")
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        for handle in logs:
            handle.close()
