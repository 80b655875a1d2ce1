"""``newsbeam eval <kind> DIR``: measure the pipeline's own code on a labelled directory.

Each kind lives in ``evaluation/<kind>.py`` with a ``main(argv) -> int``; every one prints a
table, or one JSON object with ``--json``.
"""

import importlib
import sys
from collections.abc import Sequence
from typing import Optional

KINDS = {
    "extraction": "HTML pages with gold text (scrapinghub-aeb, wcxb, newspaper4k layouts)",
    "language": "labelled sentences, lingua layout (sentences/<iso639-1>.txt)",
    "dedup": "same-story articles, giveme5w1h layout (index.csv + data/)",
}

USAGE = "usage: newsbeam eval <kind> DIR [--json] [options]\n\nkinds:\n" + "\n".join(
    f"  {kind:<11} {text}" for kind, text in KINDS.items()
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Dispatch to ``evaluation.<kind>.main``."""
    args: list[str] = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    kind = args[0]
    if kind not in KINDS:
        print(f"newsbeam eval: unknown kind {kind!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"evaluation.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name != f"evaluation.{kind}":
            raise
        print(f"newsbeam eval: {kind} evaluation is not available in this build", file=sys.stderr)
        return 2
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
