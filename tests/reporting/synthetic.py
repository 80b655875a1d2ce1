"""A synthetic output directory with the real table schemas, written with pyarrow (no Beam).

``write_output(root, n)`` writes ``n`` articles over ``RUNS`` runs the way the sinks lay them out
(``articles/date=…/part-<run>-00000-of-00001.parquet``, stories, filtered, dead letters,
``runs/<run>.json`` built by the real ``build_summary``, ``run.json``), with known shapes:

- outlet ``o<k>`` (``OUTLETS`` of them, skewed sizes) declares ``en`` (even k) or ``id`` (odd k);
  every 97th article is Russian instead (a language its outlet does not declare);
- articles come in blocks of four for the first ``STORY_SHARE`` of them: one story over four
  outlets (two originals and coverage, the fourth a ``near_duplicate`` copy of the first);
  the rest are single-article stories;
- every 50th is ``too_short``, every 333rd ``possibly_truncated``;
- each run filters some entries and dead-letters some on ``bad<k>.example`` hosts, and one feed
  fails as a whole;
- incremental state: ``LEDGER_FETCHED`` + ``LEDGER_GONE`` ledger rows per run, and ``FEEDS``
  feed states per run, of which the last run found every third feed changed.
"""

import datetime as dt
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.core.schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_STATE_SCHEMA,
    FILTERED_SCHEMA,
    LEDGER_SCHEMA,
    STORY_SCHEMA,
)
from transforms.core.tables import write_json
from transforms.sinks.summary import build_summary

RUNS = ("r1", "r2", "r3")
OUTLETS = 40
STORY_SHARE = 0.4
DAYS = 30
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FEEDS = 60
LEDGER_FETCHED, LEDGER_GONE = 100, 5


