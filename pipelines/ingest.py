"""Batch ingestion job: outlets' feeds -> articles -> labelled duplicates -> Parquet + run.json.

python -m pipelines.ingest --outlets seeds/outlets.yaml --output out/ [--replay DIR] [Beam flags]
"""

import argparse
import datetime as dt
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.dedup import DedupArticles
from transforms.dedup_history import ReadHistory, history_files
from transforms.dedup_near import NearDupSettings
from transforms.extract import ExtractArticles
from transforms.feeds import CollapseEntries, ReadFeeds
from transforms.fetch import FetchPages
from transforms.language import DetectLanguage
from transforms.outlets import feed_sources, load_outlets
from transforms.records import FeedSource
from transforms.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FILTERED_SCHEMA,
    SIGNATURE_SCHEMA,
    STORY_SCHEMA,
)
from transforms.settings import PipelineConfig, load_config
from transforms.sinks import CountKeys, WriteParquetTable, article_partition, read_json, write_json
from transforms.summary import build_summary, count_key

LOG = logging.getLogger("newsbeam.ingest")
# FnApiRunner, chosen explicitly: Beam's DirectRunner first tries to download the Prism binary and
# silently switches engines depending on network access (STYLE.md).
DEFAULT_RUNNER = "FnApiRunner"
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class IngestJob:
    """Everything one batch run needs, resolved and validated before the graph is built."""

    sources: tuple[FeedSource, ...]
    output: str
    config: PipelineConfig
    run_id: str
    replay_dir: Optional[str] = None
    # The day cross-run dedup counts its history window back from (dedup.history_days).
    as_of: dt.date = dt.date(1970, 1, 1)


def default_run_id(now: Optional[dt.datetime] = None) -> str:
    """Return a sortable run id from the current UTC time (``20261125T175600Z``)."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def table_paths(output: str) -> dict[str, str]:
    """Return the directory of every output table."""
    return {
        name: FileSystems.join(output, name)
        for name in ("articles", "dead_letters", "filtered", "stories", "signatures")
    }


def build_pipeline(p: beam.Pipeline, job: IngestJob) -> dict[str, Any]:
    """Add the ingestion graph to ``p``; return its main PCollections by name."""
    cfg = job.config
    paths = table_paths(job.output)
    sources = p | "OutletFeeds" >> beam.Create(list(job.sources)).with_output_types(FeedSource)
    feeds = sources | "ReadFeeds" >> ReadFeeds(cfg.fetch, job.replay_dir)
    entries, collapsed = feeds.main | "CollapseEntries" >> CollapseEntries()
    pages = entries | "FetchPages" >> FetchPages(cfg.fetch, job.replay_dir)
    extracted = pages.main | "ExtractArticles" >> ExtractArticles(cfg.extract)
    detected = extracted.main | "DetectLanguage" >> DetectLanguage(cfg.language)
    history_paths = history_files(
        paths["signatures"], job.as_of, cfg.dedup.history_days, exclude_run_id=job.run_id
    )
    history = p | "ReadHistory" >> ReadHistory(history_paths)
    dedup = detected.main | "DedupArticles" >> DedupArticles(
        job.run_id,
        history,
        cfg.dedup.component_rounds,
        near=NearDupSettings(threshold=cfg.dedup.near_threshold)
        if cfg.dedup.near_duplicates
        else None,
    )
    articles = dedup.articles

    filtered = (
        feeds.filtered,
        collapsed,
        pages.filtered,
        extracted.filtered,
        detected.filtered,
        dedup.filtered,
    ) | "AllFiltered" >> beam.Flatten()
    dead_letters = (
        feeds.dead_letters,
        pages.dead_letters,
        extracted.dead_letters,
        detected.dead_letters,
    ) | "AllDeadLetters" >> beam.Flatten()

    out = cfg.output
    articles | "WriteArticles" >> WriteParquetTable(
        paths["articles"],
        ARTICLE_SCHEMA,
        job.run_id,
        sort_key=lambda a: a.article_id,
        shard_key=lambda a: a.article_id,
        partition=article_partition,
        shards=out.shards_per_partition,
        compression=out.compression,
    )
    dead_letters | "WriteDeadLetters" >> WriteParquetTable(
        paths["dead_letters"],
        DEAD_LETTER_SCHEMA,
        job.run_id,
        sort_key=lambda d: (d.stage, d.url, d.error_type),
        shard_key=lambda d: d.url,
        compression=out.compression,
    )
    filtered | "WriteFiltered" >> WriteParquetTable(
        paths["filtered"],
        FILTERED_SCHEMA,
        job.run_id,
        sort_key=lambda f: (f.stage, f.url, f.reason),
        shard_key=lambda f: f.url,
        compression=out.compression,
    )

    dedup.stories | "WriteStories" >> WriteParquetTable(
        paths["stories"],
        STORY_SCHEMA,
        job.run_id,
        sort_key=lambda s: s.story_id,
        shard_key=lambda s: s.story_id,
        partition=lambda s: f"date={s.first_seen[:10]}",
        shards=out.shards_per_partition,
        compression=out.compression,
    )
    dedup.signatures | "WriteSignatures" >> WriteParquetTable(
        paths["signatures"],
        SIGNATURE_SCHEMA,
        job.run_id,
        sort_key=lambda s: s.article_id,
        shard_key=lambda s: s.article_id,
        partition=lambda s: f"date={(s.published_at or s.fetched_at)[:10]}",
        shards=out.shards_per_partition,
        compression=out.compression,
    )

    counted = [
        sources | "KeyFeeds" >> beam.Map(count_key),
        feeds.main | "KeyEntries" >> beam.Map(count_key),
        filtered | "KeyFiltered" >> beam.Map(count_key),
        dead_letters | "KeyDeadLetters" >> beam.Map(count_key),
        pages.hosts_backed_off | "KeyBackedOffHosts" >> beam.Map(count_key),
        articles | "KeyArticles" >> beam.Map(count_key),
        dedup.stories | "KeyStories" >> beam.Map(count_key),
    ]
    run_id, output = job.run_id, job.output
    (
        counted
        | "FlattenOutcomes" >> beam.Flatten()
        | "CountOutcomes" >> CountKeys()
        | "WriteRunSummary"
        >> beam.Map(
            lambda counts: _write_summaries(build_summary(counts, run_id, output), output, run_id)
        )
    )
    return {
        "articles": articles,
        "filtered": filtered,
        "dead_letters": dead_letters,
        "entries": entries,
        "stories": dedup.stories,
    }


def _write_summaries(summary: dict[str, Any], output: str, run_id: str) -> dict[str, Any]:
    """Write ``run.json`` (latest run) and ``runs/<run_id>.json`` (history)."""
    write_json(FileSystems.join(output, "runs", f"{run_id}.json"), summary)
    write_json(FileSystems.join(output, "run.json"), summary)
    return summary


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, list[str]]:
    """Split our arguments from Beam's pipeline flags."""
    parser = argparse.ArgumentParser(prog="newsbeam ingest", description=__doc__)
    parser.add_argument("--outlets", required=True, help="outlets YAML or OPML file")
    parser.add_argument("--output", required=True, help="output directory (local, gs://, s3://)")
    parser.add_argument("--config", default=None, help="YAML config (default: config/default.yaml)")
    parser.add_argument("--replay", default=None, help="serve HTTP from this recording directory")
    parser.add_argument("--run_id", default=None, help="id used in output file names")
    parser.add_argument(
        "--as_of",
        default=None,
        type=dt.date.fromisoformat,
        help="day (YYYY-MM-DD) the dedup history window ends on (default: today, UTC)",
    )
    return parser.parse_known_args(list(argv) if argv is not None else None)


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Build Beam options, choosing the runner explicitly when the user did not."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    return options


