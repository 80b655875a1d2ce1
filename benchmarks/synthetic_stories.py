"""Synthetic news articles with story structure: events covered by several outlets, plus copies.

    python benchmarks/synthetic_stories.py --n 100000 --out /tmp/stories-100k [--corpus DIR]

What ``DedupArticles`` sees in a month of a large crawl, built from real sentences (lingua's 15
languages, giveme5w1h's English articles; ``benchmarks/synthetic.py``'s pools):

- **events**, spread uniformly over 30 days, each with two made-up person names, a place, an
  organisation and a figure (names are syllable strings, the same in every language, as Latin
  names are across outlets);
- **reports**: 1 + a geometric number of outlets cover each event (mean 3, capped at 40), each in
  its outlet's language, published 0-36 h after the event (exponential, mean 6 h). A report is
  10-30 sentences of 8-20 words: 80% drawn from the language's running text (so by word
  frequency), 15% from the event's 25 topic words in that language (drawn from the distinct
  words, so mostly rare ones), 5% the event's names; two sentences carry the figure; the title
  is four topic words between two of the names;
- **copies** of reports (the same event, another outlet, a few hours later): 14% near copies
  edited down to a true 5-shingle Jaccard of 0.5-0.95 (``evaluation.planted.plant_copy``), 4%
  exact text under a new URL, 2% the same URL fetched again.

Unrelated reports share common words and, by chance, rare ones; names repeat across events
(made-up names collide), so posting lists are long, as on a real month's news. Whole sentences
are never shared except by copies.

Output, deterministic for a seed: ``shard-NNN.parquet`` in the pipeline's ``articles`` schema
and ``truth.parquet`` (``article_id``, ``event``, ``copy_of``: the report a copy was made from,
null for reports). Copies of a shard's reports sit in the next shard (never the same file).
"""

import datetime as dt
import hashlib
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from synthetic import (  # noqa: E402
    LANGUAGES,
    WEIGHTS,
    build_command,
    build_shards,
    cached_build,
    load_pools,
)

from evaluation.planted import plant_copy, split_sentences  # noqa: E402
from transforms.core.records import SCHEMA_VERSION, Article  # noqa: E402
from transforms.core.schemas import ARTICLE_SCHEMA, to_table  # noqa: E402
from transforms.core.textutil import content_hash, word_count  # noqa: E402
from transforms.core.timeutil import to_iso  # noqa: E402

SHARD_SIZE = 50_000
OUTLETS = 300
DAYS = 30
NEAR_SHARE, EXACT_SHARE, URL_SHARE = 0.14, 0.04, 0.02
START = 1_780_000_000  # 2026-05-28, seconds since the epoch
_SYLLABLES = tuple(
    [
        "ka",
        "ri",
        "to",
        "ma",
        "ne",
        "su",
        "lo",
        "vi",
        "da",
        "pe",
        "ra",
        "mi",
        "ko",
        "ta",
        "ze",
        "no",
        "bu",
        "li",
        "sa",
        "fe",
        "gor",
        "vin",
        "tel",
        "mar",
        "dan",
        "bor",
        "kel",
        "sim",
        "rov",
        "ush",
        "an",
        "el",
        "ir",
        "on",
        "ul",
    ]
)


