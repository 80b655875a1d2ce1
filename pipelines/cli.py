"""The ``newsbeam`` command: ``newsbeam ingest ...`` (more subcommands join as they are built)."""

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Optional

USAGE = """usage: newsbeam <command> [options]

commands:
  ingest    run the batch pipeline (feeds -> articles -> Parquet); see `newsbeam ingest --help`
  stream    run the streaming pipeline (Parquet per window); see `newsbeam stream --help`
  eval      measure quality on a labelled directory; see `newsbeam eval --help`
  report    write a run's HTML report (OUTPUT/report.html); see `newsbeam report --help`
  query     run SQL over a run's tables (DuckDB); see `newsbeam query --help`
"""


# glibc's mallopt parameters and the values the CLI sets (environment variable, value).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MALLOC_SETTINGS = (
    ("MALLOC_ARENA_MAX", _M_ARENA_MAX, "2"),
    ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, "65536"),
)
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
ARROW_POOL = "system"


def tune_malloc() -> None:
    """glibc malloc settings for this process and the workers Beam starts (inherited env).

    At most two arenas: extraction runs in Beam's timeout threads, glibc gives each thread an
    arena of its own (up to 8 per core) and freed page trees stay spread over them (12% lower
    peak RSS on 300 real pages, no slower). A fixed mmap threshold of 64 KiB: by default glibc
    raises the threshold after each large block is freed, so later page bodies and trees come
    from the heap and their freed space stays resident; fixed, blocks of 64 KiB or more are
    returned to the system when freed (974 pages, one worker: peak RSS 691 -> 624 MB, no slower;
    benchmarks/pipeline.py). pyarrow (the Parquet writes) allocates from the system allocator,
    not its bundled mimalloc, which keeps the segments of freed write buffers: with the fixed
    threshold those buffers go back to the system (974 pages, one worker, 4 interleaved runs
    each: max RSS 594 vs 600 MiB in three runs of four; benchmarks/stages.py, 2 runs each: the
    writes as fast or faster, 1.38-1.59 vs 1.60-1.61 s for the articles). A value the user set is
    kept.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:  # not glibc: the environment variables are all there is
        libc = None
    for variable, parameter, value in MALLOC_SETTINGS:
        if variable in os.environ:
            continue
        os.environ[variable] = value
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(parameter, int(value))
    # Read when pyarrow first allocates, in this process and in the workers Beam starts.
    os.environ.setdefault(ARROW_POOL_VARIABLE, ARROW_POOL)


def _ingest(argv: list[str]) -> int:
    """Run the batch ingestion job."""
    tune_malloc()
    from pipelines import ingest

    return ingest.main(argv)


def _stream(argv: list[str]) -> int:
    """Run the streaming job."""
    tune_malloc()
    from pipelines import stream

    return stream.main(argv)


def _eval(argv: list[str]) -> int:
    """Run an evaluation on a labelled directory."""
    from evaluation import cli as evaluate

    return evaluate.main(argv)


def _report(argv: list[str]) -> int:
    """Write the HTML report of an output directory."""
    from pipelines import report

    return report.report_main(argv)


def _query(argv: list[str]) -> int:
    """Run SQL over an output directory's tables."""
    from pipelines import report

    return report.query_main(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "ingest": _ingest,
    "stream": _stream,
    "eval": _eval,
    "report": _report,
    "query": _query,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Dispatch to a subcommand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"newsbeam: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Beam logs every bundle and worker start at INFO; keep the terminal for our own messages.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
