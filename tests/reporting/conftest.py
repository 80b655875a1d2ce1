"""Fixtures of the report tests: a synthetic 100,000-article output and its built report."""

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from reporting.aggregate import ReportData
from tests.reporting.synthetic import write_output

LARGE_N = 100_000


@dataclass(frozen=True)
class LargeReport:
    """The synthetic output, its articles (with ``_run``), the report file and its data."""

    root: Path
    articles: pa.Table
    path: Path
    data: ReportData


@pytest.fixture(scope="session")
def large_report(tmp_path_factory: pytest.TempPathFactory) -> LargeReport:
    """100,000 articles over three runs, written with pyarrow, and the report built from them."""
    from reporting.html import build_report

    root = tmp_path_factory.mktemp("large")
    articles = write_output(root, LARGE_N)
    path, data = build_report(str(root))
    return LargeReport(root, articles, Path(path), data)
