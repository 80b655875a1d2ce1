"""``newsbeam eval extraction DIR``: score the pipeline's extraction on pages with gold text.

Runs ``transforms.extract.extract_article`` (the code the pipeline runs) on every page of a
labelled directory and, side by side from the same run, two baselines: bare
``trafilatura.extract(html, url=url)`` with ``trafilatura.extract_metadata``, and bare
readability-lxml (``Document(html, url=url).summary()`` reduced to text; body only). With
``--comments`` a third row runs ours with reader comments kept (dragnet's gold includes them).
``--half even|odd`` scores every other page (by position in the stable order), for a tune/report
split of one set. Layouts (detected from the files present):

- scrapinghub-aeb: ``ground-truth.json`` (``{id: {articleBody, url}}``) + ``html/<id>.html.gz``
  (dragnet and mozilla-readability are laid out the same way)
- wcxb: ``ground-truth/<id>.json`` (``url``; ``ground_truth.{main_content, title, author,
  publish_date}``) + ``html/<id>.html.gz``
- newspaper4k: ``html/<name>.html.gz`` + ``txt/<name>.txt`` (body) + ``metadata/<name>.json``
  (``url``, ``title``, ``authors``, ``publish_date``; newspaper4k's own expected output)

Metrics, per document then averaged: token precision/recall/F1 over lowercase ``\\w+`` tokens
with multiset overlap (an empty output scores 0; documents with an empty gold body are left out
of the body metrics); title exact match after whitespace and quote normalization only; date
accuracy at day precision (documents with a gold date only); author match (documents with gold
authors only): the sets of name tokens agree, ignoring case and connector words.
"""

import argparse
import datetime as dt
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import trafilatura

from transforms.core.records import Article, FeedEntry, FetchedPage, FilteredItem
from transforms.core.settings import ExtractSettings
from transforms.core.timeutil import to_iso
from transforms.extract.article import extract_article
from transforms.extract.candidates import readability_text

LAYOUTS = ("scrapinghub-aeb", "wcxb", "newspaper4k")
_TOKEN_RE = re.compile(r"\w+")
# Curly and low quotes (as escapes) -> straight quotes.
_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'}
)
_AUTHOR_CONNECTORS = frozenset({"and", "by", "with"})


class LayoutError(ValueError):
    """The directory is not laid out like any known evaluation set."""


class Sample(NamedTuple):
    """One page and its gold values (None where the set has no gold for a field)."""

    sample_id: str
    url: Optional[str]
    html: bytes
    body: Optional[str]
    title: Optional[str]
    authors: Optional[str]
    date: Optional[str]


class Prediction(NamedTuple):
    """What a system produced for one page."""

    text: str
    title: Optional[str]
    authors: list[str]
    date: Optional[str]


class PRF(NamedTuple):
    """Token precision, recall and F1 of one document."""

    precision: float
    recall: float
    f1: float


# --- metrics (pure) ------------------------------------------------------------------------------


def tokens(text: Optional[str]) -> list[str]:
    """Lowercase ``\\w+`` tokens."""
    return _TOKEN_RE.findall((text or "").lower())


def token_prf(predicted: Optional[str], gold: Optional[str]) -> PRF:
    """Multiset token overlap P/R/F1; an empty prediction (or gold) scores 0."""
    pred, ref = Counter(tokens(predicted)), Counter(tokens(gold))
    if not pred or not ref:
        return PRF(0.0, 0.0, 0.0)
    overlap = sum((pred & ref).values())
    if not overlap:
        return PRF(0.0, 0.0, 0.0)
    precision = overlap / sum(pred.values())
    recall = overlap / sum(ref.values())
    return PRF(precision, recall, 2 * precision * recall / (precision + recall))


def normalize_title(title: Optional[str]) -> str:
    """Whitespace collapsed and curly quotes made straight; nothing else (case is kept)."""
    return " ".join((title or "").translate(_QUOTES).split())


def title_match(predicted: Optional[str], gold: Optional[str]) -> bool:
    """Exact title match after ``normalize_title``."""
    return bool(gold) and normalize_title(predicted) == normalize_title(gold)


def gold_day(value: Optional[str]) -> Optional[str]:
    """The calendar day (``YYYY-MM-DD``) a gold date names, as written (no time zone shift)."""
    if not value:
        return None
    match = re.match(r"\s*(\d{4}-\d{2}-\d{2})", value)
    return match.group(1) if match else None


