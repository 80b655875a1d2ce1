"""Flex Template entry point: template parameters (``--name=value``) -> ``newsbeam ingest``.

The Flex Template launcher passes every parameter as ``--name=value``; ``newsbeam ingest`` has
on/off switches (``--incremental``), so ``--incremental=true`` becomes ``--incremental`` and
``=false`` drops it. The runner defaults to Dataflow here (the CLI's default is FnApiRunner).
"""

import sys
from collections.abc import Sequence
from typing import Optional

from pipelines import ingest

SWITCHES = ("incremental", "archive_warc")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


def translate(argv: Sequence[str]) -> list[str]:
    """Turn template parameters into ``newsbeam ingest`` arguments."""
    out: list[str] = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if name.lstrip("-") in SWITCHES and sep:
            if value.lower() in _TRUE:
                out.append(name)
            elif value.lower() not in _FALSE:
                raise ValueError(f"{name} takes true or false, not {value!r}")
            continue
        out.append(arg)
    if not any(a == "--runner" or a.startswith("--runner=") for a in out):
        out.append("--runner=DataflowRunner")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the batch job with translated template parameters."""
    return ingest.main(translate(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
