"""UTC timestamp helpers: one textual form (ISO-8601 with ``Z``) inside the pipeline."""

import calendar
import datetime as dt
import time
from typing import Optional

UTC = dt.UTC


def utc_now_iso() -> str:
    """Return the current time as ISO-8601 UTC with second precision."""
    return to_iso(dt.datetime.now(UTC))


def to_iso(value: dt.datetime) -> str:
    """Format an aware or naive (taken as UTC) datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def struct_time_to_iso(value: Optional[time.struct_time]) -> Optional[str]:
    """Convert feedparser's UTC ``struct_time`` to ISO-8601, or None when absent or absurd."""
    if value is None:
        return None
    try:
        stamp = calendar.timegm(value)
        return to_iso(dt.datetime.fromtimestamp(stamp, UTC))
    except (OverflowError, ValueError, OSError):
        return None


def parse_iso(value: Optional[str]) -> Optional[dt.datetime]:
    """Parse an ISO-8601 timestamp or date into an aware UTC datetime; None when unparseable."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_iso(value: Optional[str]) -> Optional[str]:
    """Return ``value`` re-formatted as canonical ISO-8601 UTC, or None when unparseable."""
    parsed = parse_iso(value)
    return to_iso(parsed) if parsed else None