def date_match(predicted: Optional[str], gold: Optional[str]) -> bool:
    """Same calendar day; ``predicted`` is the date as the page states it (local day)."""
    day = gold_day(gold)
    return day is not None and gold_day(predicted) == day


def author_tokens(names: Union[str, Sequence[str], None]) -> frozenset[str]:
    """Name tokens of an author string or list, without connector words."""
    text = names if isinstance(names, str) else " ".join(names or [])
    return frozenset(t for t in tokens(text) if t not in _AUTHOR_CONNECTORS)


_GOLD_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[,;&|/]|\band\b)\s*")


def author_match(predicted: Sequence[str], gold: Optional[str]) -> bool:
    """Our authors name every person of the gold field and nobody else.

    The gold field is split on ``, ; & | /`` and "and"; every part of two or more words (a
    name) must be among our name tokens, one-word parts (credentials such as "MS, RD", or a
    lone first name) are optional unless the gold has nothing else; and we may not add tokens
    the gold lacks.
    """
    gold_tokens = author_tokens(gold)
    ours = author_tokens(predicted)
    if not gold_tokens or not ours or not ours <= gold_tokens:
        return False
    parts = [p for p in _GOLD_AUTHOR_SPLIT_RE.split(gold or "") if author_tokens(p)]
    names = [p for p in parts if len(p.split()) >= 2] or parts
    return all(author_tokens(name) <= ours for name in names)


# --- layouts -------------------------------------------------------------------------------------


def detect_layout(root: Path) -> str:
    """Name the layout of ``root`` from the files present, or raise LayoutError."""
    if not root.is_dir():
        raise LayoutError(f"{root} is not a directory")
    html = root / "html"
    if (root / "ground-truth.json").is_file() and html.is_dir():
        return "scrapinghub-aeb"
    if (root / "ground-truth").is_dir() and html.is_dir():
        return "wcxb"
    if html.is_dir() and ((root / "txt").is_dir() or (root / "metadata").is_dir()):
        return "newspaper4k"
    raise LayoutError(
        f"{root}: unknown layout; expected one of: ground-truth.json + html/<id>.html.gz "
        "(scrapinghub-aeb), ground-truth/<id>.json + html/<id>.html.gz (wcxb), "
        "html/<name>.html.gz + txt/<name>.txt [+ metadata/<name>.json] (newspaper4k)"
    )


