"""Read what earlier runs stored: Parquet record tables and small JSON files, on any filesystem."""

import json
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.pvalue import PBegin, PCollection

from transforms.core.schemas import from_row


class ReadParquetRecords(beam.PTransform):
    """The records stored in the given Parquet files (an empty PCollection when there are none)."""

    def __init__(self, paths: Iterable[str], record_type: Any) -> None:
        super().__init__()
        self._paths = list(paths)
        self._record_type = record_type

    def expand(self, pbegin: PBegin) -> PCollection:
        record_type = self._record_type
        return (
            pbegin
            | "Files" >> beam.Create(self._paths)
            | "ReadRows" >> ReadAllFromParquet()
            | "ToRecords" >> beam.Map(from_row, record_type).with_output_types(record_type)
        )


def write_json(path: str, payload: Mapping[str, Any]) -> None:
    """Write a JSON document through Beam's FileSystems (atomic rename)."""
    temp = path + ".tmp"
    with FileSystems.create(temp) as handle:
        handle.write(json.dumps(payload, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])


def read_json(path: str) -> dict[str, Any]:
    """Read a JSON document through Beam's FileSystems."""
    with FileSystems.open(path) as handle:
        return dict(json.loads(handle.read().decode("utf-8")))
