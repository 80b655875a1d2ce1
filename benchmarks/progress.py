"""Does the live progress line slow the job? The same runs with and without it, interleaved.

python benchmarks/progress.py [--reps 3] [--pages 300]

Each repetition runs ``newsbeam ingest`` as a subprocess twice, in alternating order: once with
``--progress`` and stderr on a pseudo-terminal that a thread drains (the line really drawn), once
with ``--no_progress``. Inputs: the bundled demo (40 pages) and, where ``../shared/corpus`` is
present, a recording of its first ``--pages`` extraction pages behind synthetic feeds
(``scripts/corpus_recording.py``). Prints a table of median wall times and
``progress_ratio_<input>`` (wall, without / with: 1.0 = no cost, below 1.0 = slower with the line)
and ``progress_cpu_ratio_<input>`` (the same for CPU time, less sensitive to a busy machine).
"""

import argparse
import os
import pty
import resource
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import ours  # noqa: E402


def drain(fd: int) -> None:
    """Read a pty until it closes, as a terminal would."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def timed_run(command: list[str], on_terminal: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; stderr on a drained pty when ``on_terminal``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(command)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def measure(name: str, outlets: Path, recording: Path, reps: int, work: Path) -> dict[str, float]:
    """Median wall and CPU seconds with and without the line, alternating which goes first."""
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for progress in order:
            out = work / f"{name}-{rep}-{int(progress)}"
            command = ours(outlets, recording, out, 1, progress)
            times[progress].append(timed_run(command, on_terminal=progress))
    return {
        "with": statistics.median(t[0] for t in times[True]),
        "without": statistics.median(t[0] for t in times[False]),
        "with_cpu": statistics.median(t[1] for t in times[True]),
        "without_cpu": statistics.median(t[1] for t in times[False]),
    }


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
    print(f"medians of {args.reps}; CPU = user + system time of the job's processes")
    print(
        "| input | wall with the line (s) | wall without | without / with "
        "| CPU with | CPU without | without / with |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['with']:.1f} | {r['without']:.1f} | {r['without'] / r['with']:.3f} "
            f"| {r['with_cpu']:.1f} | {r['without_cpu']:.1f} "
            f"| {r['without_cpu'] / r['with_cpu']:.3f} |"
        )
    for name, r in results.items():
        print(f"progress_ratio_{name}: {r['without'] / r['with']:.3f}")
        print(f"progress_cpu_ratio_{name}: {r['without_cpu'] / r['with_cpu']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
