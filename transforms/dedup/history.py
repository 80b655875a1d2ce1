"""Earlier runs in this run's dedup: stored signatures in, this run's signatures out.

Signatures live in ``<output>/signatures/date=YYYY-MM-DD/part-<run_id>-....parquet``, partitioned
like the articles (publication day, else fetch day). A run reads the partitions of the last
``history_days`` days before its ``as_of`` day (and the day after, for time zones). Files written
by a run with the same run id are left out: re-running a run id replaces its output instead of
deduplicating against itself.
"""

import datetime as dt
import re
from collections.abc import Iterable
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from transforms.core.records import DedupSignature
from transforms.core.tables import ReadParquetRecords

_PARTITION_RE = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def history_files(
    signatures_dir: str, as_of: dt.date, days: int, exclude_run_id: Optional[str] = None
) -> list[str]:
    """Signature files of the partitions within ``days`` days before ``as_of`` (sorted)."""
    if days <= 0:
        return []
    pattern = FileSystems.join(signatures_dir, "date=*", "*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:
        return []
    earliest, latest = as_of - dt.timedelta(days=days), as_of + dt.timedelta(days=1)
    paths = []
    for meta in matched:
        found = _PARTITION_RE.search(meta.path)
        if not found:
            continue
        day = dt.date.fromisoformat(found.group(1))
        own = exclude_run_id is not None and f"/part-{exclude_run_id}-" in meta.path
        if earliest <= day <= latest and not own:
            paths.append(meta.path)
    return sorted(paths)


class ReadHistory(ReadParquetRecords):
    """The stored signatures of the given files (an empty PCollection when there are none)."""

    def __init__(self, paths: Iterable[str]) -> None:
        super().__init__(paths, DedupSignature)
