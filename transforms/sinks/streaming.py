"""Streaming sinks: one Parquet file per (table, window, pane), and a count summary per window.

``WriteToParquet`` wrote files without a footer in streaming here (STYLE.md), and
``fileio.WriteToFiles`` names files by window only (Beam 2.77 leaves the pane out of the name and
documents "no multiple firings per window"), so a late pane would overwrite the on-time file. So
records are grouped per window (one key per table), and each pane is written through
``ParquetTableSink`` — a ``fileio.FileSink`` that buffers the rows and writes one pyarrow table —
to a temporary name that is then renamed: readers never see half a file.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, NamedTuple, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import PCollection
from apache_beam.transforms import combiners, trigger
from apache_beam.transforms.window import FixedWindows, IntervalWindow

from transforms.core.schemas import to_table
from transforms.core.tables import write_json
from transforms.sinks.parquet import encode_table
from transforms.sinks.summary import FEED_STAGE, count_key


class WindowFile(NamedTuple):
    """One Parquet file written for one pane of one window."""

    path: str
    rows: int
    window_start: str
    pane: int


class ParquetTableSink(fileio.FileSink):
    """A FileSink that writes all records it is given as one pyarrow table (one row group set)."""

    def __init__(self, schema: pa.Schema, compression: str = "zstd") -> None:
        self._schema = schema
        self._compression = compression
        self._handle: Optional[BinaryIO] = None
        self._rows: list[Any] = []

    def open(self, fh: BinaryIO) -> None:
        self._handle = fh
        self._rows = []

    def write(self, record: Any) -> None:
        self._rows.append(record)

    def flush(self) -> None:
        assert self._handle is not None
        # The whole file at once: a Parquet footer is written only when the writer closes.
        encode_table(to_table(self._rows, self._schema), self._handle, self._compression)
        self._rows = []


def window_stamp(window: IntervalWindow) -> str:
    """A window's start as a sortable, path-safe UTC stamp (``20250601T120000Z``)."""
    start = window.start.to_utc_datetime().replace(tzinfo=dt.UTC)
    return start.strftime("%Y%m%dT%H%M%SZ")


def window_file_path(base: str, window: IntervalWindow, pane: int) -> str:
    """Where one pane of one window is written (``window=<start>/part-<start>-p<pane>``)."""
    stamp = window_stamp(window)
    return FileSystems.join(base, f"window={stamp}", f"part-{stamp}-p{pane:03d}.parquet")


def stream_windows(window_s: float, allowed_lateness_s: float) -> beam.WindowInto:
    """Fixed windows that fire at the watermark and once more per late element within lateness."""
    return beam.WindowInto(
        FixedWindows(window_s),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.DISCARDING,
        allowed_lateness=allowed_lateness_s,
    )


class _WritePaneFn(beam.DoFn):
    """Write one window's pane of one table through ParquetTableSink, atomically."""

    def __init__(self, base: str, schema: pa.Schema, compression: str, sort_key: Any) -> None:
        self._base = base
        self._schema = schema
        self._compression = compression
        self._sort_key = sort_key

    def process(
        self,
        group: tuple[str, Iterable[Any]],
        window: Any = beam.DoFn.WindowParam,
        pane: Any = beam.DoFn.PaneInfoParam,
    ) -> Iterable[WindowFile]:
        _table, records = group
        rows = sorted(records, key=self._sort_key)
        path = window_file_path(self._base, window, pane.index)
        sink = ParquetTableSink(self._schema, self._compression)
        temp = path + ".tmp"
        with FileSystems.create(temp) as handle:
            sink.open(handle)
            for row in rows:
                sink.write(row)
            sink.flush()
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([temp], [path])
        yield WindowFile(path, len(rows), window_stamp(window), pane.index)


class WriteWindowedParquet(beam.PTransform):
    """Windowed records -> one Parquet file per window pane under ``base``; emits WindowFile."""

    def __init__(self, base: str, schema: pa.Schema, sort_key: Any, compression: str) -> None:
        super().__init__()
        self._base = base
        self._schema = schema
        self._sort_key = sort_key
        self._compression = compression

    def expand(self, records: PCollection) -> PCollection:
        base = self._base
        return (
            records
            | "KeyByTable" >> beam.Map(lambda r: (base, r))
            | "GroupByWindow" >> beam.GroupByKey()
            | "WritePane"
            >> beam.ParDo(_WritePaneFn(base, self._schema, self._compression, self._sort_key))
        )


def window_balance(counts: Mapping[str, int]) -> dict[str, Any]:
    """Per-window accounting: every entry is written, filtered after reading, or dead-lettered."""
    entries = counts.get("entry", 0)
    written = sum(v for k, v in counts.items() if k.startswith(("article:", "duplicate:")))
    after_feeds = [
        (k, v)
        for k, v in counts.items()
        if k.startswith(("filtered:", "dead:")) and k.split(":")[1] != FEED_STAGE
    ]
    filtered = sum(v for k, v in after_feeds if k.startswith("filtered:"))
    dead = sum(v for k, v in after_feeds if k.startswith("dead:"))
    return {
        "entries": entries,
        "written": written,
        "filtered": filtered,
        "dead_letters": dead,
        "balanced": entries == written + filtered + dead,
    }


class _WriteSummaryFn(beam.DoFn):
    """Write ``<output>/windows/<start>-p<pane>.json``: the window's counts and balance."""

    def __init__(self, output: str) -> None:
        self._output = output

    def process(
        self,
        counts: dict[str, int],
        window: Any = beam.DoFn.WindowParam,
        pane: Any = beam.DoFn.PaneInfoParam,
    ) -> Iterable[dict[str, Any]]:
        stamp = window_stamp(window)
        summary = {
            "window_start": window.start.to_utc_datetime().isoformat() + "Z",
            "window_end": window.end.to_utc_datetime().isoformat() + "Z",
            "pane": pane.index,
            "counts": dict(sorted(counts.items())),
            "balance": window_balance(counts),
        }
        write_json(
            FileSystems.join(self._output, "windows", f"{stamp}-p{pane.index:03d}.json"), summary
        )
        yield summary


class SummarizeWindows(beam.PTransform):
    """Windowed items of every kind -> one count summary per window pane (written as JSON)."""

    def __init__(self, output: str) -> None:
        super().__init__()
        self._output = output

    def expand(self, items: PCollection) -> PCollection:
        return (
            items
            | "KeyOutcome" >> beam.Map(count_key)
            | "CountPerKey" >> combiners.Count.PerElement()
            | "CountsOfWindow"
            >> beam.CombineGlobally(combiners.ToDictCombineFn()).without_defaults()
            | "WriteSummary" >> beam.ParDo(_WriteSummaryFn(self._output))
        )
