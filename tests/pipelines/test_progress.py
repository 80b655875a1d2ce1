"""The live progress line: drawn in place on a terminal (a real pty), absent when piped."""

import itertools
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.ingest_job import pipeline_options
from pipelines.progress import final_text, live_text, wants_progress
from tests.conftest import DEMO, ROOT

LIVE_RE = re.compile(
    r"feeds (\d+)/(\d+) \| fetched (\d+) of (\d+) queued \| extracted (\d+) \| dead letters (\d+)"
)


def demo_command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipelines.cli",
        "ingest",
        "--outlets",
        str(DEMO / "outlets.yaml"),
        "--replay",
        str(DEMO / "recording"),
        "--output",
        str(out),
        "--run_id",
        "progress",
        "--runner",
        "FnApiRunner",
        *extra,
    ]


def run_under_pty(command: list[str], timeout_s: float = 240) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal; return (exit code, what the pty got)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_progress_line_updates_in_place_and_ends_with_the_final_counts(tmp_path):
    code, screen = run_under_pty(demo_command(tmp_path / "out"))
    assert code == 0, screen[-2000:]
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    # Redrawn in place: carriage return + erase line, several distinct states.
    frames = [f.replace("\x1b[2K", "").strip() for f in screen.split("\r")]
    live = [LIVE_RE.search(f) for f in frames]
    states = [tuple(int(g) for g in m.groups()) for m in live if m]
    assert len(set(states)) >= 3, frames[-10:]
    # Counts only grow, and the last live state saw every feed and every page queued.
    for before, after in itertools.pairwise(states):
        assert all(b <= a for b, a in zip(before, after, strict=True)), (before, after)
    feeds, feeds_total, fetched, queued, extracted, dead = states[-1]
    assert feeds == feeds_total == summary["feeds"]["configured"]
    assert queued > 0 and fetched <= queued and extracted <= fetched
    assert dead == summary["dead_letters"]["total"]
    # The final line comes from run.json and ends the line.
    final = [f for f in frames if f.startswith("done in ")]
    assert len(final) == 1
    assert final[0].split(": ", 1)[1] == final_text(summary, 0).split(": ", 1)[1]
    assert "\n" in screen.split(final[0], 1)[1]


def test_nothing_extra_when_stderr_is_not_a_terminal(tmp_path):
    proc = subprocess.run(
        demo_command(tmp_path / "out"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    assert not LIVE_RE.search(proc.stderr) and "done in" not in proc.stderr
    assert "balanced: True" in proc.stdout


class FakeTerminal:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    "asked, runner, tty, expected",
    [
        (None, "FnApiRunner", True, True),
        (None, "FnApiRunner", False, False),
        (None, "PrismRunner", True, True),
        (None, "DataflowRunner", True, False),
        (False, "FnApiRunner", True, False),
        (True, "FnApiRunner", False, True),
    ],
)
def test_when_the_line_is_drawn(asked, runner, tty, expected):
    options = pipeline_options(["--runner", runner])
    assert wants_progress(asked, options, FakeTerminal(tty)) is expected


def test_asking_for_progress_on_a_remote_runner_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a local runner"):
        wants_progress(True, pipeline_options(["--runner", "DataflowRunner"]), FakeTerminal(True))


def test_line_texts():
    assert live_text({"feeds": 2, "queued": 9, "fetched": 4}, 5, 3.2) == (
        "feeds 2/5 | fetched 4 of 9 queued | extracted 0 | dead letters 0 | 3 s"
    )
    assert not live_text({}, 0, 0).startswith("feeds")  # WARC input: no feeds
