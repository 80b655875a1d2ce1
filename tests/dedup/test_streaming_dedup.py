"""Streaming near-duplicate and same-story labels: the same as batch, across windows.

The streaming runs use TestStream on the BundleBasedDirectRunner in streaming mode (named
explicitly: Beam's DirectRunner may hand the job to Prism); the batch reference is
``DedupArticles`` on the FnApiRunner over the same articles.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import pyarrow.dataset as ds
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from pipelines.stream import DedupAndWrite
from tests.conftest import FIXTURES
from tests.dedup.test_dedup import article
from transforms.core.records import Article, DeadLetter, FeedEntry, FilteredItem
from transforms.core.settings import StreamSettings
from transforms.core.textutil import content_hash, word_count
from transforms.core.urls import stable_id
from transforms.dedup.articles import DedupArticles
from transforms.dedup.near.hashing import exact_jaccard
from transforms.dedup.near.settings import NearDupSettings

WINDOW = 60.0
T0 = 1_750_000_020.0  # a window boundary (divisible by 60)
SETTINGS = StreamSettings(window_s=WINDOW, dedup_ttl_s=7 * 86400.0, seen_ttl_s=7 * 86400.0)
STORY = FIXTURES / "story"

Labels = dict[str, tuple[Optional[str], Optional[str], Optional[float], str]]


def fixture_article(
    file: str,
    article_id: str,
    outlet: str,
    published: str,
    language: str,
    edit: Optional[Callable[[str], str]] = None,
) -> Article:
    """An article from a story fixture: title, lead as description, body (as extraction gives)."""
    title, lead, *body_lines = (STORY / file).read_text(encoding="utf-8").splitlines()
    body = "\n".join(body_lines)
    if edit is not None:
        body = edit(body)
    return article(
        article_id, url=f"https://{outlet}.example/{article_id}", outlet=outlet, published=published
    )._replace(
        title=title,
        description=lead,
        text=body,
        language=language,
        word_count=word_count(body),
        content_hash=content_hash(body),
    )


def syndicate(body: str) -> str:
    """A syndicated copy: the wire text with a partner's dateline, one rewording and a credit."""
    body = body.replace("MOSCOW, Sept 14 - ", "MOSCOW, Sept 14 (Wire) - ")
    body = body.replace("gave each other", "exchanged")
    return body + "\nReporting by the Moscow bureau; editing by the news desk."


WIRE = fixture_article(
    "en-wire-putin-kim-gifts.txt", "a-wire", "wire", "2023-09-14T10:35:00Z", "en"
)
RICE = fixture_article(
    "id-harga-beras-jakarta.txt", "u-rice", "republika", "2023-09-14T10:40:00Z", "id"
)
COPY = fixture_article(
    "en-wire-putin-kim-gifts.txt", "b-copy", "paper", "2023-09-14T11:20:00Z", "en", syndicate
)
SOCHI = fixture_article(
    "en-putin-lukashenko-sochi.txt", "l-sochi", "wire", "2023-09-15T15:40:00Z", "en"
)
# The Republika seed: the same event, other words, another language.
REWRITE = fixture_article(
    "id-republika-putin-kim-gifts.txt", "c-rewrite", "republika", "2023-09-14T12:12:00Z", "id"
)
RUSSIAN = fixture_article("ru-putin-kim-gifts.txt", "d-ru", "tass", "2023-09-14T13:05:00Z", "ru")


def streaming_options() -> PipelineOptions:
    """Streaming on the Python bundle-based direct runner, never Prism."""
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return options


def run_stream(windows: list[list[Article]], output: Path) -> None:
    """Feed one list of articles per window (window n at T0 + n * WINDOW) through DedupAndWrite."""
    stream = BeamTestStream().advance_watermark_to(T0)
    for n, arrivals in enumerate(windows):
        start = T0 + n * WINDOW
        stream = stream.add_elements(
            [TimestampedValue(a, start + 1 + i) for i, a in enumerate(arrivals)]
        ).advance_watermark_to(start + WINDOW)
    stream = stream.advance_watermark_to_infinity()
    with BeamTestPipeline(options=streaming_options()) as p:
        articles = p | "Articles" >> stream
        no_filtered = p | "NoFiltered" >> beam.Create([]).with_output_types(FilteredItem)
        no_dead = p | "NoDead" >> beam.Create([]).with_output_types(DeadLetter)
        no_entries = p | "NoEntries" >> beam.Create([]).with_output_types(FeedEntry)
        (articles, no_filtered, no_dead, no_entries) | DedupAndWrite(str(output), SETTINGS)