def made_up_name(rng: random.Random) -> str:
    """A capitalised name of two or three syllables (the same string in every language)."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def outlet_language(outlet: int) -> str:
    """The language an outlet publishes in (fixed per outlet, by the pools' weights)."""
    return random.Random(f"outlet:{outlet}").choices(LANGUAGES, weights=WEIGHTS)[0]


def _outlets_by_language() -> dict[str, list[int]]:
    """Outlet numbers per language (every language has at least one)."""
    table: dict[str, list[int]] = {language: [] for language in LANGUAGES}
    for outlet in range(OUTLETS):
        table[outlet_language(outlet)].append(outlet)
    for index, outlets in enumerate(table.values()):
        if not outlets:
            outlets.append(OUTLETS + index)
    return table


def _article(
    article_id: str, outlet: int, url: str, title: str, text: str, language: str, at: float
) -> Article:
    """One Article row as extraction would have written it."""
    published = to_iso_seconds(at)
    return Article(
        article_id=article_id,
        url=url,
        source_url=url,
        canonical_url=url,
        outlet_id=f"outlet-{outlet:03d}",
        feed_url=f"https://o{outlet}.example/feed.xml",
        guid=url,
        title=title,
        description=split_sentences(text)[0] if text else None,
        text=text,
        authors=[],
        published_at=published,
        date_source="meta",
        language=language,
        language_confidence=0.99,
        language_source="langdetect",
        language_hints=[],
        categories=[],
        tags=[],
        image_url=None,
        sitename=None,
        word_count=word_count(text),
        fetched_at=to_iso_seconds(at + 3600),
        content_hash=content_hash(text),
        quality_flags=[],
        duplicate_of=None,
        dup_method=None,
        schema_version=SCHEMA_VERSION,
    )


def to_iso_seconds(epoch: float) -> str:
    """ISO 8601 UTC of an epoch second."""
    return to_iso(dt.datetime.fromtimestamp(int(epoch), dt.UTC))


def _hid(*parts: Any) -> str:
    """A stable article id that says nothing about the article's role."""
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:16]


_CJK = frozenset({"zh", "ja"})