def job_from_args(args: argparse.Namespace) -> IngestJob:
    """Resolve command-line arguments into a validated IngestJob."""
    run_id = args.run_id or default_run_id()
    if not _RUN_ID_RE.match(run_id):
        raise ValueError(f"--run_id {run_id!r} must match {_RUN_ID_RE.pattern}")
    outlets = load_outlets(args.outlets)
    return IngestJob(
        sources=tuple(feed_sources(outlets)),
        output=args.output,
        config=load_config(args.config),
        run_id=run_id,
        replay_dir=args.replay,
        as_of=args.as_of or dt.datetime.now(dt.UTC).date(),
    )


def run(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Run the batch job to completion; return the run summary."""
    args, beam_args = parse_args(argv)
    job = job_from_args(args)
    options = pipeline_options(beam_args)
    LOG.info("run %s: %d feeds -> %s", job.run_id, len(job.sources), job.output)
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, job)
    return read_json(FileSystems.join(job.output, "runs", f"{job.run_id}.json"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point for ``python -m pipelines.ingest``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    summary = run(argv)
    print(format_summary(summary))
    return 0 if summary["balance"]["balanced"] else 1


def format_summary(summary: dict[str, Any]) -> str:
    """Render the run summary for a terminal."""
    arts = summary["articles"]
    lines = [
        f"run {summary['run_id']} -> {summary['output']}",
        f"  feeds: {summary['feeds']['ok']} ok, {summary['feeds']['failed']} failed",
        f"  entries in: {summary['entries_in']}",
        f"  articles written: {arts['written']} ({arts['unique']} originals, of which "
        f"{arts['same_story']} joined another article's story; {arts['duplicates_total']} "
        f"labelled copies {arts['duplicates']})",
        f"  stories: {summary['stories']['touched']} "
        f"({summary['stories']['multi_outlet']} covered by several outlets)",
        f"  filtered: {summary['filtered']['total']} {summary['filtered']['by_stage']}",
        f"  dead letters: {summary['dead_letters']['total']} {summary['dead_letters']['by_stage']}",
        f"  balanced: {summary['balance']['balanced']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
