"""Stage 6, sinks: tables to Parquet (batch and per window) and the run summary.

``parquet`` (sorted, sharded, Hive-partitioned files), ``streaming`` (a file per window pane),
``summary`` (run.json and its balance).
"""

from transforms.sinks.parquet import CountKeys, WriteParquetTable
from transforms.sinks.streaming import SummarizeWindows, WriteWindowedParquet
from transforms.sinks.summary import build_summary

__all__ = [
    "CountKeys",
    "SummarizeWindows",
    "WriteParquetTable",
    "WriteWindowedParquet",
    "build_summary",
]
