"""Dedup at scale: the near-duplicate layer vs datasketch, or the whole ``DedupArticles``.

    python benchmarks/dedup.py --n 100000 [--skip-datasketch] [--repeat 1] [--workdir DIR]
    python benchmarks/dedup.py --layers all --n 100000 [--repeat 1] [--max-candidates 24,0]
        [--posting-cap 64,16]

``--layers all`` times the whole ``DedupArticles`` (URL, canonical URL, exact text,
near-duplicate and same-story layers, canonical choice, story records, signatures) on the
FnApiRunner over ``benchmarks/synthetic_stories.py``'s articles: events covered by several
outlets in several languages, with near, exact and same-URL copies. Quality at that scale
against the planted truth: story pairwise precision/recall/F1 (every article of an event, its
copies included, belongs to one story), and copies labelled (a planted copy labelled a
duplicate; a report never labelled a duplicate of another event's article). Ends with
``dedup_all_seconds``, ``dedup_all_peak_rss_gb``, ``dedup_all_articles_per_s`` (the first
``--max-candidates`` and ``--posting-cap`` values: the story layer's defaults unless given). With
several values (max_candidates 0: no limit), every combination is a row, the runs interleaved,
and ``dedup_all_seconds_max_candidates_<v>_posting_cap_<c>`` etc. follow for each. Then
``story_features_ms`` (the same-story features of 2,000 of the articles, one process) and
``story_features_1m_2cores_s``: what those features alone take for a million articles on two
cores, perfectly parallel, a floor under the whole layer's time there.

Default (``--layers near``):

Builds (or reuses) N synthetic articles with 20% planted copies (``benchmarks/synthetic.py``),
then runs, each in its own child process on the same Parquet shards:

- ours: the real ``NearDuplicateEdges`` transform on the FnApiRunner, reading the shards inside
  the pipeline; its edges are written to text files, its signatures counted. Default running
  mode ``in_memory`` (one process): measured at 1M articles, ``multi_processing`` with 2 workers
  was no faster (142.6 s vs 137.7 s) and peaked higher (8.6 GB vs 7.4 GB, 32-bit fingerprints),
  because every signed batch crosses gRPC to the runner and back while signing is only about
  half of the work. ``--mode multi_processing --workers 2`` runs that variant;
- datasketch: ``MinHash`` (128 permutations, computed with ``MinHash.bulk``) on the same tokens
  and 5-shingles, ``MinHashLSH(threshold=0.8, num_perm=128)``, each article queried then inserted
  (its candidates are its output: datasketch has no verification step); one process.

Seconds are wall time from reading the shards to the last output, measured in the child. Peak RSS
is the largest sum of resident memory over the child's whole process tree (Beam's workers
included), sampled every 0.1 s from /proc (shared pages count once per process, so this errs
high). With ``--repeat R`` the two systems alternate R times and medians are reported. Quality:
recall of the planted pairs with true Jaccard >= 0.8, precision = share of emitted pairs whose true
Jaccard is >= 0.8 (pairs outside the planted groups are measured on their texts).

Ends with ``dedup_seconds``, ``dedup_peak_rss_gb`` and ``dedup_vs_datasketch`` (datasketch seconds
/ ours), ours as medians.
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from procs import PeakRss  # noqa: E402
from synthetic import build  # noqa: E402
from synthetic_stories import build as build_stories  # noqa: E402

from evaluation.planted import pair_jaccards, score_edges  # noqa: E402
from transforms.dedup.near.hashing import tokens  # noqa: E402
from transforms.dedup.near.settings import NearDupSettings  # noqa: E402
from transforms.dedup.story.settings import StorySettings  # noqa: E402


def run_child(args: Sequence[str]) -> tuple[dict[str, Any], float]:
    """Run this script in a child process; return its JSON result and the tree's peak RSS (GB)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    proc = subprocess.Popen([sys.executable, __file__, *args, "--result", result_path])
    with PeakRss(proc.pid, every_s=0.1) as rss:
        code = proc.wait()
    peak = rss.peak
    if code != 0:
        raise SystemExit(f"child {args[:2]} failed with exit code {code}")
    result = json.loads(Path(result_path).read_text())
    os.unlink(result_path)
    return result, peak / 1e9


def shards_of(data: Path) -> list[str]:
    """The corpus shard files, sorted."""
    return [str(path) for path in sorted(data.glob("shard-*.parquet"))]


