"""Streaming job: poll the outlets' feeds every N seconds -> the batch stages -> Parquet per window.

python -m pipelines.stream --outlets seeds/outlets.yaml --output out/stream
    --start 2025-01-01T00:00:00Z --duration_s 600
    --runner PrismRunner --prism_location .tools/prism/prism [Beam flags]

PeriodicImpulse (explicit start) -> every feed per tick -> fixed windows -> ReadFeeds ->
CollapseEntries (per window) -> SkipSeenLinks (global-window state, TTL) -> FetchPages (per
window) -> ExtractArticles -> DetectLanguage -> StreamDedup (url, canonical, exact, near-duplicate
and same-story labels from keyed state with a TTL) -> fixed windows -> Parquet per window pane
(articles, stories, filtered, dead letters) + a count summary per window.
See docs/streaming.md.
"""

import argparse
import dataclasses
import datetime as dt
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import PCollection
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.window import FixedWindows

from pipelines.ingest_job import ViewCachingOptions
from transforms.core import FeedSource, PipelineConfig, load_config
from transforms.core.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FILTERED_SCHEMA,
    STORY_SCHEMA,
)
from transforms.core.settings import DedupSettings, StreamSettings
from transforms.core.timeutil import parse_iso
from transforms.dedup import SkipSeenLinks, StreamDedup
from transforms.dedup.near import NearDupSettings
from transforms.extract import ExtractArticles
from transforms.feeds import CollapseEntries, ReadFeeds, feed_sources, load_outlets
from transforms.fetch import FetchPages
from transforms.language import DetectLanguage
from transforms.sinks import SummarizeWindows, WriteWindowedParquet
from transforms.sinks.streaming import stream_windows

LOG = logging.getLogger("newsbeam.stream")
# Never Beam's default DirectRunner: it downloads Prism when online and silently falls back to
# FnApiRunner offline (STYLE.md). The streaming job needs a runner that streams.
RUNNERS = (
    "PrismRunner",
    "BundleBasedDirectRunner",
    "DirectRunner",
    "FlinkRunner",
    "DataflowRunner",
)


@dataclass(frozen=True)
class StreamJob:
    """Everything one streaming run needs, resolved before the graph is built."""

    sources: tuple[FeedSource, ...]
    output: str
    config: PipelineConfig
    # Unix seconds of the first poll, and of the end (None: run until cancelled).
    start: float
    stop: Optional[float] = None

    @property
    def stream(self) -> StreamSettings:
        """The stream section of the config."""
        return self.config.stream


class StreamOutputs(NamedTuple):
    """The windowed tables of the streaming graph."""

    articles: PCollection
    stories: PCollection
    filtered: PCollection
    dead_letters: PCollection
    summaries: PCollection


def stream_paths(output: str) -> dict[str, str]:
    """Return the directory of every streaming output table."""
    return {
        name: FileSystems.join(output, name)
        for name in ("articles", "stories", "filtered", "dead_letters")
    }


def sources_per_tick(_tick: Any, sources: Sequence[FeedSource]) -> list[FeedSource]:
    """Every configured feed, once per impulse tick (the tick's timestamp comes along)."""
    return list(sources)


def write_article_tables(
    articles: PCollection,
    stories: PCollection,
    filtered: PCollection,
    dead_letters: PCollection,
    entries: PCollection,
    output: str,
    settings: StreamSettings,
    compression: str,
) -> StreamOutputs:
    """Window the outcomes into fixed output windows; write Parquet and a summary per window."""
    paths = stream_paths(output)
    size, lateness = settings.window_s, settings.allowed_lateness_s
    # A WindowInto per input: one instance applied twice would carry the first input's type.
    w_articles = articles | "ArticleWindows" >> stream_windows(size, lateness)
    w_stories = stories | "StoryWindows" >> stream_windows(size, lateness)
    w_filtered = filtered | "FilteredWindows" >> stream_windows(size, lateness)
    w_dead = dead_letters | "DeadLetterWindows" >> stream_windows(size, lateness)
    w_entries = entries | "EntryWindows" >> stream_windows(size, lateness)
    w_articles | "WriteArticles" >> WriteWindowedParquet(
        paths["articles"], ARTICLE_SCHEMA, lambda a: a.article_id, compression
    )
    w_stories | "WriteStories" >> WriteWindowedParquet(
        paths["stories"], STORY_SCHEMA, lambda s: s.story_id, compression
    )
    w_filtered | "WriteFiltered" >> WriteWindowedParquet(
        paths["filtered"], FILTERED_SCHEMA, lambda f: (f.stage, f.url, f.reason), compression
    )
    w_dead | "WriteDeadLetters" >> WriteWindowedParquet(
        paths["dead_letters"], DEAD_LETTER_SCHEMA, lambda d: (d.stage, d.url), compression
    )
    summaries = (
        (
            w_articles,
            w_stories,
            w_filtered,
            w_dead,
            w_entries,
        )
        | "AllOutcomes" >> beam.Flatten()
        | "SummarizeWindows" >> SummarizeWindows(output)
    )
    return StreamOutputs(w_articles, w_stories, w_filtered, w_dead, summaries)


