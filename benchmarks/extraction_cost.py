"""Cost of our extraction vs bare trafilatura on the same pages, in one run.

Loads scrapinghub-aeb (``../shared/corpus/extraction/scrapinghub-aeb`` or the directory given)
into memory, then times, page by page and interleaved, bare ``trafilatura.extract(html,
url=url)`` and ``transforms.extract.extract_article`` (body + metadata + flags). Both are warmed
up first (imports, htmldate/dateparser caches) so one-time costs are not counted. Prints a table
with medians and totals; the last line is ``extraction_vs_bare: <ratio of total CPU time>``.

    python benchmarks/extraction_cost.py [DIR] [--repeat N]
"""

import argparse
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.extraction import detect_layout, fetched_page, load_samples  # noqa: E402
from transforms.core.settings import ExtractSettings  # noqa: E402
from transforms.extract.article import extract_article  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "corpus" / "extraction" / "scrapinghub-aeb"
FETCHED_AT = "2026-01-01T00:00:00Z"


def main() -> int:
    """Time both systems over the same in-memory pages and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the pages")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    samples = list(load_samples(args.directory, detect_layout(args.directory)))
    pages = [(s.html, s.url, fetched_page(s, FETCHED_AT)) for s in samples]
    settings = ExtractSettings()
    for html, url, page in pages:  # warm-up: imports, lazy caches (dateparser's are slow)
        trafilatura.extract(html, url=url)
        extract_article(page, settings)
    bare: list[float] = []
    ours: list[float] = []
    for _ in range(args.repeat):
        for html, url, page in pages:
            start = time.process_time()
            trafilatura.extract(html, url=url)
            bare.append(time.process_time() - start)
            start = time.process_time()
            extract_article(page, settings)
            ours.append(time.process_time() - start)
    n = len(pages)
    print(f"{args.directory.name}: {n} pages x {args.repeat} passes, CPU time per page")
    print()
    print("| system | median ms | mean ms | total s | pages/s |")
    print("|---|---|---|---|---|")
    for name, times in (("trafilatura.extract", bare), ("newsbeam extract_article", ours)):
        total = sum(times)
        print(
            f"| {name} | {1000 * statistics.median(times):.2f} | "
            f"{1000 * total / len(times):.2f} | {total:.2f} | {len(times) / total:.1f} |"
        )
    ratio_median = statistics.median(ours) / statistics.median(bare)
    print()
    print(f"median ratio: {ratio_median:.3f}")
    print(f"extraction_vs_bare: {sum(ours) / sum(bare):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
