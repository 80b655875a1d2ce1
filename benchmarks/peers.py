"""newsbeam against newspaper4k and news-please doing the same work on the same pages.

python benchmarks/peers.py [--reps 1] [--sets scrapinghub-aeb,wcxb-dev] [--peers_python PY]

The same recording as ``benchmarks/pipeline.py`` (real pages behind 10 synthetic feeds). Each
peer runs ``benchmarks/bare_loop.py --engine newspaper4k|newsplease`` (feedparser -> the peer's
article parser -> seeded langdetect -> one Parquet file: text, title, date, language) from its
own venv (``make peers-venv`` builds ``.venv-peers``: newspaper4k 0.9.6 and news-please 1.6.16
pin versions that conflict with ours); newsbeam runs its whole job (``newsbeam ingest --replay``,
FnApiRunner, 1 worker). The bare loop of the libraries newsbeam is built on (trafilatura +
langdetect, ``benchmarks/bare_loop.py``, our venv) runs alongside: what any job built on them
could reach at best. Interleaved, medians. Prints a table, ``vs_newspaper4k`` / ``vs_newsplease``
(the peer's time / ours: how many times faster newsbeam is) and ``bare_vs_newspaper4k`` /
``bare_vs_newsplease`` (the peer's time / the bare loop's: the ceiling of those ratios).
"""

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import EXTRACTION, Measure, bare, build_recording, measured_run, ours  # noqa: E402

PEERS = {"newspaper4k": "newspaper4k", "news-please": "newsplease"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the peers and newsbeam interleaved; print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--sets", default="scrapinghub-aeb,wcxb-dev")
    parser.add_argument("--corpus", type=Path, default=EXTRACTION)
    parser.add_argument("--pages", type=int, default=0, help="0 = every page of the sets")
    parser.add_argument(
        "--peers_python", type=Path, default=ROOT / ".venv-peers" / "bin" / "python"
    )
    args = parser.parse_args(argv)
    if not args.peers_python.exists():
        raise SystemExit(f"{args.peers_python} missing: run `make peers-venv` first")
    runs: dict[str, list[Measure]] = {}
    script = str(ROOT / "benchmarks" / "bare_loop.py")
    with tempfile.TemporaryDirectory(prefix="newsbeam-peers-") as tmp:
        work = Path(tmp)
        outlets, recording = build_recording(work, args.pages, args.sets, args.corpus)
        for rep in range(args.reps):
            order = ["newsbeam", "bare loop", *PEERS]
            for name in order if rep % 2 == 0 else order[::-1]:
                out = work / f"out-{name}-{rep}"
                if name == "newsbeam":
                    command = ours(outlets, recording, out, 1)
                elif name == "bare loop":
                    command = bare(outlets, recording, out.with_suffix(".parquet"), 1)
                else:
                    command = [str(args.peers_python), script, str(outlets), str(recording)]
                    command += [str(out.with_suffix(".parquet")), "--engine", PEERS[name]]
                measure = measured_run(command)
                runs.setdefault(name, []).append(measure)
                print(f"  rep {rep} {name}: {measure.seconds:.1f} s", flush=True)
    med = {name: statistics.median(m.seconds for m in v) for name, v in runs.items()}
    rss = {name: statistics.median(m.peak_rss_mb for m in v) for name, v in runs.items()}
    print(f"\n| system (1 worker) | wall s (median of {args.reps}) | peak RSS MB |")
    print("|---|---|---|")
    for name, seconds in med.items():
        print(f"| {name} | {seconds:.1f} | {rss[name]:.0f} |")
    print(f"vs_newspaper4k: {med['newspaper4k'] / med['newsbeam']:.2f}")
    print(f"vs_newsplease: {med['news-please'] / med['newsbeam']:.2f}")
    print(f"bare_vs_newspaper4k: {med['newspaper4k'] / med['bare loop']:.2f}")
    print(f"bare_vs_newsplease: {med['news-please'] / med['bare loop']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
