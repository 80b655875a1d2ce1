"""Title and date accuracy on a tune half and a report half of wcxb-dev, plus newspaper4k.

The split is fixed: wcxb pages in sorted id order, even positions (0, 2, 4 ...) are the tune
half (the metadata rules were tuned on it), odd positions the report half (only measured).
newspaper4k is reported whole. Each set is scored for newsbeam (``extract_article``, the code the
pipeline runs) and bare ``trafilatura.extract_metadata``, with the metrics of
``evaluation.extraction`` (title exact match, publication day). With ``--before REV`` the same
run also scores newsbeam as of git revision REV (exported with ``git archive`` into a temporary
directory and run there in a subprocess), so before, after and bare come from one run.

    python benchmarks/metadata_split.py [--wcxb DIR] [--newspaper4k DIR] [--before REV] [--json]
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
# The code under test: this checkout, or (in the --before subprocess) an exported revision.
sys.path.insert(0, os.environ.get("METADATA_SPLIT_CODE", str(ROOT)))

import trafilatura  # noqa: E402

from evaluation.extraction import (  # noqa: E402
    Sample,
    date_match,
    detect_layout,
    fetched_page,
    gold_day,
    load_samples,
    title_match,
)
from transforms.core.records import Article  # noqa: E402
from transforms.core.settings import ExtractSettings  # noqa: E402
from transforms.extract.article import extract_article  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "extraction"
# Fixed, so that runs are comparable (dates after it are refused as future dates).
FETCHED_AT = "2026-12-01T00:00:00Z"


class Guess(NamedTuple):
    """One system's title and date for one page, with newsbeam's sources."""

    title: Optional[str]
    date: Optional[str]
    date_source: Optional[str]


def split_samples(root: Path) -> Iterator[tuple[str, Sample]]:
    """(part, sample): wcxb by position in sorted id order (even: tune, odd: report)."""
    layout = detect_layout(root)
    for position, sample in enumerate(load_samples(root, layout)):
        if layout == "wcxb":
            yield ("tune" if position % 2 == 0 else "report"), sample
        else:
            yield root.name, sample


def ours(sample: Sample, settings: ExtractSettings) -> Guess:
    """newsbeam's title and stated (local) date; a filtered page has neither."""
    result = extract_article(fetched_page(sample, FETCHED_AT), settings)
    if not isinstance(result, Article):
        return Guess(None, None, None)
    return Guess(result.title, result.published_local or result.published_at, result.date_source)


def bare(sample: Sample) -> Guess:
    """Bare trafilatura's ``extract_metadata`` title and date."""
    meta = trafilatura.extract_metadata(sample.html, default_url=sample.url)
    return Guess(meta.title, meta.date, None) if meta else Guess(None, None, None)


def predict(roots: Sequence[Path], with_bare: bool) -> dict[str, dict[str, list[Guess]]]:
    """Guesses per system and part, in sample order (``ours`` always, ``bare`` if asked)."""
    settings = ExtractSettings()
    out: dict[str, dict[str, list[Guess]]] = {"ours": {}, "bare": {}}
    for root in roots:
        for part, sample in split_samples(root):
            out["ours"].setdefault(part, []).append(ours(sample, settings))
            if with_bare:
                out["bare"].setdefault(part, []).append(bare(sample))
    return out


def gold(roots: Sequence[Path]) -> dict[str, list[tuple[str, Optional[str], Optional[str]]]]:
    """(id, gold title, gold date) per part, in sample order."""
    out: dict[str, list[tuple[str, Optional[str], Optional[str]]]] = {}
    for root in roots:
        for part, sample in split_samples(root):
            out.setdefault(part, []).append((sample.sample_id, sample.title, sample.date))
    return out


def predict_at(revision: str, roots: Sequence[Path]) -> dict[str, list[Guess]]:
    """newsbeam's guesses as of a git revision (exported, run in a subprocess)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "METADATA_SPLIT_CODE": tmp, "PYTHONPATH": tmp}
        args = [sys.executable, __file__, "--predictions-only"]
        args += [arg for root in roots for arg in ("--root", str(root))]
        run = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return {part: [Guess(*g) for g in rows] for part, rows in json.loads(run.stdout).items()}


class Rates(NamedTuple):
    """Title exact and date-day accuracy of one system on one part."""

    title: float
    title_n: int
    date: float
    date_n: int


def score(
    truth: Sequence[tuple[str, Optional[str], Optional[str]]], guesses: Sequence[Guess]
) -> Rates:
    """Title exact match and day accuracy over the pages with that gold field."""
    titles = [title_match(g.title, t) for (_, t, _), g in zip(truth, guesses, strict=True) if t]
    dates = [
        date_match(g.date, d) for (_, _, d), g in zip(truth, guesses, strict=True) if gold_day(d)
    ]
    return Rates(
        sum(titles) / len(titles) if titles else 0.0,
        len(titles),
        sum(dates) / len(dates) if dates else 0.0,
        len(dates),
    )


def source_table(
    truth: Sequence[tuple[str, Optional[str], Optional[str]]], guesses: Sequence[Guess]
) -> list[tuple[str, int, float]]:
    """Per ``date_source``: pages with a gold date it dated, and accuracy there."""
    seen: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for (_, _, day), guess in zip(truth, guesses, strict=True):
        if gold_day(day):
            name = guess.date_source or "none"
            seen[name] += 1
            right[name] += date_match(guess.date, day)
    return [(name, n, right[name] / n) for name, n in seen.most_common()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Score the parts and print one Markdown table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wcxb", type=Path, default=CORPUS / "wcxb-dev")
    parser.add_argument("--newspaper4k", type=Path, default=CORPUS / "newspaper4k")
    parser.add_argument("--before", help="git revision to score as 'before' in the same run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--root", type=Path, action="append", help=argparse.SUPPRESS)
    parser.add_argument("--predictions-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    roots = args.root or [r for r in (args.wcxb, args.newspaper4k) if r.is_dir()]
    if args.predictions_only:
        print(
            json.dumps(
                {p: [list(g) for g in rows] for p, rows in predict(roots, False)["ours"].items()}
            )
        )
        return 0
    if not roots:
        print("metadata_split: no evaluation directory found", file=sys.stderr)
        return 2
    truth = gold(roots)
    guesses = predict(roots, True)
    systems = {"newsbeam": guesses["ours"], "trafilatura": guesses["bare"]}
    if args.before:
        systems = {f"newsbeam @ {args.before}": predict_at(args.before, roots), **systems}
    rates = {
        name: {part: score(truth[part], rows[part]) for part in truth}
        for name, rows in systems.items()
    }
    sources = {part: source_table(truth[part], guesses["ours"][part]) for part in truth}
    if args.json:
        payload = {
            "rates": {n: {p: r._asdict() for p, r in parts.items()} for n, parts in rates.items()},
            "date_sources": sources,
        }
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    parts = list(truth)
    print("| system | " + " | ".join(f"{p}: title exact | {p}: date (day)" for p in parts) + " |")
    print("|---|" + "---|---|" * len(parts))
    for name, by_part in rates.items():
        cells = [
            f"{r.title:.3f} (n={r.title_n}) | {r.date:.3f} (n={r.date_n})"
            for r in (by_part[p] for p in parts)
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for part in parts:
        print(f"\n{part}: date_source of newsbeam's date on pages with a gold date")
        print("| date_source | pages | accuracy |\n|---|---|---|")
        for name, n, accuracy in sources[part]:
            print(f"| {name} | {n} | {accuracy:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
