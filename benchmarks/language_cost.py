"""Cost of our language detection vs bare seeded ``langdetect.detect`` on the same texts.

    python benchmarks/language_cost.py [--corpus ../shared/corpus] [--repeat 3]

Texts: the article bodies trafilatura extracts from the scrapinghub-aeb pages (what the pipeline
feeds ``DetectLanguage``), plus a long-text set: newspaper4k's expected bodies and lingua
sentences joined 25 at a time. Each text is timed with both systems in one run, alternating which
goes first; each time is the median of ``--repeat`` runs. Prints medians per set and ends with
``language_vs_bare: <total ours / total bare>``. Budget (issue 3): at most 0.9.

``--caps 300,1000,5000`` first prints, for each cap on the characters the detectors see, how
often the AEB answers match the uncapped (10,000 characters) answers, the accuracy on the labelled
long texts, and the median cost: the measurement behind ``language.max_chars``.
"""

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402
from langdetect import DetectorFactory  # noqa: E402
from langdetect import detect as bare_detect  # noqa: E402
from langdetect.lang_detect_exception import LangDetectException  # noqa: E402

from evaluation.language import DEFAULT_LANGUAGES  # noqa: E402
from transforms.core.settings import LanguageSettings, load_config  # noqa: E402
from transforms.language.detect import detect_language, load_models  # noqa: E402

# newspaper4k's expected bodies are named after their language; the others are English.
NEWSPAPER4K_LANGUAGES = {
    "arabic": "ar",
    "bengali": "bn",
    "burmese": "my",
    "chinese": "zh",
    "hindi": "hi",
    "japanese": "ja",
    "korean": "ko",
    "latvian": "lv",
    "nepali": "ne",
    "spanish": "es",
    "thai": "th",
}


def aeb_texts(corpus: Path) -> list[str]:
    """Article bodies trafilatura extracts from the scrapinghub-aeb pages."""
    base = corpus / "extraction" / "scrapinghub-aeb"
    truth = json.loads((base / "ground-truth.json").read_text(encoding="utf-8"))
    texts = []
    for page_id, item in sorted(truth.items()):
        html = gzip.decompress((base / "html" / f"{page_id}.html.gz").read_bytes())
        text = trafilatura.extract(html, url=item["url"])
        if text:
            texts.append(text)
    return texts


def long_texts(corpus: Path) -> list[tuple[str, str]]:
    """(language, text): newspaper4k's expected bodies and lingua sentences joined 25 at a time."""
    texts = []
    for path in sorted((corpus / "extraction" / "newspaper4k" / "txt").glob("*.txt")):
        prefix = path.stem.split("_")[0]
        texts.append((NEWSPAPER4K_LANGUAGES.get(prefix, "en"), path.read_text(encoding="utf-8")))
    for language in DEFAULT_LANGUAGES:
        path = corpus / "language" / "lingua" / "sentences" / f"{language}.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        texts.extend(
            (language, " ".join(lines[i : i + 25])) for i in range(0, len(lines) - 24, 100)
        )
    return texts


def cap_study(aeb: Sequence[str], labelled: Sequence[tuple[str, str]], caps: Sequence[int]) -> None:
    """Agreement with uncapped answers, accuracy on labelled long texts and cost, per cap."""
    base = load_config().language
    uncapped = LanguageSettings(
        seed=base.seed, max_chars=10_000, min_confidence=base.min_confidence
    )
    reference = [detect_language(text, uncapped).language for text in aeb]
    for cap in caps:
        settings = LanguageSettings(
            seed=base.seed, max_chars=cap, min_confidence=base.min_confidence
        )
        costs, same, right = [], 0, 0
        for text, expected in zip(aeb, reference, strict=True):
            start = time.perf_counter()
            same += detect_language(text, settings).language == expected
            costs.append(time.perf_counter() - start)
        for language, text in labelled:
            right += detect_language(text, settings).language == language
        print(
            f"cap {cap}: AEB same as uncapped {same}/{len(aeb)}, long texts right "
            f"{right}/{len(labelled)}, median {1000 * statistics.median(costs):.2f} ms per AEB text"
        )


def bare(text: str) -> str:
    """Seeded langdetect on the full text, as the pipeline ran it before issue 3."""
    DetectorFactory.seed = 0
    try:
        return str(bare_detect(text))
    except LangDetectException:
        return "und"


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` calls, in seconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def measure(texts: Sequence[str], repeat: int) -> tuple[list[float], list[float]]:
    """Per-text times (bare, ours), alternating which system runs first."""
    settings = load_config().language
    bare_s: list[float] = []
    ours_s: list[float] = []
    for n, text in enumerate(texts):
        pair = [
            ("bare", lambda t=text: bare(t)),
            ("ours", lambda t=text: detect_language(t, settings)),
        ]
        for name, fn in pair if n % 2 == 0 else reversed(pair):
            (bare_s if name == "bare" else ours_s).append(timed(fn, repeat))
    return bare_s, ours_s


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--caps", help="comma-separated caps to compare first (e.g. 500,1000)")
    args = parser.parse_args(argv)
    load_models()
    bare("warm up the profiles")
    aeb, labelled = aeb_texts(args.corpus), long_texts(args.corpus)
    if args.caps:
        cap_study(aeb, labelled, [int(cap) for cap in args.caps.split(",")])
    sets = {"aeb": aeb, "long": [text for _, text in labelled]}
    settings = load_config().language
    print(f"settings: max_chars={settings.max_chars} seed={settings.seed}, repeat={args.repeat}")
    total_bare = total_ours = 0.0
    for name, texts in sets.items():
        bare_s, ours_s = measure(texts, args.repeat)
        total_bare += sum(bare_s)
        total_ours += sum(ours_s)
        chars = statistics.median(len(t) for t in texts)
        print(
            f"{name}: {len(texts)} texts, median {chars:.0f} chars; median ms per text: "
            f"bare langdetect {1000 * statistics.median(bare_s):.2f}, "
            f"ours {1000 * statistics.median(ours_s):.2f}; "
            f"total ratio {sum(ours_s) / sum(bare_s):.3f}"
        )
    print(f"language_vs_bare: {total_ours / total_bare:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
