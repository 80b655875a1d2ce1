"""``newsbeam eval dedup DIR``: same-story grouping on a labelled directory.

DIR is giveme5w1h-style (``index.csv`` with ``event_id``, ``data/<file>`` JSON) or two
line-aligned translations (``valid.en`` + ``valid.id``: pseudo-articles of 10 lines, each paired
with its translation; ``evaluation/parallel.py``). Its articles go through the
pipeline's own ``DedupArticles`` on FnApiRunner, every layer included; the articles sharing a
``story_id`` form the predicted groups. Pairwise precision, recall and F1 over all article pairs
(a pair is positive when both articles share ``event_id``) are printed next to a word-3-shingle
Jaccard baseline (threshold 0.05) computed in the same run. ``--planted`` also plants syndicated
copies into DIR's texts and scores the near-duplicate layer at true Jaccard >= 0.8.
"""

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from evaluation.parallel import load_set
from evaluation.planted import evaluate_planted
from evaluation.stories import components, grouping_errors, pairwise_scores, shingle_edges
from transforms.core.records import SCHEMA_VERSION, Article
from transforms.core.textutil import content_hash, word_count
from transforms.core.urls import normalize_url, stable_id
from transforms.dedup.articles import DedupArticles

FETCHED_AT = "2000-01-01T00:00:00Z"


def articles_of(directory: Path) -> tuple[list[Article], dict[str, str]]:
    """The directory's articles as pipeline records, and their gold events by article id."""
    urls: dict[str, tuple[str, str]] = {}
    if (directory / "index.csv").exists():
        with open(directory / "index.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                urls[row["file"]] = (row.get("url") or "", row.get("source_domain") or "")
    articles, gold = [], {}
    for item in load_set(directory):
        url, domain = urls.get(item.article_id, ("", ""))
        url = normalize_url(url) if url else f"https://eval.invalid/{item.article_id}"
        article_id = stable_id(url, item.article_id)
        gold[article_id] = item.event_id
        text = item.text or item.title
        articles.append(
            Article(
                article_id=article_id,
                url=url,
                source_url=url,
                canonical_url=url,
                outlet_id=domain or "unknown",
                feed_url="",
                guid=None,
                title=item.title or None,
                description=item.description or None,
                text=text,
                authors=[],
                published_at=item.published_at,
                date_source="eval",
                language=item.language or "und",
                language_confidence=1.0,
                language_source="eval",
                language_hints=[],
                categories=[],
                tags=[],
                image_url=None,
                sitename=None,
                word_count=word_count(text),
                fetched_at=item.published_at or FETCHED_AT,
                content_hash=content_hash(text),
                quality_flags=[],
                duplicate_of=None,
                dup_method=None,
                schema_version=SCHEMA_VERSION,
            )
        )
    return articles, gold


def evaluate(directory: Path, baseline: bool = True) -> dict[str, Any]:
    """Pairwise scores of the pipeline's story groups (and the shingle baseline) on DIR."""
    articles, gold = articles_of(directory)
    labels = dedup_labels(articles)
    predicted = {row["article_id"]: row["story_id"] for row in labels}
    result: dict[str, Any] = {
        "directory": str(directory),
        "articles": len(articles),
        "events": len(set(gold.values())),
        "newsbeam": {**pairwise_scores(gold, predicted), **grouping_errors(gold, predicted)},
        "copies": sum(1 for row in labels if row["duplicate_of"]),
    }
    if baseline:
        texts = {a.article_id: f"{a.title or ''}\n{a.text}" for a in articles}
        shingle_groups = components(shingle_edges(texts, threshold=0.05, n=3), gold)
        result["shingle_baseline"] = {
            **pairwise_scores(gold, shingle_groups),
            **grouping_errors(gold, shingle_groups),
        }
    return result


def evaluate_near(
    directory: Path, seeds: Sequence[int], copies: Optional[int] = None
) -> list[dict[str, Any]]:
    """Plant copies into DIR's article texts (once per seed) and score the near-duplicate layer."""
    articles, _gold = articles_of(directory)
    texts = [a.text for a in articles]
    return [evaluate_planted(texts, seed=seed, n_copies=copies) for seed in seeds]


def dedup_labels(articles: Sequence[Article]) -> list[dict[str, Any]]:
    """Run the pipeline's DedupArticles on FnApiRunner; return every article's labels."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "labels")
        with beam.Pipeline(options=PipelineOptions(flags=[], runner="FnApiRunner")) as p:
            dedup = p | "Articles" >> beam.Create(list(articles)) | "Dedup" >> DedupArticles("eval")
            _ = (
                dedup.articles
                | "ToJson"
                >> beam.Map(
                    lambda a: json.dumps(
                        {
                            "article_id": a.article_id,
                            "story_id": a.story_id,
                            "duplicate_of": a.duplicate_of,
                            "dup_method": a.dup_method,
                        }
                    )
                )
                | "Write" >> beam.io.WriteToText(prefix, shard_name_template="")
            )
        lines = Path(prefix).read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines if line), key=lambda r: r["article_id"])


def format_table(result: dict[str, Any]) -> str:
    """Render the evaluation as a Markdown table."""
    lines = [
        f"{result['directory']}: {result['articles']} articles, {result['events']} events",
        "",
        "| system | pairwise P | R | F1 | groups (events) | merged groups | split events |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("newsbeam", "shingle_baseline"):
        if name in result:
            s = result[name]
            lines.append(
                f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                f"{s['groups']} ({s['events']}) | {s['merged_groups']} | {s['split_events']} |"
            )
    for planted in result.get("planted", []):
        if planted is result["planted"][0]:
            lines += [
                "",
                "near-duplicates: planted copies (true 5-shingle Jaccard 0.5-0.95), cut at 0.8",
                "",
                "| seed | texts | copies | pairs J>=0.8 | recall@0.8 | precision@0.8 | edges |",
                "|---|---|---|---|---|---|---|",
            ]
        recall = planted["recall"]
        lines.append(
            f"| {planted['seed']} | {planted['texts']} | {planted['copies']} | "
            f"{planted['positives']} | {'-' if recall is None else f'{recall:.3f}'} | "
            f"{planted['precision']:.3f} | {planted['edges']} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``newsbeam eval dedup``."""
    parser = argparse.ArgumentParser(prog="newsbeam eval dedup", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-baseline", action="store_true", help="skip the shingle baseline")
    parser.add_argument(
        "--planted",
        type=int,
        nargs="*",
        metavar="SEED",
        help="also plant near-duplicate copies into DIR's texts, once per seed (default: 0 1 2)",
    )
    parser.add_argument(
        "--copies", type=int, help="copies planted per seed (default: a quarter of the texts)"
    )
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.directory, baseline=not args.no_baseline)
    except (ValueError, OSError) as exc:
        print(f"newsbeam eval dedup: {exc}", file=sys.stderr)
        return 2
    if args.planted is not None:
        result["planted"] = evaluate_near(args.directory, args.planted or [0, 1, 2], args.copies)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
