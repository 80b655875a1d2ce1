"""Issue 3's cost budget: our whole per-page quality work vs bare trafilatura + langdetect, one run.

For every page of an extraction set (scrapinghub-aeb by default), interleaved and CPU-timed:

- bare: ``trafilatura.extract(html, url=url)`` then seeded ``langdetect.detect`` on its text;
- ours: ``transforms.extract.extract_article`` (one parse, body, metadata with provenance, quality
  flags) then ``transforms.language.with_language`` (cleaning, capped langdetect, fastText second
  opinion, Malay/Indonesian markers, hints): exactly what ExtractArticles and DetectLanguage run.

Both are warmed up first. The budget is 1.15x. Last line: ``quality_vs_bare: <ratio>``.

    python benchmarks/quality_cost.py [DIR] [--repeat N]
"""

import argparse
import contextlib
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import trafilatura
from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.extraction import detect_layout, fetched_page, load_samples  # noqa: E402
from transforms.core.records import Article  # noqa: E402
from transforms.core.settings import ExtractSettings, LanguageSettings  # noqa: E402
from transforms.extract.article import extract_article  # noqa: E402
from transforms.language.detect import load_models, with_language  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "corpus" / "extraction" / "scrapinghub-aeb"
FETCHED_AT = "2026-01-01T00:00:00Z"
BUDGET = 1.15


def bare_page(html: bytes, url: Optional[str]) -> None:
    """The baseline: trafilatura's text, then langdetect on all of it."""
    text = trafilatura.extract(html, url=url) or ""
    DetectorFactory.seed = 0
    with contextlib.suppress(LangDetectException):  # no features: the baseline gives up too
        detect(text)


def main() -> int:
    """Time both over the same in-memory pages and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the pages")
    args = parser.parse_args()
    if not args.directory.exists():
        print(f"no such directory: {args.directory}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    samples = list(load_samples(args.directory, detect_layout(args.directory)))
    pages = [(s.html, s.url, fetched_page(s, FETCHED_AT)) for s in samples]
    extract_settings, language_settings = ExtractSettings(), LanguageSettings()
    load_models()

    def ours_page(index: int) -> None:
        result = extract_article(pages[index][2], extract_settings)
        if isinstance(result, Article):
            with_language(result, language_settings)

    for i, (html, url, _page) in enumerate(pages):  # warm-up: imports and lazy caches
        bare_page(html, url)
        ours_page(i)
    bare: list[float] = []
    ours: list[float] = []
    for _ in range(args.repeat):
        for i, (html, url, _page) in enumerate(pages):
            start = time.process_time()
            bare_page(html, url)
            bare.append(time.process_time() - start)
            start = time.process_time()
            ours_page(i)
            ours.append(time.process_time() - start)
    ratio = sum(ours) / sum(bare)
    per_page = statistics.median(o / b for o, b in zip(ours, bare, strict=True) if b > 0)
    print(f"{args.directory.name}: {len(pages)} pages x {args.repeat} passes, CPU time per page")
    print()
    print("| system | median ms | mean ms | total s |")
    print("|---|---|---|---|")
    for name, times in (("trafilatura.extract + langdetect.detect", bare), ("newsbeam", ours)):
        print(
            f"| {name} | {statistics.median(times) * 1e3:.2f} | "
            f"{statistics.fmean(times) * 1e3:.2f} | {sum(times):.2f} |"
        )
    print()
    print(f"median per-page ratio: {per_page:.3f}; budget {BUDGET}x")
    print(f"quality_vs_bare: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
