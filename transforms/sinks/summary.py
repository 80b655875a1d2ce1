"""The run summary (``run.json``): counts per stage and reason, and the balance check.

Every feed entry that enters must leave exactly once: written (possibly labelled duplicate),
filtered with a reason, or dead-lettered. Feeds that fail as a whole are counted separately: their
entries never existed for this run.
"""

from collections.abc import Mapping
from typing import Any

from transforms.core.records import (
    Article,
    DeadLetter,
    FeedEntry,
    FeedSource,
    FeedState,
    FilteredItem,
    LedgerEntry,
    Story,
)
from transforms.fetch.politeness import HostBackoff
from transforms.fetch.warc_input import FILES_STAGE as WARC_FILES_STAGE

FEED_STAGE = "read_feeds"
# Dead letters of these stages are sources failing as a whole (a feed, a WARC file): their items
# never entered the run.
SOURCE_STAGES = (FEED_STAGE, WARC_FILES_STAGE)
WARC_FILE_KEY = "warc:file"
BACKED_OFF_PREFIX = "host_backed_off:"
# run.json names at most this many backed-off hosts (the count is always complete).
MAX_LISTED_HOSTS = 1000


def count_key(item: Any) -> str:
    """Map one pipeline item to the counter it increments in ``run.json``."""
    if isinstance(item, Article):
        if item.dup_method == "same_story":
            # Coverage of a story another article started: an original, not a copy.
            return "article:same_story"
        return f"duplicate:{item.dup_method}" if item.dup_method else "article:unique"
    if isinstance(item, FilteredItem):
        return f"filtered:{item.stage}:{item.reason}"
    if isinstance(item, DeadLetter):
        return f"dead:{item.stage}:{item.error_type}"
    if isinstance(item, FeedEntry):
        return "entry"
    if isinstance(item, FeedSource):
        return "feed"
    if isinstance(item, Story):
        return "story:multi_outlet" if item.outlet_count > 1 else "story:single"
    if isinstance(item, HostBackoff):
        # Not an entry: its skipped entries are counted as host_backed_off dead letters.
        return BACKED_OFF_PREFIX + item.host
    if isinstance(item, FeedState):
        return "feedstate:changed" if item.changed else "feedstate:not_modified"
    if isinstance(item, LedgerEntry):
        return f"ledger:{item.outcome}"
    raise TypeError(f"no counter for {type(item).__name__}")


def _nested(counts: Mapping[str, int], prefix: str) -> dict[str, dict[str, int]]:
    """Group ``prefix:stage:reason`` counters as ``{stage: {reason: n}}``."""
    result: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        if key.startswith(prefix + ":"):
            _, stage, reason = key.split(":", 2)
            result.setdefault(stage, {})[reason] = value
    return result


def build_summary(
    counts: Mapping[str, int],
    run_id: str,
    output: str,
    *,
    incremental: bool = False,
    warc_input: bool = False,
) -> dict[str, Any]:
    """Turn raw counters into the ``run.json`` document."""
    filtered = _nested(counts, "filtered")
    dead = _nested(counts, "dead")
    duplicates = {
        key.split(":", 1)[1]: value for key, value in counts.items() if key.startswith("duplicate:")
    }
    coverage = counts.get("article:same_story", 0)
    unique = counts.get("article:unique", 0) + coverage
    written = unique + sum(duplicates.values())
    filtered_total = sum(sum(v.values()) for v in filtered.values())
    feeds_failed = sum(dead.get(FEED_STAGE, {}).values())
    sources_failed = sum(sum(dead.get(stage, {}).values()) for stage in SOURCE_STAGES)
    dead_total = sum(sum(v.values()) for v in dead.values())
    entry_dead = dead_total - sources_failed
    # Entries rejected while reading a feed (no link ...) entered the run too.
    entries_in = counts.get("entry", 0) + sum(filtered.get(FEED_STAGE, {}).values())
    accounted = written + filtered_total + entry_dead
    # A host split into several groups may be backed off by each: count hosts, not groups.
    backed_off = sorted(
        k[len(BACKED_OFF_PREFIX) :] for k in counts if k.startswith(BACKED_OFF_PREFIX)
    )
    summary: dict[str, Any] = {
        "run_id": run_id,
        "output": output,
        "feeds": {
            "configured": counts.get("feed", 0),
            "failed": feeds_failed,
            "ok": counts.get("feed", 0) - feeds_failed,
        },
        "entries_in": entries_in,
        "articles": {
            "written": written,
            "unique": unique,
            "same_story": coverage,
            "duplicates": dict(sorted(duplicates.items())),
            "duplicates_total": sum(duplicates.values()),
        },
        "stories": {
            "touched": counts.get("story:multi_outlet", 0) + counts.get("story:single", 0),
            "multi_outlet": counts.get("story:multi_outlet", 0),
        },
        "filtered": {"total": filtered_total, "by_stage": filtered},
        "dead_letters": {
            "total": dead_total,
            "feeds": feeds_failed,
            "entries": entry_dead,
            "by_stage": dead,
        },
        "hosts_backed_off": {
            "count": len(backed_off),
            "hosts": backed_off[:MAX_LISTED_HOSTS],
        },
        "balance": {
            "entries_in": entries_in,
            "written": written,
            "filtered": filtered_total,
            "dead_letters": entry_dead,
            "balanced": entries_in == accounted,
        },
    }
    if incremental:
        not_modified = counts.get("feedstate:not_modified", 0)
        changed = counts.get("feedstate:changed", 0)
        summary["feeds"]["not_modified"] = not_modified
        summary["incremental"] = {
            "feeds_polled": changed + not_modified,
            "feeds_changed": changed,
            "feeds_not_modified": not_modified,
            "already_fetched": filtered.get("ledger", {}).get("already_fetched", 0),
            "ledger_recorded": dict(
                sorted(
                    (key.split(":", 1)[1], value)
                    for key, value in counts.items()
                    if key.startswith("ledger:")
                )
            ),
        }
    if warc_input:
        files_failed = sum(dead.get(WARC_FILES_STAGE, {}).values())
        summary["warc_input"] = {
            "files": counts.get(WARC_FILE_KEY, 0),
            "files_failed": files_failed,
            "records": counts.get("entry", 0),
        }
    return summary
