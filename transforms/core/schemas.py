"""Explicit pyarrow schemas of the output tables, and record -> row conversion.

The schemas are written by hand (not inferred) so that a change to a record type is a deliberate
change to the output contract; ``tests/core/test_schemas.py`` checks that records and schemas agree.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyarrow as pa

from transforms.core.records import (
    Article,
    DeadLetter,
    DedupSignature,
    FeedState,
    FilteredItem,
    LedgerEntry,
    Story,
)
from transforms.core.timeutil import parse_iso, to_iso

TIMESTAMP = pa.timestamp("us", tz="UTC")

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("source_url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("feed_url", pa.string(), nullable=False),
        pa.field("guid", pa.string()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("authors", pa.list_(pa.string()), nullable=False),
        pa.field("published_at", TIMESTAMP),
        pa.field("date_source", pa.string()),
        pa.field("language", pa.string(), nullable=False),
        pa.field("language_confidence", pa.float64(), nullable=False),
        pa.field("language_source", pa.string(), nullable=False),
        pa.field("language_hints", pa.list_(pa.string()), nullable=False),
        pa.field("categories", pa.list_(pa.string()), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("image_url", pa.string()),
        pa.field("sitename", pa.string()),
        pa.field("word_count", pa.int64(), nullable=False),
        pa.field("fetched_at", TIMESTAMP, nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("quality_flags", pa.list_(pa.string()), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("dup_method", pa.string()),
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("title_source", pa.string()),
        pa.field("published_local", pa.string()),
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("dup_score", pa.float64()),
    ]
)

STORY_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("first_seen", TIMESTAMP, nullable=False),
        pa.field("last_seen", TIMESTAMP, nullable=False),
        pa.field("article_count", pa.int64(), nullable=False),
        pa.field("outlet_count", pa.int64(), nullable=False),
        pa.field("outlets", pa.list_(pa.string()), nullable=False),
        pa.field("languages", pa.list_(pa.string()), nullable=False),
        pa.field("representative_title", pa.string()),
        pa.field("representative_id", pa.string(), nullable=False),
        pa.field("member_ids", pa.list_(pa.string()), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

SIGNATURE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("published_at", TIMESTAMP),
        pa.field("fetched_at", TIMESTAMP, nullable=False),
        pa.field("url_key", pa.string(), nullable=False),
        pa.field("canonical_key", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("dup_method", pa.string()),
        pa.field("story_terms", pa.list_(pa.string()), nullable=False),
        pa.field("story_weights", pa.list_(pa.float64()), nullable=False),
        pa.field("minhash", pa.binary()),
    ]
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("error_message", pa.string(), nullable=False),
        pa.field("failed_at", TIMESTAMP, nullable=False),
    ]
)

FILTERED_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("filtered_at", TIMESTAMP, nullable=False),
    ]
)

FEED_STATE_SCHEMA = pa.schema(
    [
        pa.field("feed_url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("body_sha256", pa.string(), nullable=False),
        pa.field("items_sha256", pa.string(), nullable=False),
        pa.field("entry_count", pa.int64(), nullable=False),
        pa.field("status", pa.int32(), nullable=False),
        pa.field("changed", pa.bool_(), nullable=False),
        pa.field("checked_at", TIMESTAMP, nullable=False),
        pa.field("changed_at", TIMESTAMP, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("link_key", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("outlet_id", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("fetched_at", TIMESTAMP, nullable=False),
        pa.field("first_seen_run", pa.string(), nullable=False),
    ]
)

SCHEMAS: Mapping[type, pa.Schema] = {
    Article: ARTICLE_SCHEMA,
    DeadLetter: DEAD_LETTER_SCHEMA,
    FilteredItem: FILTERED_SCHEMA,
    Story: STORY_SCHEMA,
    DedupSignature: SIGNATURE_SCHEMA,
    FeedState: FEED_STATE_SCHEMA,
    LedgerEntry: LEDGER_SCHEMA,
}


def to_row(record: NamedTuple, schema: pa.Schema) -> dict[str, Any]:
    """Convert a record to a dict matching ``schema`` (ISO strings become datetimes)."""
    values = record._asdict()
    row: dict[str, Any] = {}
    for field in schema:
        value = values[field.name]
        if pa.types.is_timestamp(field.type):
            value = parse_iso(value) if isinstance(value, str) else value
        elif pa.types.is_list(field.type):
            value = list(value or [])
        row[field.name] = value
    return row


def from_row(row: Mapping[str, Any], record_type: Any) -> Any:
    """A stored row back into its record (Parquet timestamps become the pipeline's ISO strings)."""
    schema = SCHEMAS[record_type]
    values: dict[str, Any] = {}
    for name in record_type._fields:
        value = row.get(name)
        if isinstance(value, dt.datetime) and pa.types.is_timestamp(schema.field(name).type):
            value = to_iso(value)
        values[name] = value
    return record_type(**values)


def to_table(records: list[Any], schema: pa.Schema) -> pa.Table:
    """Build a pyarrow table from records; refuse nulls in non-nullable fields."""
    table = pa.Table.from_pylist([to_row(r, schema) for r in records], schema=schema)
    for field in schema:
        # pyarrow does not enforce nullable=False when building from Python objects.
        if not field.nullable and table.column(field.name).null_count:
            raise ValueError(f"null value in required field {field.name!r}")
    return table