def read_table(base: Path) -> list[dict[str, Any]]:
    """Every row under ``base`` (window=... partitions) with pyarrow.dataset."""
    table = ds.dataset(str(base), format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


def labels_of(rows: list[dict[str, Any]]) -> Labels:
    """article id -> (duplicate_of, dup_method, dup_score, story_id)."""
    return {
        r["article_id"]: (r["duplicate_of"], r["dup_method"], r["dup_score"], r["story_id"])
        for r in rows
    }


def run_batch(articles: list[Article], tmp: Path) -> Labels:
    """The batch reference: DedupArticles over all articles at once, on the FnApiRunner."""
    prefix = str(tmp / "batch")
    with beam.Pipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        out = p | beam.Create(articles) | DedupArticles("batch")
        _ = (
            out.articles
            | "Labels"
            >> beam.Map(
                lambda a: json.dumps(
                    [a.article_id, a.duplicate_of, a.dup_method, a.dup_score, a.story_id]
                )
            )
            | beam.io.WriteToText(prefix)
        )
    lines = [line for path in tmp.glob("batch*") for line in path.read_text().splitlines()]
    rows = [json.loads(line) for line in lines]
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def story_id_of(article_id: str) -> str:
    """The id of a story whose first article is ``article_id`` (batch's rule)."""
    return "st" + stable_id("story", article_id, size=15)


def groups(labels: Labels) -> set[frozenset[str]]:
    """The story grouping: sets of article ids that share a story_id."""
    by_story: dict[str, set[str]] = {}
    for article_id, (_d, _m, _s, story_id) in labels.items():
        by_story.setdefault(story_id, set()).add(article_id)
    return {frozenset(g) for g in by_story.values()}


def test_syndicated_copy_and_rewrite_windows_apart_get_batch_labels(tmp_path: Path) -> None:
    """A near-duplicate two windows after its original and a rewrite in Indonesian four windows
    after it: the same duplicate_of, dup_method and stories as one batch run over all of them."""
    windows = [[WIRE, RICE], [], [COPY, SOCHI], [], [REWRITE, RUSSIAN]]
    run_stream(windows, tmp_path / "out")
    stream = labels_of(read_table(tmp_path / "out" / "articles"))
    batch = run_batch([a for window in windows for a in window], tmp_path)

    assert set(stream) == set(batch)
    # The later arrivals: labels equal to batch's (the near-duplicate's score is the same checked
    # Jaccard; same-story scores depend on the IDF, which streaming counts up to each window).
    for article_id in ("b-copy", "l-sochi", "c-rewrite", "d-ru"):
        assert stream[article_id][:2] == batch[article_id][:2], article_id
    assert stream["b-copy"][:3] == ("a-wire", "near_duplicate", batch["b-copy"][2])
    assert stream["b-copy"][2] == round(exact_jaccard(WIRE.text, COPY.text, NearDupSettings()), 4)
    assert stream["c-rewrite"][1] == "same_story"
    # The same stories, with the same ids (the first article's): a's story grew over 5 windows.
    assert groups(stream) == groups(batch)
    assert {k: v[3] for k, v in stream.items()} == {k: v[3] for k, v in batch.items()}
    assert stream["c-rewrite"][3] == stream["a-wire"][3] == story_id_of("a-wire")
    assert stream["l-sochi"][3] != stream["a-wire"][3]  # same people, another event
    # The one difference: a row is never rewritten. Batch sees the later coverage and labels the
    # original same_story; streaming wrote it in window 0, before any coverage existed.
    assert batch["a-wire"][1] == "same_story" and stream["a-wire"][:2] == (None, None)


def test_a_story_growing_over_three_windows_keeps_its_id_and_writes_a_row_per_window(
    tmp_path: Path,
) -> None:
    """Window 0 starts the story, window 1 adds a rewrite, window 2 a syndicated copy."""
    run_stream([[WIRE], [REWRITE], [COPY]], tmp_path / "out")
    articles = labels_of(read_table(tmp_path / "out" / "articles"))
    story_id = story_id_of("a-wire")
    assert {k: v[3] for k, v in articles.items()} == {
        "a-wire": story_id,
        "c-rewrite": story_id,
        "b-copy": story_id,
    }
    assert articles["c-rewrite"][:2] == (None, "same_story")
    assert articles["b-copy"][:2] == ("a-wire", "near_duplicate")

    rows = sorted(read_table(tmp_path / "out" / "stories"), key=lambda r: r["window"])
    assert [r["story_id"] for r in rows] == [story_id] * 3
    assert [r["member_ids"] for r in rows] == [
        ["a-wire"],
        ["a-wire", "c-rewrite"],
        ["a-wire", "b-copy", "c-rewrite"],
    ]
    assert [r["article_count"] for r in rows] == [1, 2, 3]
    assert [r["outlets"] for r in rows][-1] == ["paper", "republika", "wire"]
    assert rows[-1]["languages"] == ["en", "id"]
    assert rows[-1]["representative_id"] == "a-wire"
    assert rows[-1]["representative_title"] == WIRE.title
    # first/last seen: the members' publication times; run_id: the window.
    assert rows[-1]["first_seen"].isoformat() == "2023-09-14T10:35:00+00:00"
    assert rows[-1]["last_seen"].isoformat() == "2023-09-14T12:12:00+00:00"
    assert [r["run_id"] for r in rows] == [r["window"] for r in rows]