def near_settings(dedup: DedupSettings) -> Optional[NearDupSettings]:
    """The near-duplicate layer's settings from the dedup config (None: switched off)."""
    return NearDupSettings(threshold=dedup.near_threshold) if dedup.near_duplicates else None


class DedupAndWrite(beam.PTransform):
    """Articles -> StreamDedup -> Parquet per window (the part of the graph after the stages)."""

    def __init__(
        self,
        output: str,
        settings: StreamSettings,
        compression: str = "zstd",
        dedup: Optional[DedupSettings] = None,
    ) -> None:
        super().__init__()
        self._output = output
        self._settings = settings
        self._compression = compression
        self._dedup = dedup or DedupSettings()

    def expand(self, inputs: Any) -> Any:  # StreamOutputs
        articles, filtered, dead_letters, entries = inputs
        settings = self._settings
        dedup = articles | "StreamDedup" >> StreamDedup(
            settings.dedup_ttl_s,
            settings.window_s,
            settings.allowed_lateness_s,
            near=near_settings(self._dedup),
        )
        # Back from the global window before joining the per-window stage outputs.
        dedup_filtered = dedup.filtered | "DedupFilteredWindows" >> beam.WindowInto(
            FixedWindows(settings.window_s)
        )
        all_filtered = (filtered, dedup_filtered) | "AllFiltered" >> beam.Flatten()
        return write_article_tables(
            dedup.articles,
            dedup.stories,
            all_filtered,
            dead_letters,
            entries,
            self._output,
            settings,
            self._compression,
        )


def poll_ticks(p: beam.Pipeline, job: StreamJob) -> PCollection:
    """One element per poll, stamped with its time: PeriodicImpulse from the explicit start."""
    return p | "PollEvery" >> PeriodicImpulse(
        start_timestamp=job.start,
        stop_timestamp=job.stop if job.stop is not None else float(2**40),
        fire_interval=job.stream.interval_s,
    )


