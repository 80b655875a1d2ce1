"""The batch job's command line: our arguments, Beam's options, and the validated ``IngestJob``."""

import argparse
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, cast

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PipelineOptionsT,
    StandardOptions,
)

from transforms.core import FeedSource, PipelineConfig, load_config
from transforms.core.progress import ProgressAddress
from transforms.feeds import feed_sources, load_outlets
from transforms.net.warc import is_warc_source, warc_files

# FnApiRunner, chosen explicitly: Beam's DirectRunner first tries to download the Prism binary and
# silently switches engines depending on network access (STYLE.md).
DESCRIPTION = """Batch ingestion job: outlets' feeds -> articles -> labelled duplicates -> Parquet.

newsbeam ingest --outlets seeds/outlets.yaml --output out/ [--replay DIR] [Beam flags]
newsbeam ingest --warc_input 'crawl/*.warc.gz' --output out/   # WARC pages, no feeds
"""
DEFAULT_RUNNER = "FnApiRunner"
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class IngestJob:
    """Everything one batch run needs, resolved and validated before the graph is built."""

    sources: tuple[FeedSource, ...]
    output: str
    config: PipelineConfig
    run_id: str
    replay_dir: Optional[str] = None
    # The day cross-run dedup counts its history window back from (dedup.history_days); also
    # the window of the feed state and ledger (incremental.retention_days) and their partition.
    as_of: dt.date = dt.date(1970, 1, 1)
    # Conditional GET for feeds and the seen-URL ledger (transforms/fetch/ledger.py).
    incremental: bool = False
    # Write every raw response to <output>/warc/ (transforms/net/warc.py).
    archive_warc: bool = False
    # Read pages from these WARC files instead of feeds (a glob; CC-NEWS-style input).
    warc_input: Optional[str] = None
    # Write the HTML report at the end of the run to this path ("" = <output>/report.html).
    report: Optional[str] = None
    # The live progress line: workers send counts here (set by the launcher, pipelines/progress.py).
    progress: Optional[ProgressAddress] = None


def default_run_id(now: Optional[dt.datetime] = None) -> str:
    """Return a sortable run id from the current UTC time (``20261125T175600Z``)."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, list[str]]:
    """Split our arguments from Beam's pipeline flags."""
    parser = argparse.ArgumentParser(prog="newsbeam ingest", description=DESCRIPTION)
    parser.add_argument("--outlets", default=None, help="outlets YAML or OPML file")
    parser.add_argument(
        "--warc_input",
        default=None,
        help="read article pages from these WARC files (glob) instead of feeds (CC-NEWS)",
    )
    parser.add_argument("--output", required=True, help="output directory (local, gs://, s3://)")
    parser.add_argument("--config", default=None, help="YAML config (default: config/default.yaml)")
    parser.add_argument(
        "--replay",
        default=None,
        help="serve HTTP from a recording directory, or from WARC files (file, directory, glob)",
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="conditional GET for feeds and skip links fetched before (incremental.enabled)",
    )
    parser.add_argument(
        "--archive_warc",
        action="store_true",
        help="write every response to <output>/warc/*.warc.gz (warc.archive)",
    )
    parser.add_argument(
        "--report",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write the HTML report at the end of the run (default path: OUTPUT/report.html)",
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_const",
        const=True,
        default=None,
        help="draw a live progress line on stderr (default: on a terminal, local runners)",
    )
    progress.add_argument(
        "--no_progress", dest="progress", action="store_const", const=False, help="never draw it"
    )
    parser.add_argument("--run_id", default=None, help="id used in output file names")
    parser.add_argument(
        "--as_of",
        default=None,
        type=dt.date.fromisoformat,
        help="day (YYYY-MM-DD) the dedup history window ends on (default: today, UTC)",
    )
    return parser.parse_known_args(list(argv) if argv is not None else None)


class ViewCachingOptions(PipelineOptions):
    """``PipelineOptions`` whose views are made once per options class.

    Beam 2.77 asks for ``view_as(TypeOptions)`` at every type-consistency check while it builds a
    graph, and each view parses the flags again with a new argparse parser: building the ingest
    graph made 2,735 views, 2.0 of its 3.5 s (cProfile). A view only proxies the shared
    ``_all_options``, so one view per class sees every later change, as a new view would.
    """

    def view_as(self, cls: type[PipelineOptionsT]) -> PipelineOptionsT:
        """The view of these options as ``cls``, made on first use."""
        views: dict[type, Any] = self.__dict__.setdefault("_views", {})
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return cast(PipelineOptionsT, view)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the views (Beam's own state hook may copy ``_all_options``)."""
        state: dict[str, Any] = super().__getstate__()
        return {key: value for key, value in state.items() if key != "_views"}


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Build Beam options, choosing the runner explicitly when the user did not."""
    options = ViewCachingOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    return options


def check_sources(replay: Optional[str], warc_input: Optional[str]) -> None:
    """Fail before the job starts when --replay or --warc_input names nothing readable."""
    if replay:
        if is_warc_source(replay):
            if not warc_files(replay):
                raise ValueError(f"--replay {replay!r}: no .warc/.warc.gz files there")
        elif not FileSystems.exists(FileSystems.join(replay, "index.jsonl")):
            raise ValueError(
                f"--replay {replay!r}: neither WARC files nor a recording directory (index.jsonl)"
            )
    if warc_input and not warc_files(warc_input):
        raise ValueError(f"--warc_input {warc_input!r}: no .warc/.warc.gz files match")


def job_from_args(args: argparse.Namespace) -> IngestJob:
    """Resolve command-line arguments into a validated IngestJob."""
    run_id = args.run_id or default_run_id()
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"--run_id {run_id!r} must match {RUN_ID_RE.pattern}")
    if (args.outlets is None) == (args.warc_input is None):
        raise ValueError("give exactly one of --outlets (feeds) and --warc_input (WARC files)")
    check_sources(args.replay, args.warc_input)
    if args.report is not None and "://" in args.output and not args.output.startswith("file://"):
        # The report reads the tables with DuckDB from a local directory.
        raise ValueError(f"--report needs a local --output, not {args.output!r}")
    config = load_config(args.config)
    sources = tuple(feed_sources(load_outlets(args.outlets))) if args.outlets else ()
    return IngestJob(
        sources=sources,
        output=args.output,
        config=config,
        run_id=run_id,
        replay_dir=args.replay,
        as_of=args.as_of or dt.datetime.now(dt.UTC).date(),
        # WARC input fetches nothing: there is no feed to poll and no response to archive.
        incremental=not args.warc_input and (args.incremental or config.incremental.enabled),
        archive_warc=not args.warc_input and (args.archive_warc or config.warc.archive),
        warc_input=args.warc_input,
        report=args.report,
    )
