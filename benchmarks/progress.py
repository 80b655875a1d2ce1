"""Does the live progress line slow the job? The same runs with and without it, interleaved.

python benchmarks/progress.py [--reps 3] [--pages 300]

Each repetition runs ``newsbeam ingest`` as a subprocess twice, in alternating order: once with
``--progress`` and stderr on a pseudo-terminal that a thread drains (the line really drawn), once
with ``--no_progress``. Inputs: the bundled demo (40 pages) and, where ``../shared/corpus`` is
present, a recording of its first ``--pages`` extraction pages behind synthetic feeds
(``scripts/corpus_recording.py``). Prints a table of median wall times and
``progress_ratio_<input>: <without / with>`` (1.0 = no cost; below 1.0 = slower with the line).
"""

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "seeds" / "demo"
CORPUS = ROOT.parent / "shared" / "corpus" / "extraction"


def ingest_command(outlets: Path, recording: Path, out: Path, progress: bool) -> list[str]:
    """The job's command line for one run."""
    return [
        sys.executable,
        "-m",
        "pipelines.cli",
        "ingest",
        "--outlets",
        str(outlets),
        "--replay",
        str(recording),
        "--output",
        str(out),
        "--run_id",
        "bench",
        "--as_of",
        "2026-11-25",
        "--runner",
        "FnApiRunner",
        "--progress" if progress else "--no_progress",
    ]


def drain(fd: int) -> None:
    """Read a pty until it closes, as a terminal would."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def timed_run(command: list[str], on_terminal: bool) -> float:
    """Wall seconds of one run; stderr on a drained pty when ``on_terminal``."""
    started = time.perf_counter()
    if on_terminal:
        leader, follower = pty.openpty()
        reader = threading.Thread(target=drain, args=(leader,), daemon=True)
        reader.start()
        proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        reader.join(5)
        os.close(leader)
    else:
        proc = subprocess.run(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(command)}")
    return elapsed


def measure(name: str, outlets: Path, recording: Path, reps: int, work: Path) -> dict[str, float]:
    """Median seconds with and without the line, alternating which goes first."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for progress in order:
            out = work / f"{name}-{rep}-{int(progress)}"
            command = ingest_command(outlets, recording, out, progress)
            times[progress].append(timed_run(command, on_terminal=progress))
    return {"with": statistics.median(times[True]), "without": statistics.median(times[False])}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the comparison and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="newsbeam-progress-") as tmp:
        work = Path(tmp)
        inputs = [("demo", DEMO / "outlets.yaml", DEMO / "recording")]
        if CORPUS.is_dir() and args.pages > 0:
            built = work / "corpus"
            subprocess.run(
                [sys.executable, "scripts/corpus_recording.py", str(built), str(args.pages)],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            inputs.append((f"corpus{args.pages}", built / "outlets.yaml", built / "recording"))
        for name, outlets, recording in inputs:
            results[name] = measure(name, outlets, recording, args.reps, work)
    print(f"| input | with the line (s) | without (s) | without / with |  (median of {args.reps})")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['with']:.1f} | {r['without']:.1f} | {r['without'] / r['with']:.3f} |")
    for name, r in results.items():
        print(f"progress_ratio_{name}: {r['without'] / r['with']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
