"""Stopping the child processes that scripts and tests start (servers, browsers, clusters)."""

import subprocess


def stop_process(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    """Terminate ``proc`` (SIGTERM, then SIGKILL after ``timeout_s``) and reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
