"""``newsbeam eval language DIR``: language identification accuracy on labelled samples.

DIR is laid out like lingua's test data: ``sentences/<iso639-1>.txt`` (also ``word-pairs/`` and
``single-words/``), one sample per line, the file name is the label. Every sample goes through
``transforms.language.detect_language`` -- the function the pipeline's ``DetectLanguage`` runs --
with the pipeline's configured settings and no hints (samples have no page, feed or outlet). Bare
seeded ``langdetect.detect`` runs on the same samples in the same loop, for comparison.

``--join N`` scores N consecutive lines as one sample (lingua's sentences joined into paragraphs of
news length); ``--outlet-hint`` gives every sample the hint ``outlet:<its label>``, as an article
from an outlet declared in that language would carry (``seeds/outlets.yaml``).
"""

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional

from langdetect import DetectorFactory
from langdetect import detect as bare_detect
from langdetect.lang_detect_exception import LangDetectException

from transforms.core.langtags import UNDETERMINED, primary_subtag
from transforms.core.settings import ConfigError, LanguageSettings, load_config
from transforms.language.detect import detect_language, load_models

# The languages issue 3 sets the goal on: the outlets' languages plus the big world languages.
DEFAULT_LANGUAGES = (
    *("id", "ms", "en", "ru", "ko", "de", "fr", "es"),
    *("pt", "ar", "zh", "ja", "tl", "nl", "it"),
)
SAMPLE_SETS = ("sentences", "word-pairs", "single-words")
DEFAULT_LIMIT = 300


class Sample(NamedTuple):
    """One labelled line."""

    language: str
    text: str


class Outcome(NamedTuple):
    """What each system said about one sample, and how long it took (seconds)."""

    language: str
    ours: str
    bare: str
    source: str
    ours_s: float
    bare_s: float


def bare_langdetect(text: str, seed: int) -> str:
    """Seeded ``langdetect.detect`` as a user would call it, primary subtag only."""
    DetectorFactory.seed = seed
    try:
        return primary_subtag(bare_detect(text)) or UNDETERMINED
    except LangDetectException:
        return UNDETERMINED


def available_languages(set_dir: Path) -> list[str]:
    """Languages that have a ``<code>.txt`` file in ``set_dir``, sorted."""
    return sorted(p.stem for p in set_dir.glob("*.txt") if primary_subtag(p.stem) == p.stem)


