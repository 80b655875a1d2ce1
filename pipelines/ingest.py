"""Batch ingestion job: outlets' feeds -> articles -> labelled duplicates -> Parquet + run.json.

python -m pipelines.ingest --outlets seeds/outlets.yaml --output out/ [--replay DIR] [Beam flags]
python -m pipelines.ingest --warc_input 'crawl/*.warc.gz' --output out/   # WARC pages, no feeds
"""

import argparse
import datetime as dt
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import PCollection
from apache_beam.transforms.combiners import Count

from transforms.core.records import Article, FeedSource
from transforms.core.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_STATE_SCHEMA,
    FILTERED_SCHEMA,
    LEDGER_SCHEMA,
    SIGNATURE_SCHEMA,
    STORY_SCHEMA,
)
from transforms.core.settings import PipelineConfig, load_config
from transforms.core.tables import read_json, write_json
from transforms.dedup.articles import DedupArticles
from transforms.dedup.history import ReadHistory, history_files
from transforms.dedup.near.edges import NearDupSettings
from transforms.extract.article import ExtractArticles
from transforms.feeds.collapse import CollapseEntries
from transforms.feeds.outlets import feed_sources, load_outlets
from transforms.feeds.read import ReadFeeds
from transforms.feeds.state import ReadFeedStates
from transforms.fetch.ledger import ReadLedger, RecordFetchOutcomes, SkipFetchedLinks
from transforms.fetch.pages import FetchPages
from transforms.fetch.warc_input import ReadWarcPages, fill_published_from_warc_date
from transforms.language.detect import DetectLanguage
from transforms.net.client import TransportOptions
from transforms.net.warc import is_warc_source, warc_files
from transforms.sinks.parquet import CountKeys, WriteParquetTable, article_partition
from transforms.sinks.summary import WARC_FILE_KEY, build_summary, count_key

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
    # The day cross-run dedup counts its history window back from (dedup.history_days); also
    # the window of the feed state and ledger (incremental.retention_days) and their partition.
    as_of: dt.date = dt.date(1970, 1, 1)
    # Conditional GET for feeds and the seen-URL ledger (transforms/incremental.py).
    incremental: bool = False
    # Write every raw response to <output>/warc/ (transforms/warc.py).
    archive_warc: bool = False
    # Read pages from these WARC files instead of feeds (a glob; CC-NEWS-style input).
    warc_input: Optional[str] = None


