"""Batch ingestion job: outlets' feeds -> articles -> labelled duplicates -> Parquet + run.json.

python -m pipelines.ingest --outlets seeds/outlets.yaml --output out/ [--replay DIR] [Beam flags]
python -m pipelines.ingest --warc_input 'crawl/*.warc.gz' --output out/   # WARC pages, no feeds
"""

import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.pvalue import PCollection
from apache_beam.transforms.combiners import Count

from pipelines.ingest_job import IngestJob, job_from_args, parse_args, pipeline_options
from pipelines.progress import ProgressLine, runner_name, wants_progress
from reporting.text import format_summary
from transforms.core import Article, FeedSource
from transforms.core.progress import (
    DEAD_LETTERS,
    EXTRACTED,
    FETCHED,
    QUEUED,
    ProgressAddress,
    TapProgress,
)
from transforms.core.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_STATE_SCHEMA,
    FILTERED_SCHEMA,
    LEDGER_SCHEMA,
    SIGNATURE_SCHEMA,
    STORY_SCHEMA,
)
from transforms.core.tables import read_json, write_json
from transforms.dedup import DedupArticles, ReadHistory
from transforms.dedup.history import history_files
from transforms.dedup.near import NearDupSettings
from transforms.extract import ExtractArticles
from transforms.feeds import CollapseEntries, ReadFeeds, ReadFeedStates
from transforms.fetch import (
    FetchPages,
    ReadLedger,
    ReadWarcPages,
    RecordFetchOutcomes,
    SkipFetchedLinks,
)
from transforms.fetch.warc_input import fill_published_from_warc_date
from transforms.language import DetectLanguage
from transforms.net import TransportOptions
from transforms.sinks import CountKeys, WriteParquetTable, build_summary
from transforms.sinks.parquet import article_partition
from transforms.sinks.summary import WARC_FILE_KEY, count_key

LOG = logging.getLogger("newsbeam.ingest")


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
        cfg.fetch, transport, states=states, run_id=job.run_id, progress=job.progress
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


def _tap_progress(
    address: ProgressAddress, read: SourcePages, extracted: PCollection, dead: PCollection
) -> None:
    """Count queued, fetched, extracted and dead-lettered items for the live progress line."""
    read.entries | "ProgressQueued" >> TapProgress(address, QUEUED)
    read.pages | "ProgressFetched" >> TapProgress(address, FETCHED)
    extracted | "ProgressExtracted" >> TapProgress(address, EXTRACTED)
    dead | "ProgressDeadLetters" >> TapProgress(address, DEAD_LETTERS)


def spreads_pages(options: PipelineOptions) -> bool:
    """Whether fetched pages are spread over the workers before extraction (``SpreadPages``).

    Pages leave FetchPages (and ReadWarcPages) grouped by host (by file), one group per unit of
    work, and hosts differ in size: on two FnApiRunner workers one sat idle for most of the job
    (974 pages: 43.6 s, 38.5 s spread; benchmarks/pipeline.py), and on a cluster a 200-page
    host group would be extracted by one worker. Extraction is CPU-bound and per page, so pages
    are reshuffled first, except on a single in-process worker, where the shuffle spreads
    nothing and only holds every page body in memory (peak RSS 682 -> 1,051 MB on those pages).
    """
    if runner_name(options) not in ("FnApiRunner", "DirectRunner"):
        return True
    return options.view_as(DirectOptions).direct_num_workers != 1


def build_pipeline(p: beam.Pipeline, job: IngestJob) -> dict[str, Any]:
    """Add the ingestion graph to ``p``; return its main PCollections by name."""
    cfg = job.config
    paths = table_paths(job.output)
    read = _pages_from_warc(p, job) if job.warc_input else _pages_from_feeds(p, job, paths)
    pages = read.pages
    if spreads_pages(p.options):
        pages = read.pages | "SpreadPages" >> beam.Reshuffle()
    extracted = pages | "ExtractArticles" >> ExtractArticles(cfg.extract)
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
    if job.progress is not None:
        _tap_progress(job.progress, read, extracted.main, dead_letters)

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


def run(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Run the batch job to completion; return the run summary."""
    args, beam_args = parse_args(argv)
    job = job_from_args(args)
    options = pipeline_options(beam_args)
    if job.warc_input:
        LOG.info("run %s: WARC %s -> %s", job.run_id, job.warc_input, job.output)
    else:
        LOG.info("run %s: %d feeds -> %s", job.run_id, len(job.sources), job.output)
    line = None
    if wants_progress(args.progress, options, sys.stderr):
        line = ProgressLine(sys.stderr, len(job.sources))
        job = dataclasses.replace(job, progress=line.start())
    try:
        with beam.Pipeline(options=options) as p:
            build_pipeline(p, job)
    except BaseException:
        if line is not None:
            line.stop()
        raise
    summary = read_json(FileSystems.join(job.output, "runs", f"{job.run_id}.json"))
    if line is not None:
        line.stop(summary)
    if job.report is not None:
        # Imported here: plotly, jinja2 and DuckDB load only for runs that write a report.
        from reporting.html import build_report

        path, _data = build_report(job.output, job.report or None)
        LOG.info("run %s: report %s", job.run_id, path)
        # Returned to the caller only; run.json and runs/<run_id>.json stay as the job wrote them.
        summary = {**summary, "report": path}
    return summary


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


if __name__ == "__main__":
    sys.exit(main())