def read_samples(
    path: Path, language: str, offset: int, limit: Optional[int], join: int = 1
) -> list[Sample]:
    """Non-empty lines ``offset`` .. ``offset + limit``, ``join`` consecutive lines per sample."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    kept = [line for line in lines if line][offset:]
    kept = kept if limit is None else kept[:limit]
    # A trailing group shorter than ``join`` is dropped: every sample has the same length class.
    groups = [kept[i : i + join] for i in range(0, len(kept) - join + 1, join)]
    return [Sample(language, " ".join(group)) for group in groups]


def evaluate_sample(
    sample: Sample, settings: LanguageSettings, outlet_hint: bool = False
) -> Outcome:
    """Run our detection and bare langdetect on one sample, timing each."""
    hints = [f"outlet:{sample.language}"] if outlet_hint else []
    start = time.perf_counter()
    guess = detect_language(sample.text, settings, hints)
    middle = time.perf_counter()
    bare = bare_langdetect(sample.text, settings.seed)
    end = time.perf_counter()
    return Outcome(
        sample.language, guess.language, bare, guess.source, middle - start, end - middle
    )


def _share(part: int, whole: int) -> float:
    """``part / whole`` rounded for reporting (0.0 when ``whole`` is 0)."""
    return round(part / whole, 4) if whole else 0.0


def summarize(outcomes: Sequence[Outcome], languages: Sequence[str]) -> dict[str, Any]:
    """Per-language and macro accuracy, id/ms confusion, und rate and cost, for both systems."""
    per_language: dict[str, dict[str, Any]] = {}
    for language in languages:
        mine = [o for o in outcomes if o.language == language]
        per_language[language] = {
            "n": len(mine),
            "ours": _share(sum(o.ours == language for o in mine), len(mine)),
            "bare": _share(sum(o.bare == language for o in mine), len(mine)),
            "ours_und": _share(sum(o.ours == UNDETERMINED for o in mine), len(mine)),
            "bare_und": _share(sum(o.bare == UNDETERMINED for o in mine), len(mine)),
        }
    scored = [v for v in per_language.values() if v["n"]]
    total = len(outcomes)

    def confusion(system: str) -> dict[str, int]:
        """How often one of id/ms was taken for the other."""
        said = [(o.language, getattr(o, system)) for o in outcomes]
        return {
            "ms_as_id": sum(1 for gold, got in said if gold == "ms" and got == "id"),
            "id_as_ms": sum(1 for gold, got in said if gold == "id" and got == "ms"),
        }

    return {
        "samples": total,
        "per_language": per_language,
        "macro": {
            system: round(sum(v[system] for v in scored) / len(scored), 4) if scored else 0.0
            for system in ("ours", "bare")
        },
        "id_ms_confusion": {"ours": confusion("ours"), "bare": confusion("bare")},
        "und_rate": {
            "ours": _share(sum(o.ours == UNDETERMINED for o in outcomes), total),
            "bare": _share(sum(o.bare == UNDETERMINED for o in outcomes), total),
        },
        "ms_per_sample": {
            "ours": round(1000 * sum(o.ours_s for o in outcomes) / total, 3) if total else 0.0,
            "bare": round(1000 * sum(o.bare_s for o in outcomes) / total, 3) if total else 0.0,
        },
        "sources": dict(sorted(Counter(o.source for o in outcomes).items())),
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    first = report["offset"] + 1
    last = report["offset"] + report["limit"] if report["limit"] else "end"
    lines = [
        f"language identification: {report['dir']}/{report['set']}, lines {first}..{last} per "
        f"language, {report['samples']} samples, settings {report['settings']}"
        + (f", {report['join']} lines per sample" if report.get("join", 1) > 1 else "")
        + (", hint outlet:<label>" if report.get("outlet_hint") else ""),
        "",
        f"{'lang':<6}{'n':>6}{'ours':>8}{'langdetect':>12}{'ours und':>10}",
    ]
    for language, row in report["per_language"].items():
        lines.append(
            f"{language:<6}{row['n']:>6}{row['ours']:>8.3f}{row['bare']:>12.3f}"
            f"{row['ours_und']:>10.3f}"
        )
    macro = report["macro"]
    lines.append(f"{'macro':<6}{'':>6}{macro['ours']:>8.4f}{macro['bare']:>12.4f}")
    ours, bare = report["id_ms_confusion"]["ours"], report["id_ms_confusion"]["bare"]
    lines += [
        "",
        f"Malay taken for Indonesian: ours {ours['ms_as_id']}, langdetect {bare['ms_as_id']}; "
        f"Indonesian taken for Malay: ours {ours['id_as_ms']}, langdetect {bare['id_as_ms']}",
        f"und rate: ours {report['und_rate']['ours']:.4f}, langdetect "
        f"{report['und_rate']['bare']:.4f}",
        f"ms per sample: ours {report['ms_per_sample']['ours']:.3f}, langdetect "
        f"{report['ms_per_sample']['bare']:.3f}",
        "decided by: " + ", ".join(f"{k} {v}" for k, v in report["sources"].items()),
    ]
    if report["missing"]:
        lines.append("no file for: " + ", ".join(report["missing"]))
    return "\n".join(lines)


def run(
    root: Path,
    sample_set: str,
    languages: Optional[Sequence[str]],
    limit: Optional[int],
    offset: int,
    settings: LanguageSettings,
    join: int = 1,
    outlet_hint: bool = False,
) -> dict[str, Any]:
    """Evaluate every requested language found under ``root/sample_set``; return the report."""
    set_dir = root / sample_set
    present = available_languages(set_dir)
    wanted = list(present if languages is None else languages)
    found = [lang for lang in wanted if lang in present]
    missing = [lang for lang in wanted if lang not in present]
    load_models()
    outcomes = [
        evaluate_sample(sample, settings, outlet_hint)
        for language in found
        for sample in read_samples(set_dir / f"{language}.txt", language, offset, limit, join)
    ]
    report = summarize(outcomes, found)
    report.update(
        dir=str(root),
        set=sample_set,
        limit=limit,
        offset=offset,
        join=join,
        outlet_hint=outlet_hint,
        languages=found,
        missing=missing,
        settings={
            "seed": settings.seed,
            "max_chars": settings.max_chars,
            "min_confidence": settings.min_confidence,
        },
    )
    return report


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="newsbeam eval language",
        description="Accuracy of the pipeline's language detection vs bare seeded langdetect.",
    )
    parser.add_argument("dir", type=Path, help="directory with sentences/<lang>.txt (lingua)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--set", dest="sample_set", choices=SAMPLE_SETS, default="sentences")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help="lines per language (0: all)"
    )
    parser.add_argument("--offset", type=int, default=0, help="skip this many lines first")
    parser.add_argument(
        "--join", type=int, default=1, help="score this many consecutive lines as one sample"
    )
    parser.add_argument(
        "--outlet-hint",
        action="store_true",
        help="give each sample the hint outlet:<its label> (an outlet's expected language)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--languages", help="comma-separated codes (default: " + ",".join(DEFAULT_LANGUAGES) + ")"
    )
    group.add_argument("--all-languages", action="store_true", help="every file in the set")
    parser.add_argument("--config", help="pipeline YAML config (default: config/default.yaml)")
    args = parser.parse_args(list(argv))
    if args.limit < 0 or args.offset < 0:
        parser.error("--limit and --offset must be >= 0")
    if args.join < 1:
        parser.error("--join must be >= 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Evaluate and print a table (or JSON); 2 on bad input."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_config(args.config).language
    except ConfigError as exc:
        print(f"newsbeam eval language: {exc}", file=sys.stderr)
        return 2
    set_dir = args.dir / args.sample_set
    if not set_dir.is_dir():
        print(
            f"newsbeam eval language: no {args.sample_set}/ directory in {args.dir}",
            file=sys.stderr,
        )
        return 2
    if args.all_languages:
        languages = None
    elif args.languages:
        languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    else:
        languages = list(DEFAULT_LANGUAGES)
    report = run(
        args.dir,
        args.sample_set,
        languages,
        args.limit or None,
        args.offset,
        settings,
        args.join,
        args.outlet_hint,
    )
    if not report["languages"]:
        print(
            f"newsbeam eval language: no requested language has a file in {set_dir}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report, ensure_ascii=False) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
