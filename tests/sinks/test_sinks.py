import apache_beam as beam
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from tests.dedup.test_dedup import article
from transforms.core.schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA
from transforms.sinks.parquet import WriteParquetTable, article_partition, shard_of


def _write(tmp_path, records, **kw):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        p | beam.Create(records) | WriteParquetTable(str(tmp_path), run_id="r1", **kw)


def _write_articles(tmp_path, arts, **kw):
    _write(
        tmp_path,
        arts,
        schema=ARTICLE_SCHEMA,
        sort_key=lambda a: a.article_id,
        shard_key=lambda a: a.article_id,
        **kw,
    )


def test_partitioned_sharded_sorted_files(tmp_path):
    arts = [article(f"id{n:02d}", published=f"2024-01-0{1 + n % 2}T00:00:00Z") for n in range(20)]
    arts.append(article("undated", published=None))
    _write_articles(tmp_path, arts, partition=article_partition, shards=3)
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert dirs == ["date=2024-01-01", "date=2024-01-02"]  # undated goes by fetch date (01-02)
    files = sorted(tmp_path.rglob("*.parquet"))
    assert all(
        f.name.startswith("part-r1-") and f.name.endswith("-of-00003.parquet") for f in files
    )
    assert not list(tmp_path.rglob("*.tmp"))
    table = ds.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 21
    for f in files:
        ids = pq.read_table(f).column("article_id").to_pylist()
        assert ids == sorted(ids)


def test_same_input_writes_identical_files(tmp_path):
    arts = [article(f"id{n}") for n in range(10)]
    kw = dict(
        schema=ARTICLE_SCHEMA,
        sort_key=lambda a: a.article_id,
        shard_key=lambda a: a.article_id,
        partition=article_partition,
    )
    _write(tmp_path / "a", arts, **kw)
    _write(tmp_path / "b", list(reversed(arts)), **kw)
    (fa,) = (tmp_path / "a").rglob("*.parquet")
    (fb,) = (tmp_path / "b").rglob("*.parquet")
    assert fa.read_bytes() == fb.read_bytes()


def test_unpartitioned_empty_table_still_gets_a_readable_file(tmp_path):
    _write(
        tmp_path, [], schema=DEAD_LETTER_SCHEMA, sort_key=lambda d: d.url, shard_key=lambda d: d.url
    )
    (only,) = tmp_path.glob("*.parquet")
    assert only.name == "part-r1-empty.parquet"
    table = pq.read_table(only)
    assert table.num_rows == 0 and table.schema.equals(DEAD_LETTER_SCHEMA)


def test_shards_are_stable():
    assert shard_of("abc", 7) == shard_of("abc", 7)
    assert {shard_of(str(n), 4) for n in range(100)} == {0, 1, 2, 3}


def test_columns_are_plain_encoded_and_compressed(tmp_path):
    # No dictionary pages (zstd alone gives files as small; see sinks.parquet.encode_table), and
    # DuckDB reads the file back with the same values.
    import duckdb

    arts = [article(f"id{n:02d}") for n in range(30)]
    _write_articles(tmp_path, arts)
    (path,) = tmp_path.glob("part-r1-*-of-*.parquet")
    meta = pq.ParquetFile(path).metadata
    chunks = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
    assert all(not any("DICTIONARY" in e for e in c.encodings) for c in chunks)
    assert {c.compression for c in chunks} == {"ZSTD"}
    ids = duckdb.sql(f"SELECT article_id FROM '{path}' ORDER BY 1").fetchall()
    assert [i for (i,) in ids] == sorted(a.article_id for a in arts)