def _strings(prefix: str, values: np.ndarray) -> pa.Array:
    """``prefix`` + each number, as a string array (vectorized)."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _list_column(values: list[list[str]], n: int, pick: np.ndarray) -> pa.Array:
    """A list<string> column choosing, per row, one of a few prepared lists."""
    choices = pa.array(values, pa.list_(pa.string()))
    return choices.take(pa.array(pick)) if n else pa.array([], pa.list_(pa.string()))


def articles_table(n: int, title: Optional[str] = None, url: Optional[str] = None) -> pa.Table:
    """``n`` article rows in ARTICLE_SCHEMA (plus the run each belongs to, as ``_run``)."""
    i = np.arange(n)
    # Skewed outlet sizes: outlet k gets about twice as many articles as outlet k + 8.
    weights = 0.5 ** (np.arange(OUTLETS) / 8)
    outlet = np.searchsorted(np.cumsum(weights / weights.sum()), (i * 0.618034) % 1.0)
    outlet = np.minimum(outlet, OUTLETS - 1)
    in_story = i < int(n * STORY_SHARE) // 4 * 4
    block = np.where(in_story, i // 4, 0)
    slot = i % 4
    # A story's four articles come from four different outlets.
    outlet = np.where(in_story, (block * 3 + slot * 7) % OUTLETS, outlet)
    declared = np.where(outlet % 2 == 0, 0, 1)  # 0: en, 1: id
    language = np.where(i % 97 == 0, 2, declared)  # 2: ru
    story = np.where(in_story, block, i)
    first_of_story = np.where(in_story, block * 4, i)
    dup = in_story & (slot == 3)
    coverage = in_story & ((slot == 1) | (slot == 2))
    minutes = (i * 37) % (DAYS * 24 * 60)
    published = pa.array(
        (START.timestamp() * 1e6 + minutes * 60e6).astype("int64"), pa.timestamp("us", tz="UTC")
    )
    run = i % len(RUNS)
    flags = np.where(i % 50 == 0, 1, np.where(i % 333 == 0, 2, 0))
    ids = _strings("a", i)
    urls = pc.binary_join_element_wise(
        "https://o", pc.cast(pa.array(outlet), pa.string()), ".example/news/", ids, ""
    )
    if url is not None:
        urls = pa.array([url] * n, pa.string())
    titles = (
        pa.array([title] * n, pa.string())
        if title is not None
        else pc.binary_join_element_wise("Story ", pc.cast(pa.array(story), pa.string()), "")
    )
    columns: dict[str, Any] = {
        "article_id": ids,
        "url": urls,
        "source_url": urls,
        "canonical_url": urls,
        "outlet_id": _strings("o", outlet),
        "feed_url": _strings("https://feeds.example/", outlet),
        "guid": pa.nulls(n, pa.string()),
        "title": titles,
        "description": pa.nulls(n, pa.string()),
        "text": pa.array(["body words"] * n, pa.string()),
        "authors": _list_column([[]], n, np.zeros(n, dtype=int)),
        "published_at": published,
        "date_source": pa.array(["feed"] * n, pa.string()),
        "language": pa.array(np.array(["en", "id", "ru"])[language], pa.string()),
        "language_confidence": pa.array(np.full(n, 0.99)),
        "language_source": pa.array(["langdetect"] * n, pa.string()),
        "language_hints": _list_column([["outlet:en"], ["outlet:id"]], n, declared),
        "categories": _list_column([[]], n, np.zeros(n, dtype=int)),
        "tags": _list_column([[]], n, np.zeros(n, dtype=int)),
        "image_url": pa.nulls(n, pa.string()),
        "sitename": pa.nulls(n, pa.string()),
        "word_count": pa.array(np.where(flags == 1, 30, 400), pa.int64()),
        "fetched_at": published,
        "content_hash": ids,
        "quality_flags": _list_column([[], ["too_short"], ["possibly_truncated"]], n, flags),
        "duplicate_of": pc.if_else(pa.array(dup), _strings("a", first_of_story), None),
        "dup_method": pa.array(
            np.where(dup, "near_duplicate", np.where(coverage, "same_story", "")), pa.string()
        ),
        "schema_version": pa.array(np.full(n, 3), pa.int32()),
        "title_source": pa.array(["feed"] * n, pa.string()),
        "published_local": pa.nulls(n, pa.string()),
        "story_id": _strings("st", story),
        "dup_score": pc.if_else(pa.array(dup | coverage), 0.9, None),
    }
    columns["dup_method"] = pc.if_else(
        pc.equal(columns["dup_method"], ""), None, columns["dup_method"]
    )
    table = pa.table(columns, schema=ARTICLE_SCHEMA)
    return table.append_column("_run", pa.array(np.array(RUNS)[run], pa.string()))


def stories_table(articles: pa.Table) -> pa.Table:
    """One row per story, in the run of its first article, aggregated with pyarrow."""
    grouped = articles.group_by("story_id", use_threads=False).aggregate(
        [
            ("published_at", "min"),
            ("published_at", "max"),
            ("article_id", "count"),
            ("outlet_id", "count_distinct"),
            ("outlet_id", "distinct"),
            ("language", "distinct"),
            ("title", "first"),
            ("article_id", "min"),
            ("article_id", "list"),
            ("_run", "first"),
        ]
    )
    return pa.table(
        {
            "story_id": grouped["story_id"],
            "first_seen": grouped["published_at_min"],
            "last_seen": grouped["published_at_max"],
            "article_count": grouped["article_id_count"],
            "outlet_count": grouped["outlet_id_count_distinct"],
            "outlets": grouped["outlet_id_distinct"],
            "languages": grouped["language_distinct"],
            "representative_title": grouped["title_first"],
            "representative_id": grouped["article_id_min"],
            "member_ids": grouped["article_id_list"],
            "run_id": grouped["_run_first"],
        },
        schema=STORY_SCHEMA,
    )


def _drops(run_index: int, n: int) -> tuple[pa.Table, pa.Table]:
    """A run's filtered items and dead letters (one failed feed among them)."""
    when = pa.array([START] * 0, pa.timestamp("us", tz="UTC"))
    k = np.arange(n // 20 + run_index)
    filtered = pa.table(
        {
            "stage": pa.array(np.where(k % 3 == 0, "collapse_entries", "fetch_pages")),
            "url": _strings(f"https://o1.example/dropped/{run_index}/", k),
            "outlet_id": pa.array(["o1"] * len(k)),
            "reason": pa.array(np.where(k % 3 == 0, "duplicate_entry", "not_html")),
            "detail": pa.array([""] * len(k)),
            "filtered_at": pa.array([START] * len(k), when.type),
        },
        schema=FILTERED_SCHEMA,
    )
    d = np.arange(n // 100 + 3 * run_index)
    hosts = d % 7
    dead = pa.table(
        {
            "stage": pa.array(["fetch_pages"] * len(d) + ["read_feeds"]),
            "url": pa.concat_arrays(
                [
                    pc.binary_join_element_wise(
                        "https://bad",
                        pc.cast(pa.array(hosts), pa.string()),
                        ".example/p/",
                        pc.cast(pa.array(d), pa.string()),
                        "",
                    ),
                    pa.array(["https://feeds.broken.example/rss"]),
                ]
            ),
            "outlet_id": pa.array(["o2"] * (len(d) + 1)),
            "error_type": pa.array(
                [*np.where(hosts == 0, "timeout", "http_404"), "malformed_feed"]
            ),
            "error_message": pa.array(["x"] * (len(d) + 1)),
            "failed_at": pa.array([START] * (len(d) + 1), when.type),
        },
        schema=DEAD_LETTER_SCHEMA,
    )
    return filtered, dead


def _counts(arts: pa.Table, stories: pa.Table, filtered: pa.Table, dead: pa.Table) -> dict:
    """The counters a run would have produced (the keys transforms/sinks/summary.py counts)."""
    counts: dict[str, int] = {"feed": FEEDS}
    methods = pc.value_counts(arts["dup_method"].fill_null("")).to_pylist()
    for item in methods:
        key = {"": "article:unique", "same_story": "article:same_story"}.get(
            item["values"], f"duplicate:{item['values']}"
        )
        counts[key] = item["counts"]
    for kind, table, reason in (("filtered", filtered, "reason"), ("dead", dead, "error_type")):
        for row in table.group_by(["stage", reason]).aggregate([("url", "count")]).to_pylist():
            counts[f"{kind}:{row['stage']}:{row[reason]}"] = row["url_count"]
    multi = int(pc.sum(pc.greater(stories["outlet_count"], 1)).as_py() or 0)
    counts["story:multi_outlet"] = multi
    counts["story:single"] = stories.num_rows - multi
    entry_dead = int(pc.sum(pc.not_equal(dead["stage"], "read_feeds")).as_py() or 0)
    counts["entry"] = arts.num_rows + filtered.num_rows + entry_dead
    return counts


def _state(index: int, run_id: str) -> tuple[pa.Table, pa.Table]:
    """A run's ledger rows and feed states."""
    when = pa.array([START + dt.timedelta(days=index)], pa.timestamp("us", tz="UTC"))
    n = LEDGER_FETCHED + LEDGER_GONE
    links = _strings(f"https://o3.example/{run_id}/", np.arange(n))
    ledger = pa.table(
        {
            "link_key": links,
            "url": links,
            "outlet_id": pa.array(["o3"] * n),
            "outcome": pa.array(["fetched"] * LEDGER_FETCHED + ["http_404"] * LEDGER_GONE),
            "fetched_at": pa.repeat(when[0], n),
            "first_seen_run": pa.array([run_id] * n),
        },
        schema=LEDGER_SCHEMA,
    )
    feeds = _strings("https://feeds.example/", np.arange(FEEDS))
    changed = np.arange(FEEDS) % 3 == 0 if index == len(RUNS) - 1 else np.ones(FEEDS, bool)
    states = pa.table(
        {
            "feed_url": feeds,
            "outlet_id": pa.array(["o1"] * FEEDS),
            "etag": pa.nulls(FEEDS, pa.string()),
            "last_modified": pa.nulls(FEEDS, pa.string()),
            "body_sha256": feeds,
            "items_sha256": feeds,
            "entry_count": pa.array(np.full(FEEDS, 10), pa.int64()),
            "status": pa.array(np.where(changed, 200, 304), pa.int32()),
            "changed": pa.array(changed),
            "checked_at": pa.repeat(when[0], FEEDS),
            "changed_at": pa.repeat(when[0], FEEDS),
            "run_id": pa.array([run_id] * FEEDS),
        },
        schema=FEED_STATE_SCHEMA,
    )
    return ledger, states


def write_output(
    root: Path, n: int, title: Optional[str] = None, url: Optional[str] = None
) -> pa.Table:
    """Write the whole output directory; return the articles table (with ``_run``)."""
    articles = articles_table(n, title, url)
    stories = stories_table(articles)
    day = pc.strftime(articles["published_at"], format="%Y-%m-%d")
    summary: dict[str, Any] = {}
    for index, run_id in enumerate(RUNS):
        mine = articles.filter(pc.equal(articles["_run"], run_id))
        run_days = pc.strftime(mine["published_at"], format="%Y-%m-%d")
        for value in pc.unique(day).to_pylist():
            part = mine.filter(pc.equal(run_days, value)).drop_columns(["_run"])
            if part.num_rows:
                path = root / "articles" / f"date={value}" / f"part-{run_id}-00000-of-00001.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(part, path)
        run_stories = stories.filter(pc.equal(stories["run_id"], run_id))
        (root / "stories" / "date=2024-01-01").mkdir(parents=True, exist_ok=True)
        pq.write_table(
            run_stories,
            root / "stories" / "date=2024-01-01" / f"part-{run_id}-00000-of-00001.parquet",
        )
        filtered, dead = _drops(index, n)
        for name, table in (("filtered", filtered), ("dead_letters", dead)):
            (root / name).mkdir(exist_ok=True)
            pq.write_table(table, root / name / f"part-{run_id}-00000-of-00001.parquet")
        ledger, states = _state(index, run_id)
        day_dir = f"date={(START + dt.timedelta(days=index)).date().isoformat()}"
        for directory, table in (("ledger", ledger), ("state/feeds", states)):
            (root / directory / day_dir).mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table, root / directory / day_dir / f"part-{run_id}-00000-of-00001.parquet"
            )
        summary = build_summary(_counts(mine, run_stories, filtered, dead), run_id, str(root))
        write_json(str(root / "runs" / f"{run_id}.json"), summary)
    write_json(str(root / "run.json"), summary)
    return articles