def _read_html(path: Path) -> bytes:
    """Read a page, gunzipping ``.gz`` files."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _html_path(root: Path, name: str) -> Optional[Path]:
    """``html/<name>.html.gz`` or ``html/<name>.html``, whichever exists."""
    for candidate in (root / "html" / f"{name}.html.gz", root / "html" / f"{name}.html"):
        if candidate.is_file():
            return candidate
    return None


def _page_name(path: Path) -> str:
    """``abc.html.gz`` -> ``abc``."""
    name = path.name
    for suffix in (".gz", ".html", ".htm"):
        name = name.removesuffix(suffix)
    return name


def _aeb_samples(root: Path) -> Iterator[Sample]:
    """scrapinghub-aeb: one ground-truth.json for all pages."""
    gold = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    for sample_id in sorted(gold):
        path = _html_path(root, sample_id)
        if path is None:
            continue
        item = gold[sample_id]
        yield Sample(
            sample_id, item.get("url"), _read_html(path), item.get("articleBody"), None, None, None
        )


def _wcxb_samples(root: Path) -> Iterator[Sample]:
    """wcxb: one ground-truth/<id>.json per page."""
    for gold_path in sorted((root / "ground-truth").glob("*.json")):
        path = _html_path(root, gold_path.stem)
        if path is None:
            continue
        item = json.loads(gold_path.read_text(encoding="utf-8"))
        truth = item.get("ground_truth") or {}
        yield Sample(
            gold_path.stem,
            item.get("url"),
            _read_html(path),
            truth.get("main_content"),
            truth.get("title"),
            truth.get("author"),
            truth.get("publish_date"),
        )


def _newspaper4k_samples(root: Path) -> Iterator[Sample]:
    """newspaper4k: html/, txt/ (body) and metadata/ (url, title, authors, date) by name."""
    for path in sorted((root / "html").iterdir()):
        name = _page_name(path)
        txt = root / "txt" / f"{name}.txt"
        meta_path = root / "metadata" / f"{name}.json"
        meta: dict[str, Any] = {}
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        body = txt.read_text(encoding="utf-8") if txt.is_file() else None
        if body is None and not meta:
            continue  # nothing to score this page against
        authors = meta.get("authors") or None
        yield Sample(
            name,
            meta.get("url"),
            _read_html(path),
            body,
            meta.get("title") if meta else None,
            ", ".join(authors) if authors else None,
            meta.get("publish_date"),
        )


def load_samples(root: Path, layout: str) -> Iterator[Sample]:
    """Iterate the samples of a directory in a stable order."""
    readers: dict[str, Callable[[Path], Iterator[Sample]]] = {
        "scrapinghub-aeb": _aeb_samples,
        "wcxb": _wcxb_samples,
        "newspaper4k": _newspaper4k_samples,
    }
    return readers[layout](root)


# --- systems -------------------------------------------------------------------------------------

EVAL_OUTLET = "eval"


def fetched_page(sample: Sample, fetched_at: str) -> FetchedPage:
    """A FetchedPage as the fetch stage would build it, with an empty feed entry (no feed here)."""
    url = sample.url or f"https://eval.invalid/{sample.sample_id}"
    entry = FeedEntry(
        outlet_id=EVAL_OUTLET,
        feed_url="",
        feed_title=None,
        feed_language=None,
        outlet_languages=[],
        guid=None,
        link=url,
        title=None,
        summary=None,
        published=None,
        authors=[],
        categories=[],
        image_url=None,
        position=0,
    )
    return FetchedPage(entry, url, 200, "text/html", None, sample.html, fetched_at, [])


def run_ours(sample: Sample, settings: ExtractSettings, fetched_at: str) -> Prediction:
    """The pipeline's own extraction."""
    result = extract_article(fetched_page(sample, fetched_at), settings)
    if isinstance(result, FilteredItem):
        return Prediction("", None, [], None)
    assert isinstance(result, Article)
    return Prediction(
        result.text,
        result.title,
        list(result.authors),
        result.published_local or result.published_at,
    )


def run_bare(sample: Sample) -> Prediction:
    """Bare trafilatura: ``extract(html, url=url)``; ``extract_metadata`` for title/date/author."""
    text = trafilatura.extract(sample.html, url=sample.url) or ""
    meta = trafilatura.extract_metadata(sample.html, default_url=sample.url)
    if meta is None:
        return Prediction(text, None, [], None)
    authors = [a.strip() for a in (meta.author or "").split(";") if a.strip()]
    return Prediction(text, meta.title, authors, meta.date)


def run_readability(sample: Sample) -> Prediction:
    """Bare readability-lxml on the raw bytes (its own parse and charset sniffing); body only."""
    return Prediction(readability_text(sample.html, url=sample.url), None, [], None)


# --- scoring -------------------------------------------------------------------------------------


class Scores(NamedTuple):
    """Aggregated scores of one system on one directory."""

    documents: int
    precision: float
    recall: float
    f1: float
    f1_median: float
    title_exact: Optional[float]
    title_n: int
    date_day: Optional[float]
    date_n: int
    author: Optional[float]
    author_n: int
    pages_per_s: float


