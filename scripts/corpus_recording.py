"""Build a replay recording of real pages behind synthetic feeds.

corpus_recording.py OUT [N] [--sets a,b] [--outlets K] [--feeds_per_outlet F] [--corpus DIR]

The pages are the extraction sets' HTML in ``../shared/corpus/extraction`` (by default dragnet,
wcxb-dev, scrapinghub-aeb, mozilla-readability, newspaper4k, in that order; or any directories
laid out like them), byte for byte; the feeds listing them and the URLs of pages whose set gives
none are ours (``https://<set>-<k>.corpus.newsbeam.invalid/``, illustrative). N pages (default
1200; 0 = all) over 12 outlets with 4 feeds each by default, so FetchPages has many hosts to
spread. Writes OUT/recording (index.jsonl + bodies) and OUT/outlets.yaml; the run's day is
2026-11-25 (``--as_of``). Used by the Flink runs, benchmarks/progress.py and benchmarks/pipeline.py.
Never committed: OUT belongs under .tools/ or a temp dir.
"""

import argparse
import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from build_demo import Builder, rss_document  # noqa: E402

EXTRACTION = ROOT.parent / "shared" / "corpus" / "extraction"
SETS = ("dragnet", "wcxb-dev", "scrapinghub-aeb", "mozilla-readability", "newspaper4k")
OUTLETS = 12
FEEDS_PER_OUTLET = 4
DAY = "2026-11-24"
DEFAULT_SETS = tuple(EXTRACTION / name for name in SETS)


def known_urls(corpus_set: Path) -> dict[str, str]:
    """Page file stem -> URL, where the set's ground truth gives one."""
    truth = corpus_set / "ground-truth.json"
    if not truth.exists():
        return {}
    data = json.loads(truth.read_text(encoding="utf-8"))
    return {key: value["url"] for key, value in data.items() if value.get("url")}


def pages(
    limit: int, sets: Sequence[Path] = DEFAULT_SETS, outlets: int = OUTLETS
) -> list[tuple[str, str, bytes]]:
    """Up to ``limit`` (set, url, html) triples (0 = no limit), in a fixed order."""
    found: list[tuple[str, str, bytes]] = []
    for corpus_set in sets:
        name = corpus_set.name
        urls = known_urls(corpus_set)
        for path in sorted((corpus_set / "html").glob("*.html*")):
            stem = path.name.split(".")[0]
            raw = path.read_bytes()
            body = gzip.decompress(raw) if path.suffix == ".gz" else raw
            outlet = len(found) % outlets
            url = urls.get(stem) or (
                f"https://{name}-{outlet}.corpus.newsbeam.invalid/{name}/{stem}.html"
            )
            found.append((name, url, body))
            if len(found) == limit:
                return found
    return found


def build(
    out: Path,
    limit: int = 1200,
    sets: Sequence[Path] = DEFAULT_SETS,
    n_outlets: int = OUTLETS,
    feeds_per_outlet: int = FEEDS_PER_OUTLET,
) -> int:
    """Write OUT/recording and OUT/outlets.yaml; return the number of pages recorded."""
    recording = out / "recording"
    builder = Builder(recording)
    feeds: dict[str, list[dict[str, Any]]] = {}
    outlets: list[dict[str, Any]] = []
    for k in range(n_outlets):
        urls = [
            f"https://feeds.corpus.newsbeam.invalid/o{k}/f{f}.xml" for f in range(feeds_per_outlet)
        ]
        outlets.append(
            {
                "id": f"corpus{k}",
                "name": f"Corpus outlet {k}",
                "homepage": f"https://o{k}.corpus.newsbeam.invalid/",
                "country": "US",
                "languages": ["en"],
                "feeds": urls,
            }
        )
        for url in urls:
            feeds[url] = []
    chosen = pages(limit, sets, n_outlets)
    seen: set[str] = set()
    for number, (name, url, body) in enumerate(chosen):
        if url in seen:
            continue
        seen.add(url)
        builder.record(url, body, "text/html; charset=utf-8", f"{DAY}T12:00:00Z")
        outlet = number % n_outlets
        feed = f"https://feeds.corpus.newsbeam.invalid/o{outlet}/f{number % feeds_per_outlet}.xml"
        minute = number % 600
        feeds[feed].append(
            {
                "title": f"{name} page {number}",
                "link": url,
                "guid": url,
                "published": f"{DAY}T{minute // 60:02d}:{minute % 60:02d}:00Z",
            }
        )
    for url, items in feeds.items():
        builder.record(
            url, rss_document(url, url, items, "en"), "application/rss+xml", f"{DAY}T12:00:00Z"
        )
    recording.mkdir(parents=True, exist_ok=True)
    with open(recording / "index.jsonl", "w", encoding="utf-8") as handle:
        for row in builder.index:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
    (out / "outlets.yaml").write_text(yaml.safe_dump({"outlets": outlets}, sort_keys=False))
    return len(seen)


def main(argv: Sequence[str]) -> int:
    """Command line: write the recording and the outlets file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("limit", type=int, nargs="?", default=1200)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--corpus", type=Path, default=EXTRACTION, help="where the sets live")
    parser.add_argument("--outlets", type=int, default=OUTLETS)
    parser.add_argument("--feeds_per_outlet", type=int, default=FEEDS_PER_OUTLET)
    args = parser.parse_args(argv)
    sets = [args.corpus / name for name in args.sets.split(",") if name]
    missing = [str(s) for s in sets if not (s / "html").is_dir()]
    if missing:
        parser.error(f"no html/ directory in {', '.join(missing)}")
    n = build(args.out, args.limit, sets, args.outlets, args.feeds_per_outlet)
    print(f"{n} pages, {args.outlets * args.feeds_per_outlet} feeds -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
