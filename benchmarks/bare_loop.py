"""The loop a user writes instead of newsbeam: feeds -> pages -> text, title, date, language.

python benchmarks/bare_loop.py OUTLETS RECORDING OUT.parquet [--engine E] [--workers N]

Reads the same replay recording the job replays (``index.jsonl`` + bodies; no network), parses
every feed of OUTLETS with feedparser, and for each entry's page runs one extraction engine plus
seeded langdetect, then writes one Parquet file. ``--engine``: ``trafilatura``
(``bare_extraction(with_metadata=True)``, the default), ``newspaper4k`` (``Article.parse``) or
``newsplease`` (``NewsPlease.from_html``); the last two run from their own venv
(``make peers-venv``: their pins conflict with ours). ``--workers 2`` = ``multiprocessing.Pool``.
Imports only feedparser, pyarrow, PyYAML, langdetect and the engine, so it runs in any of the venvs.
"""

import argparse
import json
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

# Run as a script, benchmarks/ is sys.path[0], and its modules would shadow the peers' packages
# (news-please -> scrapy -> twisted imports ``incremental``, the PyPI package, not ours).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import feedparser
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ENGINES = ("trafilatura", "newspaper4k", "newsplease")
_ENGINE = "trafilatura"


def load_index(recording: Path) -> dict[str, Path]:
    """URL -> body file of every recorded 200 response."""
    index: dict[str, Path] = {}
    with open(recording / "index.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("status") == 200 and row.get("body"):
                index[row["url"]] = recording / row["body"]
    return index


def page_jobs(outlets: Path, recording: Path) -> Iterator[tuple[str, str]]:
    """(url, body file) of every entry of every feed, in feed order."""
    index = load_index(recording)
    config = yaml.safe_load(outlets.read_text(encoding="utf-8"))
    for outlet in config["outlets"]:
        for feed_url in outlet["feeds"]:
            if feed_url not in index:
                continue
            parsed = feedparser.parse(index[feed_url].read_bytes())
            for entry in parsed.entries:
                link = entry.get("link")
                if link in index:
                    yield link, str(index[link])


def _init(engine: str) -> None:
    """Per process: choose the engine and seed langdetect (deterministic answers)."""
    global _ENGINE
    _ENGINE = engine
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0
    if engine == "newsplease":
        from newsplease.pipeline.extractor.extractors.newspaper_extractor import (
            NewspaperExtractor,
        )

        # news-please parses with newspaper4k, which fetches images over the network; images
        # are not part of the record compared here.
        NewspaperExtractor._article_kwargs = lambda self: {"fetch_images": False}


def _language(text: str) -> Optional[str]:
    from langdetect import detect
    from langdetect.lang_detect_exception import LangDetectException

    try:
        return str(detect(text)) if text.strip() else None
    except LangDetectException:
        return None


def extract(job: tuple[str, str]) -> dict[str, Any]:
    """One page -> a row (text, title, date, language); an engine error gives an empty row."""
    url, body_file = job
    html = Path(body_file).read_bytes()
    text = title = date = None
    try:
        if _ENGINE == "trafilatura":
            import trafilatura

            doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
            if isinstance(doc, dict):  # as_dict=True (not the default) returns a dict
                text, title, date = doc.get("text"), doc.get("title"), doc.get("date")
            elif doc is not None:
                text, title, date = doc.text, doc.title, doc.date
        elif _ENGINE == "newspaper4k":
            import newspaper

            # Images are not part of the record compared here, and fetching them needs the network.
            article = newspaper.Article(url, fetch_images=False)
            article.download(input_html=html.decode("utf-8", "replace"))
            article.parse()
            text, title = article.text, article.title
            date = article.publish_date.isoformat() if article.publish_date else None
        else:
            from newsplease import NewsPlease

            article = NewsPlease.from_html(html.decode("utf-8", "replace"), url=url)
            text, title = article.maintext, article.title
            date = article.date_publish.isoformat() if article.date_publish else None
    except Exception as exc:  # a peer's failure on one page is its row, not the run's end
        print(f"{url}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return {
        "url": url,
        "title": title,
        "text": text,
        "date": str(date) if date else None,
        "language": _language(text or ""),
    }


def main(argv: Optional[list[str]] = None) -> int:
    """Run the loop and write the Parquet file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outlets", type=Path)
    parser.add_argument("recording", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--engine", choices=ENGINES, default="trafilatura")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    jobs = list(page_jobs(args.outlets, args.recording))
    if args.workers > 1:
        with multiprocessing.Pool(args.workers, initializer=_init, initargs=(args.engine,)) as pool:
            rows = pool.map(extract, jobs, chunksize=8)
    else:
        _init(args.engine)
        rows = [extract(job) for job in jobs]
    pq.write_table(pa.Table.from_pylist(rows), args.out)
    print(json.dumps({"pages": len(rows), "with_text": sum(1 for r in rows if r["text"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
