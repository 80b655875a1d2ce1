"""Streaming dedup against batch on a labelled corpus: the same articles, in windows, in date order.

python benchmarks/stream_dedup.py [--corpus DIR] [--windows 1 6 24 100]

The articles of a giveme5w1h-style directory (``newsbeam eval dedup``'s reading of it) are sorted
by publication date and fed to ``DedupAndWrite`` in ``--windows`` equal groups, one per event-time
window, by TestStream on the BundleBasedDirectRunner (streaming); the TTL keeps every window. The
same articles go through batch ``DedupArticles`` on FnApiRunner at once. Printed as JSON: pairwise
precision/recall/F1 of both groupings against the gold events, how far the streaming grouping
agrees with batch's (pairwise, batch as truth), how many labels (dup_method, duplicate_of,
story_id) are equal, the scores of the first and the second half of the windows (cold and warm
state), and wall times.
"""

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import pyarrow.dataset as ds
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from evaluation.dedup import articles_of, dedup_labels
from evaluation.stories import pairwise_scores
from pipelines.stream import DedupAndWrite
from transforms.core.records import Article, DeadLetter, FeedEntry, FilteredItem
from transforms.core.settings import StreamSettings

ROOT = Path(__file__).resolve().parent.parent
WINDOW_S = 60.0
START = 1_750_000_020.0  # a window boundary


def run_stream(groups: Sequence[Sequence[Article]], output: Path) -> list[dict[str, Any]]:
    """Feed one group per window through DedupAndWrite (streaming); return the article rows."""
    settings = StreamSettings(window_s=WINDOW_S, dedup_ttl_s=10 * 365 * 86400.0)
    stream = TestStream().advance_watermark_to(START)
    for n, group in enumerate(groups):
        start = START + n * WINDOW_S
        stream = stream.add_elements(
            [TimestampedValue(a, start + 1) for a in group]
        ).advance_watermark_to(start + WINDOW_S)
    stream = stream.advance_watermark_to_infinity()
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        articles = p | "Articles" >> stream
        no_filtered = p | "NoFiltered" >> beam.Create([]).with_output_types(FilteredItem)
        no_dead = p | "NoDead" >> beam.Create([]).with_output_types(DeadLetter)
        no_entries = p | "NoEntries" >> beam.Create([]).with_output_types(FeedEntry)
        (articles, no_filtered, no_dead, no_entries) | DedupAndWrite(str(output), settings)
    table = ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


def in_windows(articles: Sequence[Article], windows: int) -> list[list[Article]]:
    """Articles by publication date (undated last), cut into ``windows`` consecutive groups."""
    ordered = sorted(articles, key=lambda a: (a.published_at is None, a.published_at or ""))
    n = len(ordered)
    return [list(ordered[i * n // windows : (i + 1) * n // windows]) for i in range(windows)]


def compare(
    articles: Sequence[Article], gold: dict[str, str], batch: dict[str, Any], windows: int
) -> dict[str, Any]:
    """Run streaming over ``windows`` windows; score it against the gold events and batch."""
    groups = in_windows(articles, windows)
    with tempfile.TemporaryDirectory(prefix="stream-dedup-") as tmp:
        started = time.perf_counter()
        rows = run_stream(groups, Path(tmp))
        seconds = time.perf_counter() - started
    stream = {row["article_id"]: row for row in rows}
    batch_story = {k: r["story_id"] for k, r in batch.items()}
    stream_story = {k: r["story_id"] for k, r in stream.items()}
    half = len(groups) // 2
    halves = {}
    for name, part in (("first_half", groups[:half]), ("second_half", groups[half:])):
        ids = {a.article_id for group in part for a in group}
        part_gold = {k: v for k, v in gold.items() if k in ids}
        halves[name] = {
            "articles": len(ids),
            "stream": pairwise_scores(part_gold, stream_story),
            "batch": pairwise_scores(part_gold, batch_story),
        }
    return {
        "windows": len(groups),
        "written_once": len(rows) == len(stream) == len(articles),
        "stream_vs_gold": pairwise_scores(gold, stream_story),
        "stream_vs_batch_grouping": pairwise_scores(batch_story, stream_story),
        "same_story_id": sum(stream_story[k] == batch_story[k] for k in batch),
        "same_labels": {
            name: sum(stream[k][name] == batch[k][name] for k in batch)
            for name in ("dup_method", "duplicate_of")
        },
        "labels": _count(r["dup_method"] for r in stream.values()),
        "by_half": halves if len(groups) > 1 else None,
        "seconds_bundle_based": round(seconds, 1),
    }


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run batch once and streaming per window count; print the comparison as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/dedup/giveme5w1h"))
    parser.add_argument("--windows", type=int, nargs="+", default=[24])
    args = parser.parse_args(argv)
    articles, gold = articles_of(Path(args.corpus))
    started = time.perf_counter()
    batch = {row["article_id"]: row for row in dedup_labels(articles)}
    batch_s = time.perf_counter() - started
    result = {
        "corpus": args.corpus,
        "articles": len(articles),
        "batch": {
            "vs_gold": pairwise_scores(gold, {k: r["story_id"] for k, r in batch.items()}),
            "labels": _count(r["dup_method"] for r in batch.values()),
            "seconds_fnapi": round(batch_s, 1),
        },
        "stream": [compare(articles, gold, batch, n) for n in args.windows],
    }
    json.dump(result, sys.stdout, indent=1)
    print()


def _count(values: Any) -> dict[str, int]:
    """How often each value occurs (None as "none")."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value or "none"] = counts.get(value or "none", 0) + 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    main()