def read_shard(path: str) -> Iterator[tuple[str, str]]:
    """(id, text) rows of one shard, read 1,000 rows at a time."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1000, columns=["id", "text"]):
        ids, texts = batch.column(0).to_pylist(), batch.column(1).to_pylist()
        yield from zip(ids, texts, strict=True)


def fn_api_pipeline(workers: int, mode: str) -> Any:
    """A Beam pipeline on the FnApiRunner: in memory, or ``workers`` workers in ``mode``."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = ["--runner=FnApiRunner"]
    if mode != "in_memory":
        flags += [f"--direct_num_workers={workers}", f"--direct_running_mode={mode}"]
    return beam.Pipeline(options=PipelineOptions(flags))


def run_timed(p: Any, start: float) -> tuple[float, dict[str, int]]:
    """Run the pipeline to the end: seconds since ``start`` and its committed counters."""
    outcome = p.run()
    outcome.wait_until_finish()
    seconds = time.perf_counter() - start
    return seconds, {c.key.metric.name: c.committed for c in outcome.metrics().query()["counters"]}


def run_ours(data: Path, out: Path, workers: int, mode: str) -> dict[str, Any]:
    """Child: NearDuplicateEdges on the FnApiRunner over the shards; edges to ``out``."""
    import apache_beam as beam

    from transforms.dedup.near.edges import NearDuplicateEdges

    settings = NearDupSettings()
    start = time.perf_counter()
    p = fn_api_pipeline(workers, mode)
    texts = (
        p
        | "Shards" >> beam.Create(shards_of(data))
        | "SpreadShards" >> beam.Reshuffle()
        | "ReadShards" >> beam.FlatMap(read_shard)
    )
    result = texts | "NearDuplicateEdges" >> NearDuplicateEdges(settings)
    _ = (
        result.edges
        | "FormatEdges" >> beam.Map(lambda e: f"{e.a}\t{e.b}\t{e.score!r}")
        | "WriteEdges" >> beam.io.WriteToText(str(out / "edges"))
    )
    _ = (
        result.signatures
        | "CountSignatures" >> beam.transforms.combiners.Count.Globally()
        | "WriteCount" >> beam.io.WriteToText(str(out / "signatures"))
    )
    seconds, counters = run_timed(p, start)
    pairs = []
    for path in sorted(out.glob("edges*")):
        pairs += [line.split("\t")[:2] for line in path.read_text("utf-8").splitlines()]
    signatures = sum(int(path.read_text().strip() or 0) for path in sorted(out.glob("signatures*")))
    return {"seconds": seconds, "pairs": pairs, "signatures": signatures, "counters": counters}


def read_articles(path: str) -> Iterator[Any]:
    """Article records of one shard, read 1,000 rows at a time."""
    from transforms.core.records import Article
    from transforms.core.schemas import from_row

    for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
        for row in batch.to_pylist():
            yield from_row(row, Article)


def label_line(article: Any) -> str:
    """One labelled article as a text line: id, story, duplicate_of, method."""
    return "\t".join(
        [article.article_id, article.story_id, article.duplicate_of or "", article.dup_method or ""]
    )


def run_all(
    data: Path, out: Path, workers: int, mode: str, max_candidates: int, posting_cap: int
) -> dict[str, Any]:
    """Child: the whole DedupArticles on the FnApiRunner over the article shards."""
    from dataclasses import replace

    import apache_beam as beam

    from transforms.dedup.articles import DedupArticles

    start = time.perf_counter()
    p = fn_api_pipeline(workers, mode)
    articles = (
        p
        | "Shards" >> beam.Create(shards_of(data))
        | "SpreadShards" >> beam.Reshuffle()
        | "ReadShards" >> beam.FlatMap(read_articles)
    )
    story = replace(StorySettings(), max_candidates=max_candidates, posting_cap=posting_cap)
    result = articles | "DedupArticles" >> DedupArticles("bench", story=story)
    _ = (
        result.articles
        | "FormatLabels" >> beam.Map(label_line)
        | "WriteLabels" >> beam.io.WriteToText(str(out / "labels"))
    )
    for name, collection in (
        ("stories", result.stories),
        ("signatures", result.signatures),
        ("filtered", result.filtered),
    ):
        _ = (
            collection
            | f"Count{name}" >> beam.transforms.combiners.Count.Globally()
            | f"Write{name}" >> beam.io.WriteToText(str(out / name))
        )
    seconds, counters = run_timed(p, start)
    labels = []
    for path in sorted(out.glob("labels*")):
        labels += [line.split("\t") for line in path.read_text("utf-8").splitlines()]
    counts = {
        name: sum(int(path.read_text().strip() or 0) for path in sorted(out.glob(f"{name}-*")))
        for name in ("stories", "signatures", "filtered")
    }
    return {"seconds": seconds, "labels": labels, "counts": counts, "counters": counters}


