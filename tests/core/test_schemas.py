import datetime as dt
import typing

import pyarrow as pa
import pytest

from tests.dedup.test_dedup import article
from transforms.core.records import Article, DeadLetter, DedupSignature, FilteredItem, Story
from transforms.core.schemas import SCHEMAS, to_table

# How each Python field type must appear in Parquet.
COMPATIBLE = {
    str: lambda t: pa.types.is_string(t) or pa.types.is_timestamp(t),
    int: pa.types.is_integer,
    float: pa.types.is_floating,
    bool: pa.types.is_boolean,
    bytes: pa.types.is_binary,
}


def _unwrap(hint):
    """Return (base type, optional?) of a record field hint."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return hint, False


@pytest.mark.parametrize("record", [Article, DeadLetter, FilteredItem, Story, DedupSignature])
def test_schema_fields_match_record_fields_in_order_type_and_nullability(record):
    schema = SCHEMAS[record]
    hints = typing.get_type_hints(record)
    assert list(schema.names) == list(record._fields)
    for field in schema:
        base, optional = _unwrap(hints[field.name])
        assert field.nullable == optional, field.name
        if typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            assert pa.types.is_list(field.type), (field.name, field.type)
            assert COMPATIBLE[item](field.type.value_type), (field.name, field.type)
        else:
            assert COMPATIBLE[base](field.type), (field.name, field.type)


def test_timestamps_are_utc_and_lists_survive():
    art = article("a")._replace(authors=["A", "B"], published_at="2024-03-04T07:30:00Z")
    table = to_table([art], SCHEMAS[Article])
    row = table.to_pylist()[0]
    assert row["published_at"] == dt.datetime(2024, 3, 4, 7, 30, tzinfo=dt.UTC)
    assert row["authors"] == ["A", "B"]
    assert table.schema.field("published_at").type == pa.timestamp("us", tz="UTC")


def test_a_null_in_a_required_field_is_refused():
    bad = article("a")._replace(text=None)
    with pytest.raises(ValueError, match="required field 'text'"):
        to_table([bad], SCHEMAS[Article])


def test_fields_added_after_version_1_have_defaults_for_older_constructors():
    art = article("a")  # built without the version-2 and version-3 fields
    assert art.schema_version == 3
    assert (art.title_source, art.published_local, art.dup_score) == (None, None, None)
    assert art.story_id == ""
    row = to_table([art], SCHEMAS[Article]).to_pylist()[0]
    assert row["title_source"] is None and row["published_local"] is None


def test_stored_rows_read_back_into_equal_records():
    from transforms.core.schemas import from_row
    from transforms.dedup.articles import signature_of

    art = article("a")._replace(authors=["A"], published_at="2024-03-04T07:30:00Z")
    sig = signature_of(art)._replace(minhash=b"\x01\x02", story_id="st1")
    for record in (art, sig):
        (row,) = to_table([record], SCHEMAS[type(record)]).to_pylist()
        assert from_row(row, type(record)) == record
