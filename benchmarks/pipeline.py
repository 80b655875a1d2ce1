"""The whole job against the loop a user writes instead, on the same real pages, 1 and 2 workers.

python benchmarks/pipeline.py [--reps 2] [--sets scrapinghub-aeb,wcxb-dev] [--corpus DIR]
                              [--workers 1,2] [--pages 0]

Builds a replay recording of the extraction sets' pages behind 10 synthetic feeds
(``scripts/corpus_recording.py``), then per repetition and worker count runs, interleaved and
each as a fresh process: ``newsbeam ingest --replay`` on FnApiRunner (2 workers:
``--direct_num_workers=2 --direct_running_mode=multi_processing``) and ``benchmarks/bare_loop.py``
(feedparser -> ``trafilatura.bare_extraction(with_metadata=True)`` + seeded langdetect -> one
Parquet file; 2 workers: ``multiprocessing.Pool(2)``). Wall time of the whole process, peak RSS
of the process tree (sampled from /proc every 50 ms), medians. Prints a table and
``pipeline_vs_bare_1worker`` / ``pipeline_vs_bare_2workers`` (bare 1-worker time / ours, so
both compare with what one core of the bare loop does), ``scaling_2workers_ours`` /
``scaling_2workers_bare``, ``peak_rss_mb`` (ours, 1 worker), ``peak_rss_mb_bare``.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from procs import PeakRss  # noqa: E402

EXTRACTION = ROOT.parent / "shared" / "corpus" / "extraction"


class Measure(NamedTuple):
    """One run: wall seconds and peak resident memory of its process tree."""

    seconds: float
    peak_rss_mb: float


def measured_run(command: list[str]) -> Measure:
    """Run ``command``; return its wall time and the peak RSS of its process tree."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with PeakRss(proc.pid) as rss:
        _, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    peak = rss.peak
    if proc.returncode != 0:
        tail = stderr.decode("utf-8", "replace")[-2000:]
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{tail}")
    return Measure(elapsed, peak / 2**20)


def ingest_args(
    outlets: Path, recording: Path, out: Path, workers: int, progress: bool = False
) -> list[str]:
    """Arguments of ``newsbeam ingest`` for the benchmark run (``progress``: ``--progress``)."""
    args = [
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
        "--progress" if progress else "--no_progress",
        "--runner",
        "FnApiRunner",
    ]
    if workers > 1:
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return args


def ours(
    outlets: Path, recording: Path, out: Path, workers: int, progress: bool = False
) -> list[str]:
    """The job's command line."""
    command = [sys.executable, "-m", "pipelines.cli", "ingest"]
    return command + ingest_args(outlets, recording, out, workers, progress)


def bare(outlets: Path, recording: Path, out: Path, workers: int) -> list[str]:
    """The bare loop's command line."""
    script = str(ROOT / "benchmarks" / "bare_loop.py")
    return [
        sys.executable,
        script,
        str(outlets),
        str(recording),
        str(out),
        "--workers",
        str(workers),
    ]


def build_recording(work: Path, pages: int, sets: str, corpus: Path) -> tuple[Path, Path]:
    """Write the recording of the sets' pages under ``work``; return (outlets file, recording)."""
    built = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "corpus_recording.py"),
            str(work / "corpus"),
            str(pages),
            "--sets",
            sets,
            "--corpus",
            str(corpus),
            "--outlets",
            "10",
            "--feeds_per_outlet",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    print(built.stdout.strip())
    return work / "corpus" / "outlets.yaml", work / "corpus" / "recording"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Build the recording, run both systems interleaved, print the table and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--sets", default="scrapinghub-aeb,wcxb-dev")
    parser.add_argument("--corpus", type=Path, default=EXTRACTION)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--pages", type=int, default=0, help="0 = every page of the sets")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    runs: dict[tuple[str, int], list[Measure]] = {}
    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-") as tmp:
        work = Path(tmp)
        outlets, recording = build_recording(work, args.pages, args.sets, args.corpus)
        for rep in range(args.reps):
            for n in workers:
                systems = [("newsbeam", ours), ("bare loop", bare)]
                for name, command in systems if rep % 2 == 0 else systems[::-1]:
                    out = work / f"out-{name.replace(' ', '')}-{n}-{rep}"
                    measure = measured_run(command(outlets, recording, out, n))
                    runs.setdefault((name, n), []).append(measure)
                    print(f"  rep {rep} {name} {n} worker(s): {measure.seconds:.1f} s", flush=True)
    med = {k: statistics.median(m.seconds for m in v) for k, v in runs.items()}
    rss = {k: statistics.median(m.peak_rss_mb for m in v) for k, v in runs.items()}
    print(f"\n| system | workers | wall s (median of {args.reps}) | peak RSS MB |")
    print("|---|---|---|---|")
    for (name, n), seconds in sorted(med.items()):
        print(f"| {name} | {n} | {seconds:.1f} | {rss[(name, n)]:.0f} |")
    base = med[("bare loop", 1)]
    for n in workers:
        label = "1worker" if n == 1 else f"{n}workers"
        print(f"pipeline_vs_bare_{label}: {base / med[('newsbeam', n)]:.3f}")
        if n > 1:
            print(f"scaling_{label}_ours: {med[('newsbeam', 1)] / med[('newsbeam', n)]:.3f}")
            print(f"scaling_{label}_bare: {base / med[('bare loop', n)]:.3f}")
    print(f"peak_rss_mb: {rss[('newsbeam', 1)]:.0f}")
    print(f"peak_rss_mb_bare: {rss[('bare loop', 1)]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
