"""Synthetic news articles built from real sentences, with planted syndicated copies.

    python benchmarks/synthetic.py --n 100000 --out /tmp/neardup-100k [--corpus ../shared/corpus]

Sentences: lingua's ``sentences/<lang>.txt`` (15 languages, 1,000 real sentences each) plus the
sentences of giveme5w1h's news articles (English). An original article is 10-40 distinct sentences
of one language. 20% of all articles are planted copies of originals, made by
``evaluation.planted.plant_copy`` (light edits down to a true 5-shingle Jaccard drawn from
0.5-0.95). Output, deterministic for a seed: ``shard-NNN.parquet`` (``id``, ``text``) and
``truth.parquet`` (``a``, ``b``, ``jaccard``: every pair inside a planted group, with its exact
Jaccard). The copies of shard s are made from the originals of shard s-1, so a copy and its
source never sit in the same file (nor, in Beam, in the same bundle).
"""

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from evaluation.planted import plant_group_copies, split_sentences  # noqa: E402

# English weighs most (the giveme5w1h sentences add to it), Indonesian next (the project's first
# outlets); the other languages share the rest equally.
LANGUAGES = (
    "en",
    "id",
    "ms",
    "de",
    "fr",
    "es",
    "pt",
    "ru",
    "it",
    "nl",
    "tl",
    "ar",
    "ko",
    "zh",
    "ja",
)
WEIGHTS = (0.30, 0.15) + (0.55 / 13,) * 13
COPY_SHARE = 0.2
SHARD_SIZE = 50_000


def load_pools(corpus: Path) -> dict[str, list[str]]:
    """Sentences per language from lingua, English with giveme5w1h's article sentences added."""
    pools = {}
    for language in LANGUAGES:
        path = corpus / "language" / "lingua" / "sentences" / f"{language}.txt"
        pools[language] = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    for path in sorted((corpus / "dedup" / "giveme5w1h" / "data").glob("*.json")):
        text = json.loads(path.read_text("utf-8")).get("text") or ""
        pools["en"].extend(s for s in split_sentences(text) if len(s.split()) >= 4)
    return {language: sorted(set(pool)) for language, pool in pools.items()}


def originals(pools: dict[str, list[str]], count: int, rng: random.Random) -> list[str]:
    """Articles of 10-40 distinct sentences of one language each."""
    languages = rng.choices(LANGUAGES, weights=WEIGHTS, k=count)
    texts = []
    for language in languages:
        pool = pools[language]
        texts.append(" ".join(rng.sample(pool, min(len(pool), rng.randint(10, 40)))))
    return texts


def shard_plan(n: int) -> list[tuple[int, int]]:
    """(originals, copies) per shard for n articles in total."""
    shards = max(1, -(-n // SHARD_SIZE))
    plan = []
    for s in range(shards):
        size = n // shards + (1 if s < n % shards else 0)
        copies = round(size * COPY_SHARE)
        plan.append((size - copies, copies))
    return plan


def _shard_originals(
    pools: dict[str, list[str]], seed: int, shard: int, plan: Sequence[tuple[int, int]]
) -> list[str]:
    """The originals of one shard (regenerated identically wherever they are needed)."""
    return originals(pools, plan[shard][0], random.Random(f"{seed}:originals:{shard}"))


def _positions(seed: int, shard: int, size: int) -> list[int]:
    """Position in the shard file of each entry (originals first, then copies): a seeded shuffle."""
    order = list(range(size))
    random.Random(f"{seed}:order:{shard}").shuffle(order)
    positions = [0] * size
    for pos, entry in enumerate(order):
        positions[entry] = pos
    return positions


def article_id(seed: int, shard: int, entry: int, plan: Sequence[tuple[int, int]]) -> str:
    """Id of a shard's entry; ids say nothing about which articles are copies."""
    positions = _positions(seed, shard, sum(plan[shard]))
    return f"s{shard:03d}-{positions[entry]:06d}"


def build_shard(args: tuple[Path, Path, int, int, list[tuple[int, int]]]) -> list[dict]:
    """Write one shard; return its truth pairs (ids and exact Jaccard)."""
    corpus, out, seed, shard, plan = args
    pools = load_pools(corpus)
    own = _shard_originals(pools, seed, shard, plan)
    previous = (shard - 1) % len(plan)
    sources = own if previous == shard else _shard_originals(pools, seed, previous, plan)
    rng = random.Random(f"{seed}:copies:{shard}")
    pool = [s for text in sources[:2000] for s in split_sentences(text)]
    copies, truth = plant_group_copies(sources, plan[shard][1], rng, pool)
    texts = own + [text for _, text in copies]
    positions = _positions(seed, shard, len(texts))
    ordered = [""] * len(texts)
    for entry, text in enumerate(texts):
        ordered[positions[entry]] = text
    table = pa.table(
        {"id": [f"s{shard:03d}-{pos:06d}" for pos in range(len(texts))], "text": ordered}
    )
    pq.write_table(table, out / f"shard-{shard:03d}.parquet", compression="zstd")
    previous_positions = _positions(seed, previous, sum(plan[previous]))

    def name(index: int) -> str:
        """Id of a text given its index among sources + copies."""
        if index < len(sources):
            return f"s{previous:03d}-{previous_positions[index]:06d}"
        return f"s{shard:03d}-{positions[len(own) + index - len(sources)]:06d}"

    return [{"a": name(i), "b": name(j), "jaccard": jaccard} for i, j, jaccard in truth]


def cached_build(out: Path, meta: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The info of a corpus already built in ``out`` with ``meta``; else None, old shards gone."""
    meta_path = out / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text())["build"] == meta:
        return dict(json.loads(meta_path.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard-*.parquet"):
        old.unlink()
    return None


def build_shards(
    build_shard_fn: Callable[[Any], list[dict[str, Any]]],
    corpus: Path,
    out: Path,
    seed: int,
    plan: Sequence[Any],
    processes: int,
) -> list[dict[str, Any]]:
    """Build every shard of ``plan`` in ``processes`` spawned processes; their truth rows."""
    jobs = [(corpus, out, seed, shard, plan) for shard in range(len(plan))]
    with get_context("spawn").Pool(processes) as pool:
        return [row for rows in pool.map(build_shard_fn, jobs) for row in rows]


def build(corpus: Path, out: Path, n: int, seed: int = 0, processes: int = 2) -> dict:
    """Write the shards and truth for n articles (skipped when already there); return the meta."""
    meta = {"n": n, "seed": seed, "shard_size": SHARD_SIZE, "copy_share": COPY_SHARE}
    meta_path = out / "meta.json"
    cached = cached_build(out, meta)
    if cached is not None:
        return cached
    plan = shard_plan(n)
    truth = build_shards(build_shard, corpus, out, seed, plan, processes)
    for row in truth:
        row["a"], row["b"] = sorted((row["a"], row["b"]))
    pq.write_table(pa.Table.from_pylist(truth), out / "truth.parquet")
    info = {
        "build": meta,
        "shards": len(plan),
        "articles": n,
        "copies": sum(c for _, c in plan),
        "true_pairs": len(truth),
        "true_pairs_j_ge_0_8": sum(1 for row in truth if row["jaccard"] >= 0.8),
    }
    meta_path.write_text(json.dumps(info, indent=1))
    return info


def build_command(
    build_fn: Callable[[Path, Path, int, int], dict[str, Any]],
    description: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Command line of a corpus builder: ``--n``, ``--out``, ``--corpus``, ``--seed``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(build_fn(args.corpus, args.out, args.n, args.seed), indent=1))


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the synthetic corpus."""
    build_command(build, __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    main()