def build_stream_pipeline(
    p: beam.Pipeline, job: StreamJob, ticks: Optional[PCollection] = None
) -> StreamOutputs:
    """Add the streaming graph to ``p``; return its windowed tables.

    ``ticks`` replaces PeriodicImpulse (tests drive polls with TestStream: the BundleBased
    direct runner cannot run PeriodicImpulse's splittable DoFn).
    """
    cfg, settings = job.config, job.stream
    if ticks is None:
        ticks = poll_ticks(p, job)
    sources = (
        ticks
        | "OutletFeeds"
        >> beam.FlatMap(sources_per_tick, list(job.sources)).with_output_types(FeedSource)
        # Every GroupByKey below (collapse, fetch by host) needs a window that closes.
        | "PollWindows" >> beam.WindowInto(FixedWindows(settings.window_s))
    )
    feeds = sources | "ReadFeeds" >> ReadFeeds(cfg.fetch)
    entries, collapsed = feeds.main | "CollapseEntries" >> CollapseEntries()
    new_entries, seen = entries | "SkipSeenLinks" >> SkipSeenLinks(settings.seen_ttl_s)
    # Back from the global window: fetching groups by host, which needs a window that closes.
    to_fetch = new_entries | "FetchWindows" >> beam.WindowInto(FixedWindows(settings.window_s))
    seen = seen | "SeenWindows" >> beam.WindowInto(FixedWindows(settings.window_s))
    pages = to_fetch | "FetchPages" >> FetchPages(cfg.fetch)
    extracted = pages.main | "ExtractArticles" >> ExtractArticles(cfg.extract)
    detected = extracted.main | "DetectLanguage" >> DetectLanguage(cfg.language)
    filtered = (
        feeds.filtered,
        collapsed,
        seen,
        pages.filtered,
        extracted.filtered,
        detected.filtered,
    ) | "StageFiltered" >> beam.Flatten()
    dead_letters = (
        feeds.dead_letters,
        pages.dead_letters,
        extracted.dead_letters,
        detected.dead_letters,
    ) | "StageDeadLetters" >> beam.Flatten()
    return (
        detected.main,
        filtered,
        dead_letters,
        feeds.main,
    ) | "DedupAndWrite" >> DedupAndWrite(job.output, settings, cfg.output.compression, cfg.dedup)


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, list[str]]:
    """Split our arguments from Beam's pipeline flags."""
    parser = argparse.ArgumentParser(prog="newsbeam stream", description=__doc__)
    parser.add_argument("--outlets", required=True, help="outlets YAML or OPML file")
    parser.add_argument("--output", required=True, help="output directory (local, gs://, s3://)")
    parser.add_argument("--config", default=None, help="YAML config (default: config/default.yaml)")
    parser.add_argument("--interval_s", type=float, default=None, help="seconds between polls")
    parser.add_argument("--window_s", type=float, default=None, help="output window, seconds")
    parser.add_argument("--dedup_ttl_s", type=float, default=None, help="dedup state TTL")
    parser.add_argument("--seen_ttl_s", type=float, default=None, help="seen-link state TTL")
    parser.add_argument(
        "--start", default=None, help="first poll, ISO 8601 UTC (default: now, passed explicitly)"
    )
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--stop", default=None, help="stop polling at this ISO 8601 time")
    end.add_argument("--duration_s", type=float, default=None, help="stop polling after this")
    return parser.parse_known_args(list(argv) if argv is not None else None)


def _unix(value: str) -> float:
    """Parse an ISO 8601 time into Unix seconds (naive times are UTC)."""
    parsed = parse_iso(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return parsed.timestamp()


def job_from_args(args: argparse.Namespace, now: Optional[float] = None) -> StreamJob:
    """Resolve command-line arguments into a StreamJob (flags override the stream: section)."""
    config = load_config(args.config)
    overrides = {
        name: getattr(args, name)
        for name in ("interval_s", "window_s", "dedup_ttl_s", "seen_ttl_s")
        if getattr(args, name) is not None
    }
    if overrides:
        config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, **overrides))
    start = _unix(args.start) if args.start else float(now if now is not None else time.time())
    stop = None
    if args.stop:
        stop = _unix(args.stop)
    elif args.duration_s is not None:
        stop = start + args.duration_s
    if stop is not None and stop <= start:
        raise ValueError("--stop/--duration_s must end after --start")
    return StreamJob(
        sources=tuple(feed_sources(load_outlets(args.outlets))),
        output=args.output,
        config=config,
        start=start,
        stop=stop,
    )


def stream_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options with streaming on; the runner must be named (no silent default)."""
    options = ViewCachingOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        raise ValueError(f"choose a runner explicitly: --runner one of {', '.join(RUNNERS)}")
    standard.streaming = True
    return options


def run(argv: Optional[Sequence[str]] = None) -> StreamJob:
    """Run the streaming job until its stop time (or until cancelled); return the job."""
    args, beam_args = parse_args(argv)
    job = job_from_args(args)
    options = stream_options(beam_args)
    LOG.info(
        "stream: %d feeds every %ss from %s -> %s (windows of %ss)",
        len(job.sources),
        job.stream.interval_s,
        dt.datetime.fromtimestamp(job.start, dt.UTC).isoformat(),
        job.output,
        job.stream.window_s,
    )
    with beam.Pipeline(options=options) as p:
        build_stream_pipeline(p, job)
    return job


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point for ``python -m pipelines.stream``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        run(argv)
    except ValueError as exc:
        print(f"newsbeam stream: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