def setting_name(setting: tuple[int, int]) -> str:
    """How a row names its ``(max_candidates, posting_cap)``."""
    limit, cap = setting
    return f"max_candidates {limit or 'none'}, posting_cap {cap}"


def pairs_within(sizes: Iterable[int]) -> int:
    """Number of unordered pairs inside groups of these sizes."""
    return sum(size * (size - 1) // 2 for size in sizes)


def story_quality(data: Path, labels: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Pairwise story P/R/F1 and copy labelling against the planted truth."""
    truth = pq.read_table(data / "truth.parquet").to_pylist()
    event = {row["article_id"]: row["event"] for row in truth}
    copy_of = {row["article_id"]: row["copy_of"] for row in truth}
    story = {article_id: story_id for article_id, story_id, _, _ in labels}
    joint = Counter((story[a], event[a]) for a in story)
    together = pairs_within(joint.values())
    predicted = pairs_within(Counter(story.values()).values())
    actual = pairs_within(Counter(event[a] for a in story).values())
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    labelled = {a: (d, m) for a, _, d, m in labels if d}
    copies = [a for a in story if copy_of.get(a)]
    wrong = sum(1 for a, (d, _) in labelled.items() if event.get(d) != event[a])
    return {
        "articles_out": len(labels),
        "articles_in": len(truth),
        "story_precision": precision,
        "story_recall": recall,
        "story_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "stories": len(set(story.values())),
        "events": len(set(event.values())),
        "copies_labelled": sum(1 for a in copies if a in labelled) / len(copies) if copies else 1.0,
        "labelled_other_event": wrong,
        "labelled_by_method": dict(Counter(m for _, m in labelled.values())),
    }


def features_ms(data: Path, sample: int) -> float:
    """Milliseconds per article of ``story_features`` over the first ``sample`` articles, here."""
    from transforms.dedup.story.features import story_features

    articles: list[Any] = []
    for path in shards_of(data):
        articles += list(itertools.islice(read_articles(path), sample - len(articles)))
    started = time.perf_counter()
    for a in articles:
        story_features(a.title, a.description, a.text, a.language, a.published_at, a.article_id)
    return (time.perf_counter() - started) * 1000.0 / max(1, len(articles))


def main_all(args: argparse.Namespace, settings: Sequence[tuple[int, int]]) -> None:
    """``--layers all``: build the story corpus, run DedupArticles per setting, print the table.

    A setting is ``(max_candidates, posting_cap)``.
    """
    workdir = args.workdir or Path(tempfile.gettempdir()) / f"newsbeam-stories-{args.n}"
    started = time.perf_counter()
    info = build_stories(args.corpus, workdir, args.n, args.seed)
    print(f"data: {json.dumps(info)} ({time.perf_counter() - started:.0f} s)", flush=True)
    child_args = ["--data", str(workdir), "--workers", str(args.workers), "--mode", args.mode]
    runs: dict[tuple[int, int], list[tuple[dict[str, Any], float]]] = {s: [] for s in settings}
    for repeat in range(args.repeat):
        # Alternate the order so that no setting always runs on a warmer machine.
        for setting in settings if repeat % 2 == 0 else settings[::-1]:
            limit, cap = setting
            choice = ["--max-candidates", str(limit), "--posting-cap", str(cap)]
            result, peak = run_child(["--child", "all", *child_args, *choice])
            runs[setting].append((result, peak))
            print(
                f"DedupArticles ({setting_name(setting)}): {result['seconds']:.1f} s, "
                f"peak {peak:.2f} GB",
                flush=True,
            )
    mode = "in_memory" if args.mode == "in_memory" else f"{args.mode} x{args.workers}"
    rows = []
    for setting, results in runs.items():
        last = results[-1][0]
        scores = story_quality(workdir, last["labels"])
        name = setting_name(setting)
        print(f"{name} counters: {json.dumps(last['counters'])}")
        print(f"{name} counts: {json.dumps(last['counts'])}")
        print(f"{name} quality: {json.dumps(scores)}")
        seconds = statistics.median(r["seconds"] for r, _ in results)
        peak = statistics.median(p for _, p in results)
        pairs = last["counters"].get("pairs_compared", 0)
        rows.append((setting, seconds, peak, pairs, scores))
    print()
    print(
        f"n = {info['articles']:,} articles, {info['events']:,} events, {info['copies']:,} copies"
    )
    print(
        "| system | seconds | articles/s | peak RSS GB | pairs compared | story P / R / F1 "
        "| copies labelled |"
    )
    print("|---|---|---|---|---|---|---|")
    for setting, seconds, peak, pairs, scores in rows:
        print(
            f"| DedupArticles, all layers, {setting_name(setting)} (FnApiRunner {mode}) "
            f"| {seconds:.1f} | {info['articles'] / seconds:,.0f} | {peak:.2f} | {pairs:,} "
            f"| {scores['story_precision']:.3f} / {scores['story_recall']:.3f} / "
            f"{scores['story_f1']:.3f} | {scores['copies_labelled']:.3f} |"
        )
    # A floor of the layer at a million articles on two cores: its features alone, pure Python,
    # an article at a time, perfectly parallel (everything else in the table comes on top).
    cost = features_ms(workdir, 2000)
    print(
        f"\nstory features: {cost:.2f} ms an article (2,000 of these, one process); "
        f"1M articles on 2 cores: {cost * 1e6 / 2 / 1000:.0f} s at best for them alone"
    )
    print()
    for index, (setting, seconds, peak, _, _) in enumerate(rows):
        suffix = "" if index == 0 else f"_max_candidates_{setting[0]}_posting_cap_{setting[1]}"
        print(f"dedup_all_seconds{suffix}: {seconds:.1f}")
        print(f"dedup_all_peak_rss_gb{suffix}: {peak:.2f}")
        print(f"dedup_all_articles_per_s{suffix}: {info['articles'] / seconds:.0f}")
    print(f"story_features_ms: {cost:.2f}")
    print(f"story_features_1m_2cores_s: {cost * 1e6 / 2 / 1000:.0f}")


def run_datasketch(data: Path) -> dict[str, Any]:
    """Child: datasketch MinHash + MinHashLSH(threshold=0.8) over the same shards and shingles."""
    from datasketch import MinHash, MinHashLSH

    settings = NearDupSettings()
    k = settings.shingle_words
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=settings.num_perm)
    pairs: list[tuple[str, str]] = []
    skipped = 0
    for shard in shards_of(data):
        rows = list(read_shard(shard))
        for offset in range(0, len(rows), 1000):
            ids, sets = [], []
            for article_id, text in rows[offset : offset + 1000]:
                words = tokens(text)
                if len(words) < settings.min_tokens:
                    skipped += 1
                    continue
                shingles = {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}
                ids.append(article_id)
                sets.append([s.encode("utf-8") for s in shingles])
            minhashes = MinHash.bulk(sets, num_perm=settings.num_perm)
            for article_id, minhash in zip(ids, minhashes, strict=True):
                pairs.extend((other, article_id) for other in lsh.query(minhash))
                lsh.insert(article_id, minhash)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pairs": pairs, "counters": {"skipped_too_short": skipped}}


def quality(data: Path, pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Precision/recall of emitted pairs against the planted truth (outside pairs measured)."""
    truth_table = pq.read_table(data / "truth.parquet")
    truth = {
        (a, b): j
        for a, b, j in zip(
            truth_table.column("a").to_pylist(),
            truth_table.column("b").to_pylist(),
            truth_table.column("jaccard").to_pylist(),
            strict=True,
        )
    }
    ordered = [(min(a, b), max(a, b)) for a, b in pairs]
    outside = {pair for pair in ordered if pair not in truth}
    needed = sorted({article_id for pair in outside for article_id in pair})
    texts: dict[str, str] = {}
    if needed:
        for shard in shards_of(data):
            table = pq.read_table(shard, filters=pc.field("id").isin(needed))
            texts.update(
                zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True)
            )
    settings = NearDupSettings()

    def true_jaccard(a: str, b: str) -> float:
        """Exact Jaccard of a pair outside the planted groups."""
        return pair_jaccards([texts[a], texts[b]], [(0, 1)], settings)[0]

    return score_edges(ordered, truth, true_jaccard)


def child_main(args: argparse.Namespace) -> None:
    """Run one system in this (child) process and write its result."""
    if args.child == "ours":
        with tempfile.TemporaryDirectory(prefix="neardup-out-") as out:
            result = run_ours(args.data, Path(out), args.workers, args.mode)
    elif args.child == "all":
        with tempfile.TemporaryDirectory(prefix="dedup-all-out-") as out:
            result = run_all(
                args.data, Path(out), args.workers, args.mode, args.max_candidates, args.posting_cap
            )
    else:
        result = run_datasketch(args.data)
    Path(args.result).write_text(json.dumps(result))


def fmt(value: Optional[float], digits: int = 3) -> str:
    """Format a number for the table ('-' when missing)."""
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: build the data, run both systems, print the table and the summary lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--skip-datasketch", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", default="in_memory", choices=["multi_processing", "in_memory"])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--layers", choices=["near", "all"], default="near", help="all: the whole DedupArticles"
    )
    parser.add_argument(
        "--max-candidates",
        default=None,
        help="--layers all: comma-separated StorySettings.max_candidates values (0: no limit)",
    )
    parser.add_argument(
        "--posting-cap",
        default=None,
        help="--layers all: comma-separated StorySettings.posting_cap values (rows: every pair)",
    )
    parser.add_argument("--child", choices=["ours", "datasketch", "all"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.max_candidates is None:
            args.max_candidates = StorySettings().max_candidates
        args.max_candidates = int(args.max_candidates)
        args.posting_cap = int(args.posting_cap or StorySettings().posting_cap)
        child_main(args)
        return
    if args.layers == "all":
        limits = args.max_candidates or str(StorySettings().max_candidates)
        caps = args.posting_cap or str(StorySettings().posting_cap)
        main_all(
            args,
            [(int(limit), int(cap)) for limit in limits.split(",") for cap in caps.split(",")],
        )
        return

    workdir = args.workdir or Path(tempfile.gettempdir()) / f"newsbeam-neardup-{args.n}"
    started = time.perf_counter()
    info = build(args.corpus, workdir, args.n, args.seed)
    print(f"data: {json.dumps(info)} ({time.perf_counter() - started:.0f} s)", flush=True)
    child_args = ["--data", str(workdir), "--workers", str(args.workers), "--mode", args.mode]
    runs: dict[str, list[tuple[dict[str, Any], float]]] = {"ours": [], "datasketch": []}
    systems = ["ours"] if args.skip_datasketch else ["datasketch", "ours"]
    for repeat in range(args.repeat):
        # Alternate which system goes first so that neither always runs on a warmer machine.
        for system in systems if repeat % 2 == 0 else systems[::-1]:
            result, peak = run_child(["--child", system, *child_args])
            runs[system].append((result, peak))
            print(f"{system}: {result['seconds']:.1f} s, peak {peak:.2f} GB", flush=True)

    rows = {}
    for system, results in runs.items():
        if not results:
            continue
        scores = quality(workdir, results[-1][0]["pairs"])
        rows[system] = {
            "seconds": statistics.median(r["seconds"] for r, _ in results),
            "peak_gb": statistics.median(peak for _, peak in results),
            **scores,
        }
        print(f"{system} counters: {json.dumps(results[-1][0].get('counters', {}))}")
        print(f"{system} recall by true J: {json.dumps(scores['recall_by_true_j'])}")
    ours = rows["ours"]
    ratio = rows["datasketch"]["seconds"] / ours["seconds"] if "datasketch" in rows else None
    print()
    print(f"n = {args.n:,} articles, {info['true_pairs_j_ge_0_8']:,} planted pairs with J >= 0.8")
    print("| system | seconds | peak RSS GB | recall@0.8 | precision@0.8 | pairs | vs datasketch |")
    print("|---|---|---|---|---|---|---|")
    for system, row in rows.items():
        mode = "in_memory" if args.mode == "in_memory" else f"{args.mode} x{args.workers}"
        label = {"ours": f"NearDuplicateEdges (FnApiRunner {mode})"}.get(
            system, "datasketch MinHashLSH(0.8), one process"
        )
        speed = rows["datasketch"]["seconds"] / row["seconds"] if ratio else None
        print(
            f"| {label} | {row['seconds']:.1f} | {row['peak_gb']:.2f} | {fmt(row['recall'])} "
            f"| {fmt(row['precision'])} | {row['edges']:,} | {fmt(speed, 2)} |"
        )
    print()
    print(f"dedup_seconds: {ours['seconds']:.1f}")
    print(f"dedup_peak_rss_gb: {ours['peak_gb']:.2f}")
    print(f"dedup_vs_datasketch: {fmt(ratio, 2) if ratio else 'skipped'}")


if __name__ == "__main__":
    main()