def vocabulary(pools: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per language: every running word of its sentences (sampling it follows word frequency)
    and the distinct words (sampling those favours rare ones). Chinese and Japanese, written
    without spaces, are cut into two-character pieces."""
    table = {}
    for language, sentences in pools.items():
        if language in _CJK:
            running = [s[i : i + 2] for s in sentences for i in range(0, len(s) - 1, 2)]
        else:
            running = [w for s in sentences for w in s.split()]
        table[language] = (running, sorted(set(running)))
    return table


def report_text(
    rng: random.Random,
    running: Sequence[str],
    topic: Sequence[str],
    names: Sequence[str],
    figure: str,
    joiner: str,
) -> str:
    """10-30 sentences of 8-20 words: common words, the event's topic words (15%) and names (5%)."""
    sentences = []
    for i in range(rng.randint(10, 30)):
        size = rng.randint(8, 20)
        words = rng.choices(running, k=size)
        for j, kind in enumerate(rng.choices((0, 1, 2), weights=(80, 15, 5), k=size)):
            if kind == 1:
                words[j] = rng.choice(topic)
            elif kind == 2:
                words[j] = rng.choice(names)
        if i in (1, 5):
            words.append(figure)
        sentences.append(joiner.join(words) + ".")
    return " ".join(sentences)


def reports_of_shard(
    pools: dict[str, list[str]], seed: int, shard: int, count: int
) -> list[tuple[Article, str]]:
    """``count`` reports of the shard's events: (article, event id)."""
    rng = random.Random(f"{seed}:events:{shard}")
    by_language = _outlets_by_language()
    words = vocabulary(pools)
    reports: list[tuple[Article, str]] = []
    event = 0
    while len(reports) < count:
        event_id = f"e{shard:03d}-{event:06d}"
        event += 1
        names = [made_up_name(rng) for _ in range(4)]
        figure = f"{rng.randint(2, 999)}{rng.choice(['', '00', ',5', '.000'])}"
        at = START + rng.random() * DAYS * 86400
        covered = 1
        while covered < 40 and rng.random() < 2 / 3:  # geometric: mean 3 reports per event
            covered += 1
        topics: dict[str, list[str]] = {}
        for j in range(min(covered, count - len(reports))):
            language = rng.choices(LANGUAGES, weights=WEIGHTS)[0]
            outlet = rng.choice(by_language[language])
            running, distinct = words[language]
            topic = topics.setdefault(language, rng.sample(distinct, 25))
            joiner = "" if language in _CJK else " "
            text = report_text(rng, running, topic, names, figure, joiner)
            title = joiner.join([names[0], *rng.sample(topic, 4), names[rng.randint(1, 3)]])
            published = at + min(rng.expovariate(1 / 6), 36) * 3600
            article_id = _hid(seed, shard, event_id, j)
            url = f"https://o{outlet}.example/{published:.0f}/{article_id}"
            reports.append(
                (_article(article_id, outlet, url, title, text, language, published), event_id)
            )
    return reports


def copies_of(
    reports: Sequence[tuple[Article, str]], seed: int, shard: int, count: int
) -> list[tuple[Article, str, str]]:
    """``count`` copies of the reports: (article, event id, id of the report copied)."""
    rng = random.Random(f"{seed}:copies:{shard}")
    by_language = _outlets_by_language()
    pool = [s for article, _ in reports[:2000] for s in split_sentences(article.text)]
    copies = []
    for c in range(count):
        source, event_id = reports[rng.randrange(len(reports))]
        kind = rng.random() * (NEAR_SHARE + EXACT_SHARE + URL_SHARE)
        outlet = rng.choice(by_language[source.language])
        at = _epoch(source.published_at) + rng.uniform(0.2, 8) * 3600
        article_id = _hid(seed, shard, "copy", c)
        if kind < URL_SHARE:  # the same page fetched again (another feed, a later poll)
            url, text, title = source.url, source.text, source.title
            outlet = int(source.outlet_id.split("-")[1])
        else:
            url = f"https://o{outlet}.example/{at:.0f}/{article_id}"
            title = source.title
            text = source.text
            if kind >= URL_SHARE + EXACT_SHARE:
                text = plant_copy(split_sentences(source.text), rng.uniform(0.5, 0.95), rng, pool)
        copies.append(
            (
                _article(article_id, outlet, url, title or "", text, source.language, at),
                event_id,
                source.article_id,
            )
        )
    return copies


def _epoch(iso: Optional[str]) -> float:
    """Epoch seconds of an ISO UTC string."""
    return dt.datetime.fromisoformat((iso or "").replace("Z", "+00:00")).timestamp()


def shard_plan(n: int) -> list[tuple[int, int]]:
    """(reports, copies) per shard for n articles in total."""
    shards = max(1, -(-n // SHARD_SIZE))
    plan = []
    for s in range(shards):
        size = n // shards + (1 if s < n % shards else 0)
        copies = round(size * (NEAR_SHARE + EXACT_SHARE + URL_SHARE))
        plan.append((size - copies, copies))
    return plan


def build_shard(args: tuple[Path, Path, int, int, list[tuple[int, int]]]) -> list[dict[str, Any]]:
    """Write one shard: its own reports and copies of the previous shard's; return the truth."""
    corpus, out, seed, shard, plan = args
    pools = load_pools(corpus)
    own = reports_of_shard(pools, seed, shard, plan[shard][0])
    previous = (shard - 1) % len(plan)
    sources = (
        own if previous == shard else reports_of_shard(pools, seed, previous, plan[previous][0])
    )
    copies = copies_of(sources, seed, shard, plan[shard][1])
    rows = [(a, e, None) for a, e in own] + copies
    random.Random(f"{seed}:order:{shard}").shuffle(rows)
    table = to_table([a for a, _, _ in rows], ARTICLE_SCHEMA)
    pq.write_table(table, out / f"shard-{shard:03d}.parquet", compression="zstd")
    return [{"article_id": a.article_id, "event": e, "copy_of": c} for a, e, c in rows]


def build(corpus: Path, out: Path, n: int, seed: int = 0, processes: int = 2) -> dict[str, Any]:
    """Write the shards and truth for n articles (skipped when already there); return the meta."""
    meta = {"n": n, "seed": seed, "shard_size": SHARD_SIZE, "kind": "stories-1"}
    meta_path = out / "meta.json"
    cached = cached_build(out, meta)
    if cached is not None:
        return cached
    plan = shard_plan(n)
    truth = build_shards(build_shard, corpus, out, seed, plan, processes)
    pq.write_table(pa.Table.from_pylist(truth), out / "truth.parquet")
    events = {row["event"] for row in truth}
    info = {
        "build": meta,
        "shards": len(plan),
        "articles": len(truth),
        "events": len(events),
        "copies": sum(1 for row in truth if row["copy_of"]),
    }
    meta_path.write_text(json.dumps(info, indent=1))
    return info


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: build the corpus."""
    build_command(build, __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    main()