def default_run_id(now: Optional[dt.datetime] = None) -> str:
    """Return a sortable run id from the current UTC time (``20261125T175600Z``)."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def table_paths(output: str) -> dict[str, str]:
    """Return the directory of every output table."""
    paths = {
        name: FileSystems.join(output, name)
        for name in ("articles", "dead_letters", "filtered", "stories", "signatures", "ledger")
    }
    paths["feed_state"] = FileSystems.join(output, "state", "feeds")
    paths["warc"] = FileSystems.join(output, "warc")
    return paths


class SourcePages(NamedTuple):
    """Pages to extract, and what reading them left to count (feeds or WARC input)."""

    pages: PCollection
    entries: PCollection
    filtered: tuple[PCollection, ...]
    dead_letters: tuple[PCollection, ...]
    counted: tuple[PCollection, ...]
    # Incremental runs: this run's ledger rows and feed states, written after the tables.
    ledger: Optional[PCollection] = None
    feed_states: Optional[PCollection] = None


def _pages_from_feeds(p: beam.Pipeline, job: IngestJob, paths: dict[str, str]) -> SourcePages:
    """Feeds -> entries -> (ledger) -> fetched pages; feed state and ledger written when asked."""
    cfg = job.config
    transport = TransportOptions(
        replay=job.replay_dir,
        archive_dir=paths["warc"] if job.archive_warc else None,
        run_id=job.run_id,
    )
    states = None
    if job.incremental:
        state_files = history_files(
            paths["feed_state"], job.as_of, cfg.incremental.retention_days, job.run_id
        )
        states = p | "ReadFeedStates" >> ReadFeedStates(state_files)
    sources = p | "OutletFeeds" >> beam.Create(list(job.sources)).with_output_types(FeedSource)
    feeds = sources | "ReadFeeds" >> ReadFeeds(
        cfg.fetch, transport, states=states, run_id=job.run_id
    )
    entries, collapsed = feeds.main | "CollapseEntries" >> CollapseEntries()
    filtered: tuple[PCollection, ...] = (feeds.filtered, collapsed)
    if job.incremental:
        ledger_files = history_files(
            paths["ledger"], job.as_of, cfg.incremental.retention_days, job.run_id
        )
        ledger = p | "ReadLedger" >> ReadLedger(ledger_files)
        entries, seen = entries | "SkipFetchedLinks" >> SkipFetchedLinks(ledger)
        filtered += (seen,)
    pages = entries | "FetchPages" >> FetchPages(cfg.fetch, transport)
    counted: tuple[PCollection, ...] = (
        sources | "KeyFeeds" >> beam.Map(count_key),
        feeds.main | "KeyEntries" >> beam.Map(count_key),
        pages.hosts_backed_off | "KeyBackedOffHosts" >> beam.Map(count_key),
    )
    recorded = None
    if job.incremental:
        recorded = (
            pages.main,
            pages.filtered,
            pages.dead_letters,
        ) | "RecordFetchOutcomes" >> RecordFetchOutcomes(job.run_id)
        counted += (
            feeds.states | "KeyFeedStates" >> beam.Map(count_key),
            recorded | "KeyLedger" >> beam.Map(count_key),
        )
    return SourcePages(
        pages=pages.main,
        entries=entries,
        filtered=(*filtered, pages.filtered),
        dead_letters=(feeds.dead_letters, pages.dead_letters),
        counted=counted,
        ledger=recorded,
        feed_states=feeds.states if job.incremental else None,
    )


def _after(label: str, items: PCollection, done: PCollection) -> PCollection:
    """``items``, released only once ``done`` is complete (a side input orders the stages)."""
    finished = done | f"{label}Count" >> Count.Globally()
    return items | label >> beam.Map(lambda item, _n: item, beam.pvalue.AsSingleton(finished))


def _write_incremental_state(
    read: SourcePages, tables_written: PCollection, job: IngestJob, paths: dict[str, str]
) -> None:
    """Write the ledger after the tables, then the feed states after the ledger.

    A run that dies before the end then errs on the side of fetching again: a link is in the
    ledger only if its article (or its filtered/dead-letter row) was written, and a feed is
    "not modified" next time only if this run's ledger rows for it were written.
    """
    assert read.ledger is not None and read.feed_states is not None
    run_day = f"date={job.as_of.isoformat()}"
    out = job.config.output
    ledger_files = _after("AfterTablesWritten", read.ledger, tables_written) | (
        "WriteLedger"
        >> WriteParquetTable(
            paths["ledger"],
            LEDGER_SCHEMA,
            job.run_id,
            sort_key=lambda e: (e.link_key, e.url),
            shard_key=lambda e: e.link_key,
            partition=lambda _e: run_day,
            shards=out.shards_per_partition,
            compression=out.compression,
        )
    )
    _after("AfterLedgerWritten", read.feed_states, ledger_files) | "WriteFeedStates" >> (
        WriteParquetTable(
            paths["feed_state"],
            FEED_STATE_SCHEMA,
            job.run_id,
            sort_key=lambda s: s.feed_url,
            shard_key=lambda s: s.feed_url,
            partition=lambda _s: run_day,
            compression=out.compression,
        )
    )


def _pages_from_warc(p: beam.Pipeline, job: IngestJob) -> SourcePages:
    """WARC response records -> pages, one entry per record (CC-NEWS-style input, no feeds)."""
    assert job.warc_input is not None
    read = p | "ReadWarcPages" >> ReadWarcPages(job.warc_input, job.config.fetch.max_bytes)
    counted = (
        read.files | "KeyWarcFiles" >> beam.Map(lambda _path: WARC_FILE_KEY),
        read.entries | "KeyEntries" >> beam.Map(count_key),
    )
    return SourcePages(
        pages=read.main,
        entries=read.entries,
        filtered=(read.filtered,),
        dead_letters=(read.dead_letters,),
        counted=counted,
    )


def build_pipeline(p: beam.Pipeline, job: IngestJob) -> dict[str, Any]:
    """Add the ingestion graph to ``p``; return its main PCollections by name."""
    cfg = job.config
    paths = table_paths(job.output)
    read = _pages_from_warc(p, job) if job.warc_input else _pages_from_feeds(p, job, paths)
    extracted = read.pages | "ExtractArticles" >> ExtractArticles(cfg.extract)
    extracted_articles = extracted.main
    if job.warc_input:
        extracted_articles = extracted.main | "WarcDateAsLastResort" >> beam.Map(
            fill_published_from_warc_date
        ).with_output_types(Article)
    detected = extracted_articles | "DetectLanguage" >> DetectLanguage(cfg.language)
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
        *read.filtered,
        extracted.filtered,
        detected.filtered,
        dedup.filtered,
    ) | "AllFiltered" >> beam.Flatten()
    dead_letters = (
        *read.dead_letters,
        extracted.dead_letters,
        detected.dead_letters,
    ) | "AllDeadLetters" >> beam.Flatten()

    out = cfg.output
    article_files = articles | "WriteArticles" >> WriteParquetTable(
        paths["articles"],
        ARTICLE_SCHEMA,
        job.run_id,
        sort_key=lambda a: a.article_id,
        shard_key=lambda a: a.article_id,
        partition=article_partition,
        shards=out.shards_per_partition,
        compression=out.compression,
    )
    dead_letter_files = dead_letters | "WriteDeadLetters" >> WriteParquetTable(
        paths["dead_letters"],
        DEAD_LETTER_SCHEMA,
        job.run_id,
        sort_key=lambda d: (d.stage, d.url, d.error_type),
        shard_key=lambda d: d.url,
        compression=out.compression,
    )
    filtered_files = filtered | "WriteFiltered" >> WriteParquetTable(
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

    if read.ledger is not None:
        tables_written = (
            article_files,
            dead_letter_files,
            filtered_files,
        ) | "TablesWritten" >> beam.Flatten()
        _write_incremental_state(read, tables_written, job, paths)

    counted = [
        *read.counted,
        filtered | "KeyFiltered" >> beam.Map(count_key),
        dead_letters | "KeyDeadLetters" >> beam.Map(count_key),
        articles | "KeyArticles" >> beam.Map(count_key),
        dedup.stories | "KeyStories" >> beam.Map(count_key),
    ]
    run_id, output = job.run_id, job.output
    flags = {"incremental": job.incremental, "warc_input": bool(job.warc_input)}
    (
        counted
        | "FlattenOutcomes" >> beam.Flatten()
        | "CountOutcomes" >> CountKeys()
        | "WriteRunSummary"
        >> beam.Map(
            lambda counts: _write_summaries(
                build_summary(counts, run_id, output, **flags), output, run_id
            )
        )
    )
    return {
        "articles": articles,
        "filtered": filtered,
        "dead_letters": dead_letters,
        "entries": read.entries,
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
    if not _RUN_ID_RE.match(run_id):
        raise ValueError(f"--run_id {run_id!r} must match {_RUN_ID_RE.pattern}")
    if (args.outlets is None) == (args.warc_input is None):
        raise ValueError("give exactly one of --outlets (feeds) and --warc_input (WARC files)")
    check_sources(args.replay, args.warc_input)
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
    )


def run(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Run the batch job to completion; return the run summary."""
    args, beam_args = parse_args(argv)
    job = job_from_args(args)
    options = pipeline_options(beam_args)
    if job.warc_input:
        LOG.info("run %s: WARC %s -> %s", job.run_id, job.warc_input, job.output)
    else:
        LOG.info("run %s: %d feeds -> %s", job.run_id, len(job.sources), job.output)
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, job)
    return read_json(FileSystems.join(job.output, "runs", f"{job.run_id}.json"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point for ``python -m pipelines.ingest``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    try:
        summary = run(argv)
    except (ValueError, OSError) as exc:
        # Bad arguments, config or outlet files (ConfigError and OutletsError are ValueErrors):
        # one clear line, not a traceback. Failures inside the job are dead letters instead.
        print(f"newsbeam ingest: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0 if summary["balance"]["balanced"] else 1


def format_summary(summary: dict[str, Any]) -> str:
    """Render the run summary for a terminal."""
    arts = summary["articles"]
    lines = [
        f"run {summary['run_id']} -> {summary['output']}",
        f"  feeds: {summary['feeds']['ok']} ok, {summary['feeds']['failed']} failed"
        + (
            f", {summary['feeds']['not_modified']} not modified"
            if "not_modified" in summary["feeds"]
            else ""
        ),
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
