"""Where the whole job's time and memory go: stage by stage, from FnApiRunner's own bundle log.

python benchmarks/stages.py [--workers 1] [--sets scrapinghub-aeb,wcxb-dev] [--corpus DIR]
                            [--pages 0] [--top 12] [--depth 1]

Builds the same replay recording as ``benchmarks/pipeline.py`` (the extraction sets' pages behind
10 synthetic feeds), then runs ``newsbeam ingest --replay`` in this process on FnApiRunner (2
workers: ``--direct_num_workers=2 --direct_running_mode=multi_processing``) with FnApiRunner's
per-bundle log switched on. Each "Running bundle for stage" line is stamped with the time and this
process's RSS; a bundle lasts until the next one starts (the last until the job returns). Stages
are grouped by the pipeline's top-level steps they fuse (``FetchPages+ExtractArticles+...``; with
``--depth 2`` by their sub-steps too: ``DedupArticles/SameStory``).

Prints a table (the groups, slowest first: seconds, bundles, RSS when the group's first bundle
started and the highest RSS at any bundle start) and ``imports_s`` (importing the job's modules),
``graph_s`` (from the call to the first bundle: building, translating and fusing the graph),
``bundles``, ``small_bundles_s`` (bundles under 0.2 s, FnApiRunner's fixed cost per stage),
``top_stage_s`` / ``top_stage`` (the slowest group), ``total_s``, ``rss_at_bundles_max_mb``.
One run: a profile, not a comparison (``benchmarks/pipeline.py`` compares).
"""

import argparse
import logging
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import EXTRACTION, build_recording, ingest_args  # noqa: E402
from procs import PAGE  # noqa: E402

BUNDLE_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner"
_BUNDLE_PREFIX = "Running bundle for stage "
# Transform references in a fused stage's name: "ref_AppliedPTransform_FetchPages-Split_32" and
# "(FetchPages/ReshuffleHostGroups/.../Read)". The first path component is the top-level step.
_APPLIED_RE = re.compile(r"ref_AppliedPTransform_([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)")
_PATH_RE = re.compile(r"\(([A-Za-z0-9]+(?:/[A-Za-z0-9]+)*)")
_SMALL_S = 0.2


class Bundle(NamedTuple):
    """One bundle from the log: when it started, the RSS then, and its stage's name."""

    started: float
    rss_mb: float
    stage: str


class Group(NamedTuple):
    """Bundles of the stages that fuse the same top-level steps."""

    name: str
    seconds: float
    bundles: int
    first_rss_mb: float
    max_rss_mb: float


def top_level_steps(stage: str, depth: int = 1) -> str:
    """The steps (``depth`` label levels) a fused stage runs, in order, joined by ``+``."""
    found: list[str] = []
    matches = sorted(
        [*_APPLIED_RE.finditer(stage), *_PATH_RE.finditer(stage)], key=lambda m: m.start()
    )
    for match in matches:
        parts = re.split(r"[-/]", match.group(1))
        if parts[0] == "ref":
            continue
        name = "/".join(parts[:depth])
        if name not in found:
            found.append(name)
    return "+".join(found) if found else stage[:60]


def group_bundles(bundles: Sequence[Bundle], ended: float, depth: int = 1) -> list[Group]:
    """Durations per group of steps (a bundle ends when the next starts), slowest first."""
    totals: dict[str, list[float]] = {}
    for n, bundle in enumerate(bundles):
        end = bundles[n + 1].started if n + 1 < len(bundles) else ended
        key = top_level_steps(bundle.stage, depth)
        seconds, count, first, peak = totals.get(key, [0.0, 0, bundle.rss_mb, 0.0])
        totals[key] = [seconds + end - bundle.started, count + 1, first, max(peak, bundle.rss_mb)]
    groups = [Group(k, v[0], int(v[1]), v[2], v[3]) for k, v in totals.items()]
    return sorted(groups, key=lambda g: (-g.seconds, g.name))


def small_bundle_seconds(bundles: Sequence[Bundle], ended: float) -> float:
    """Total time of the bundles shorter than 0.2 s."""
    ends = [b.started for b in bundles[1:]] + [ended]
    durations = (e - b.started for b, e in zip(bundles, ends, strict=True))
    return sum(d for d in durations if d < _SMALL_S)


def rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm", "rb") as handle:
        pages = int(handle.read().split()[1])
    return pages * PAGE / 2**20


class _BundleLog(logging.Handler):
    """Keeps one Bundle per "Running bundle for stage" record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bundles: list[Bundle] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(_BUNDLE_PREFIX):
            stage = message[len(_BUNDLE_PREFIX) :].split("\n", 1)[0]
            self.bundles.append(Bundle(time.perf_counter(), rss_mb(), stage))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Build the recording, run the job once with the bundle log on, print the groups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sets", default="scrapinghub-aeb,wcxb-dev")
    parser.add_argument("--corpus", type=Path, default=EXTRACTION)
    parser.add_argument("--pages", type=int, default=0, help="0 = every page of the sets")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--depth", type=int, default=1, help="label levels to group by")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newsbeam-stages-") as tmp:
        work = Path(tmp)
        outlets, recording = build_recording(work, args.pages, args.sets, args.corpus)
        started = time.perf_counter()
        from pipelines.cli import tune_malloc

        tune_malloc()
        from pipelines import ingest

        imported = time.perf_counter()
        log = _BundleLog()
        bundle_logger = logging.getLogger(BUNDLE_LOGGER)
        bundle_logger.setLevel(logging.DEBUG)
        bundle_logger.addHandler(log)
        bundle_logger.propagate = False
        code = ingest.main(ingest_args(outlets, recording, work / "out", args.workers))
        ended = time.perf_counter()
    if code != 0 or not log.bundles:
        print(f"the job failed (exit {code}) or logged no bundles", file=sys.stderr)
        return 1
    bundles = log.bundles
    groups = group_bundles(bundles, ended, args.depth)
    print(
        f"\n| stages fusing these top-level steps ({args.workers} worker(s)) | s | bundles "
        "| RSS at first bundle MB | max RSS at a bundle start MB |"
    )
    print("|---|---|---|---|---|")
    for g in groups[: args.top]:
        print(
            f"| {g.name} | {g.seconds:.2f} | {g.bundles} | {g.first_rss_mb:.0f} "
            f"| {g.max_rss_mb:.0f} |"
        )
    rest = groups[args.top :]
    if rest:
        print(
            f"| ({len(rest)} more groups) | {sum(g.seconds for g in rest):.2f} "
            f"| {sum(g.bundles for g in rest)} | | |"
        )
    print(f"imports_s: {imported - started:.2f}")
    print(f"graph_s: {bundles[0].started - imported:.2f}")
    print(f"bundles: {len(bundles)}")
    print(f"small_bundles_s: {small_bundle_seconds(bundles, ended):.2f}")
    print(f"top_stage_s: {groups[0].seconds:.2f}")
    print(f"top_stage: {groups[0].name}")
    print(f"total_s: {ended - started:.2f}")
    print(f"rss_at_bundles_max_mb: {max(b.rss_mb for b in bundles):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
