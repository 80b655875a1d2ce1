"""Cross-language same-story sets from line-aligned translations (``valid.en`` + ``valid.id``).

Lines ``k*chunk .. (k+1)*chunk - 1`` of each file form pseudo-article ``k`` in that language; the
two language versions of one chunk are one event, every chunk another. Gold is therefore "each
article with its translation and nothing else", which is right only when neighbouring lines do
not come from the same source article (then neighbouring chunks would be the same story). That is
checked, not assumed: ``neighbour_overlap`` measures how often adjacent lines share a rare
capitalized word compared with random line pairs, and ``load_parallel`` refuses a directory whose
adjacent lines are related (see docs/dedup-story.md for the numbers on the shared corpus).
"""

import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Optional

from evaluation.labelled import LabelledArticle, load_labelled

DEFAULT_CHUNK = 10
# A capitalized word inside a sentence (a name or place) seen in at most this many lines is rare.
_RARE_LINES = 5
_CAPITALIZED = re.compile(r"(?<=[\w,;:)] )[A-Z][a-z]{2,}")


class ParallelFiles(NamedTuple):
    """Two line-aligned files of one split: ``<split>.<lang>`` for two languages."""

    split: str
    paths: tuple[tuple[str, Path], tuple[str, Path]]  # (language, path), sorted by language


def find_parallel(directory: Path) -> Optional[ParallelFiles]:
    """The first split of ``directory`` with exactly two line-aligned language files, if any."""
    by_split: dict[str, list[tuple[str, Path]]] = {}
    for path in sorted(directory.iterdir()):
        split, dot, language = path.name.rpartition(".")
        if path.is_file() and dot and split and 2 <= len(language) <= 3 and language.isalpha():
            by_split.setdefault(split, []).append((language, path))
    for split, files in sorted(by_split.items()):
        if len(files) == 2:
            first, second = sorted(files)
            return ParallelFiles(split, (first, second))
    return None


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def neighbour_overlap(
    lines: Sequence[str], samples: int = 5000, seed: int = 0
) -> tuple[float, float]:
    """Shares of adjacent and of random line pairs that have a rare capitalized word in common."""
    words = [set(_CAPITALIZED.findall(line)) for line in lines]
    df = Counter(w for ws in words for w in ws)
    rare = [{w for w in ws if df[w] <= _RARE_LINES} for ws in words]
    n = len(lines)
    if n < 2:
        return 0.0, 0.0
    adjacent = sum(1 for i in range(n - 1) if rare[i] & rare[i + 1]) / (n - 1)
    rng = random.Random(seed)
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(samples)]
    background = sum(1 for i, j in pairs if i != j and rare[i] & rare[j]) / samples
    return adjacent, background


def load_parallel(
    directory: Path, chunk: int = DEFAULT_CHUNK, titles: bool = False
) -> list[LabelledArticle]:
    """Pseudo-articles of ``chunk`` consecutive lines, one per language; event = chunk number.

    ``titles``: use the chunk's first line as the title (default: no title, all lines body text).
    Raises ValueError when the files are not aligned or adjacent lines look related.
    """
    found = find_parallel(directory)
    if found is None:
        raise ValueError(f"{directory}: no pair of line-aligned files <split>.<lang>")
    (lang_a, path_a), (lang_b, path_b) = found.paths
    lines_a, lines_b = _lines(path_a), _lines(path_b)
    if len(lines_a) != len(lines_b):
        raise ValueError(f"{path_a} and {path_b} differ in line count")
    for lines in (lines_a, lines_b):
        adjacent, background = neighbour_overlap(lines)
        # Related neighbours would make neighbouring chunks one story and this gold wrong.
        if adjacent > max(0.02, 5 * background):
            raise ValueError(
                f"{directory}: adjacent lines share rare names {adjacent:.3f} of the time "
                f"(random pairs {background:.3f}): chunks would not be separate stories"
            )
    articles = []
    for number, start in enumerate(range(0, len(lines_a) - chunk + 1, chunk)):
        event = f"{found.split}-{number:04d}"
        for language, lines in ((lang_a, lines_a), (lang_b, lines_b)):
            part = [line.strip() for line in lines[start : start + chunk] if line.strip()]
            title, body = (part[0], part[1:]) if titles and part else ("", part)
            articles.append(
                LabelledArticle(
                    article_id=f"{event}-{language}",
                    event_id=event,
                    title=title,
                    description="",
                    text="\n".join(body),
                    language=language,
                    published_at=None,
                )
            )
    return articles


def load_set(directory: Path, chunk: int = DEFAULT_CHUNK) -> list[LabelledArticle]:
    """A labelled set in either layout: giveme5w1h (``index.csv`` + ``data/``) or parallel files."""
    if (directory / "index.csv").exists():
        return load_labelled(str(directory))
    if find_parallel(directory) is not None:
        return load_parallel(directory, chunk)
    raise ValueError(
        f"{directory}: neither a giveme5w1h-style directory (index.csv) nor line-aligned "
        "translations (<split>.<lang> twice)"
    )