def _mean(values: Sequence[float]) -> float:
    """Arithmetic mean, 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0


def aggregate(
    samples: Sequence[Sample],
    predictions: Sequence[Prediction],
    seconds: float,
    metadata: bool = True,
) -> Scores:
    """Average the per-document metrics of one system (body only unless ``metadata``)."""
    prf = [token_prf(p.text, s.body) for s, p in zip(samples, predictions, strict=True) if s.body]
    titles = [
        title_match(p.title, s.title) for s, p in zip(samples, predictions, strict=True) if s.title
    ]
    dates = [
        date_match(p.date, s.date)
        for s, p in zip(samples, predictions, strict=True)
        if gold_day(s.date)
    ]
    authors = [
        author_match(p.authors, s.authors)
        for s, p in zip(samples, predictions, strict=True)
        if author_tokens(s.authors)
    ]
    if not metadata:  # a body-only system: no title, date or author columns
        titles, dates, authors = [], [], []
    return Scores(
        documents=len(samples),
        precision=_mean([x.precision for x in prf]),
        recall=_mean([x.recall for x in prf]),
        f1=_mean([x.f1 for x in prf]),
        f1_median=statistics.median([x.f1 for x in prf]) if prf else 0.0,
        title_exact=_mean([float(x) for x in titles]) if titles else None,
        title_n=len(titles),
        date_day=_mean([float(x) for x in dates]) if dates else None,
        date_n=len(dates),
        author=_mean([float(x) for x in authors]) if authors else None,
        author_n=len(authors),
        pages_per_s=len(samples) / seconds if seconds > 0 else 0.0,
    )


HALVES = ("even", "odd")


def select_half(samples: Iterator[Sample], half: Optional[str]) -> Iterator[Sample]:
    """Every sample, or those at even (0, 2, ...) or odd positions of the stable order."""
    for position, sample in enumerate(samples):
        if half is None or position % 2 == HALVES.index(half):
            yield sample


def evaluate(
    root: Path,
    limit: Optional[int] = None,
    baseline: bool = True,
    comments: bool = False,
    half: Optional[str] = None,
) -> tuple[str, dict[str, Scores]]:
    """Run our extraction (and the baselines) over a directory; return layout and scores.

    Systems, in row order: ``newsbeam``; ``newsbeam+comments`` with ``comments``; with
    ``baseline``, ``trafilatura`` and ``readability``.
    """
    layout = detect_layout(root)
    fetched_at = to_iso(dt.datetime.now(dt.UTC))
    systems: dict[str, Callable[[Sample], Prediction]] = {
        "newsbeam": lambda s: run_ours(s, ExtractSettings(), fetched_at)
    }
    if comments:
        with_comments = ExtractSettings(include_comments=True)
        systems["newsbeam+comments"] = lambda s: run_ours(s, with_comments, fetched_at)
    if baseline:
        systems["trafilatura"] = run_bare
        systems["readability"] = run_readability
    samples: list[Sample] = []
    predictions: dict[str, list[Prediction]] = {name: [] for name in systems}
    spent = dict.fromkeys(systems, 0.0)
    for sample in select_half(load_samples(root, layout), half):
        if limit is not None and len(samples) >= limit:
            break
        samples.append(sample)
        for name, system in systems.items():
            start = time.process_time()
            predictions[name].append(system(sample))
            spent[name] += time.process_time() - start
    return layout, {
        name: aggregate(samples, predictions[name], spent[name], name != "readability")
        for name in systems
    }


def _cell(value: Optional[float], n: int) -> str:
    """A rate with its document count, or a dash when there is no gold."""
    return "—" if value is None else f"{value:.3f} (n={n})"


def format_table(root: Path, layout: str, results: dict[str, Scores]) -> str:
    """A Markdown table, one row per system."""
    any_scores = next(iter(results.values()))
    lines = [
        f"{root} ({layout}, {any_scores.documents} pages)",
        "",
        "| system | P | R | F1 | F1 median | title exact | date (day) | author | pages/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results.items():
        lines.append(
            f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.f1_median:.3f} | "
            f"{_cell(s.title_exact, s.title_n)} | {_cell(s.date_day, s.date_n)} | "
            f"{_cell(s.author, s.author_n)} | {s.pages_per_s:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point (``newsbeam eval extraction DIR``)."""
    parser = argparse.ArgumentParser(
        prog="newsbeam eval extraction",
        description="Score newsbeam's extraction (and bare trafilatura and readability-lxml) on "
        "pages with gold text.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the baselines (they run by default so all rows come from the same run)",
    )
    parser.add_argument(
        "--comments",
        action="store_true",
        help="add a row: ours with reader comments kept (dragnet's gold includes them)",
    )
    parser.add_argument(
        "--half", choices=HALVES, default=None, help="only pages at even or odd positions"
    )
    parser.add_argument("--baseline", dest="baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    try:
        layout, results = evaluate(
            args.directory, args.limit, args.baseline, args.comments, args.half
        )
    except LayoutError as exc:
        print(f"newsbeam eval extraction: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "directory": str(args.directory),
            "layout": layout,
            "systems": {name: scores._asdict() for name, scores in results.items()},
        }
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        print(format_table(args.directory, layout, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
