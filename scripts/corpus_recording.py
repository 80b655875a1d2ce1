"""Build a replay recording of real pages behind synthetic feeds: flink_build_recording.py OUT [N].

The pages are the extraction sets' HTML in ``../shared/corpus/extraction`` (dragnet, wcxb-dev,
scrapinghub-aeb, mozilla-readability, newspaper4k), byte for byte; the feeds listing them and
the URLs of pages whose set gives none are ours (``https://<set>-<k>.corpus.newsbeam.invalid/``,
illustrative). N pages (default 1200) over 12 outlets with 4 feeds each, so FetchPages has many
hosts to spread. Writes OUT/recording (index.jsonl + bodies) and OUT/outlets.yaml; the run's day
is 2026-11-25 (``--as_of``). Never committed: OUT belongs under .tools/ or a temp dir.
"""

import gzip
import json
import sys
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


def known_urls(corpus_set: Path) -> dict[str, str]:
    """Page file stem -> URL, where the set's ground truth gives one."""
    truth = corpus_set / "ground-truth.json"
    if not truth.exists():
        return {}
    data = json.loads(truth.read_text(encoding="utf-8"))
    return {key: value["url"] for key, value in data.items() if value.get("url")}


def pages(limit: int) -> list[tuple[str, str, bytes]]:
    """Up to ``limit`` (set, url, html) triples, in a fixed order."""
    found: list[tuple[str, str, bytes]] = []
    for name in SETS:
        corpus_set = EXTRACTION / name
        urls = known_urls(corpus_set)
        for path in sorted((corpus_set / "html").glob("*.html*")):
            stem = path.name.split(".")[0]
            raw = path.read_bytes()
            body = gzip.decompress(raw) if path.suffix == ".gz" else raw
            outlet = len(found) % OUTLETS
            url = urls.get(stem) or (
                f"https://{name}-{outlet}.corpus.newsbeam.invalid/{name}/{stem}.html"
            )
            found.append((name, url, body))
            if len(found) == limit:
                return found
    return found


def main(argv: list[str]) -> int:
    """Write the recording and the outlets file."""
    out = Path(argv[0])
    limit = int(argv[1]) if len(argv) > 1 else 1200
    recording = out / "recording"
    builder = Builder(recording)
    feeds: dict[str, list[dict[str, Any]]] = {}
    outlets: list[dict[str, Any]] = []
    for k in range(OUTLETS):
        urls = [
            f"https://feeds.corpus.newsbeam.invalid/o{k}/f{f}.xml" for f in range(FEEDS_PER_OUTLET)
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
    chosen = pages(limit)
    seen: set[str] = set()
    for number, (name, url, body) in enumerate(chosen):
        if url in seen:
            continue
        seen.add(url)
        builder.record(url, body, "text/html; charset=utf-8", f"{DAY}T12:00:00Z")
        outlet = number % OUTLETS
        feed = f"https://feeds.corpus.newsbeam.invalid/o{outlet}/f{number % FEEDS_PER_OUTLET}.xml"
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
    print(f"{len(seen)} pages, {len(feeds)} feeds, {OUTLETS} outlets -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
