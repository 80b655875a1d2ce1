"""Everything the report shows, aggregated in DuckDB from an output directory's tables.

Nothing here loops over articles in Python: each section is a GROUP BY (or a capped list) computed
by DuckDB over the Parquet files, so an output of 100,000 articles aggregates in about a second.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import duckdb

from reporting.tables import connect, latest_summary, local_output, run_summaries

# Dead letters of these stages are sources failing as a whole (a feed, a WARC file), not
# entries: the same split as SOURCE_STAGES in transforms/sinks/summary.py (a test checks).
SOURCE_STAGES = ("read_feeds", "read_warc_files")
FUNNEL_STEPS = ("entries", "fetched", "extracted", "written")
# The funnel step an item dropped at a stage did not reach; a stage not listed here (a new one)
# counts as dropped before "written".
STEP_NOT_REACHED: Mapping[str, str] = {
    "read_feeds": "fetched",
    "collapse_entries": "fetched",
    "ledger": "fetched",
    "stream_seen": "fetched",
    "fetch_pages": "fetched",
    "read_warc": "fetched",
    "extract_articles": "extracted",
}
ARTICLE_COLUMNS = (
    "article_id, url, source_url, title, outlet_id, language, language_confidence, "
    "language_hints, published_at, "
    "dup_method, duplicate_of, dup_score, story_id, quality_flags, word_count, run_id"
)
HOST_OF = r"lower(regexp_extract({col}, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:@]+)', 1))"
TIME = "strftime({col}, '%Y-%m-%d %H:%M')"


@dataclass(frozen=True)
class Limits:
    """Caps that keep the page small whatever the run's size (the rest is one query away)."""

    stories: int = 100
    members: int = 25
    outlets: int = 200
    chart_outlets: int = 30
    chart_languages: int = 10
    mismatches: int = 50
    hosts: int = 30
    # Up to this many publication days are charted one bar each, side by side; more, over a
    # date axis, per day while they span at most ``day_span`` days, else per month.
    days: int = 60
    day_span: int = 400


@dataclass(frozen=True)
class Drop:
    """Items of one run dropped at one stage for one reason."""

    kind: str  # "filtered" or "dead_letter"
    stage: str
    reason: str
    count: int
    step: str  # the funnel step these items did not reach ("feeds" for whole sources)


@dataclass(frozen=True)
class Balance:
    """Every entry that entered a run is written, filtered or dead-lettered: run.json and tables."""

    entries_in: Optional[int]
    written: int
    filtered: int
    dead_letters: int
    balanced: Optional[bool]  # run.json's verdict (None without a summary)
    tables_written: int
    tables_filtered: int
    tables_dead_letters: int

    @property
    def tables_close(self) -> Optional[bool]:
        """Whether the run's own table rows add up to its entries."""
        if self.entries_in is None:
            return None
        return self.entries_in == (
            self.tables_written + self.tables_filtered + self.tables_dead_letters
        )

    @property
    def tables_agree(self) -> bool:
        """Whether the table rows are the counts run.json states."""
        return (self.written, self.filtered, self.dead_letters) == (
            self.tables_written,
            self.tables_filtered,
            self.tables_dead_letters,
        )


@dataclass(frozen=True)
class Funnel:
    """What one run (the latest) did with its feeds and entries."""

    run_id: str
    feeds: dict[str, int]
    steps: list[tuple[str, int]]
    drops: list[Drop]
    balance: Balance
    hosts_backed_off: list[str]


@dataclass(frozen=True)
class OutletRow:
    """Articles of one outlet (all runs)."""

    outlet_id: str
    articles: int
    originals: int
    copies: int
    languages: str
    expected: str
    mismatched: int
    flagged: int


@dataclass(frozen=True)
class Mismatch:
    """An article whose language is not one its outlet declares."""

    outlet_id: str
    language: str
    expected: str
    confidence: float
    title: str
    url: str


@dataclass(frozen=True)
class Member:
    """One article of a story, as the stories section lists it."""

    title: str
    url: str
    outlet_id: str
    language: str
    published: str
    dup_method: Optional[str]
    dup_score: Optional[float]
    copy_of: Optional[str]  # the original's outlet and title, for copies


@dataclass(frozen=True)
class StoryView:
    """One story (its latest row) with its first members."""

    story_id: str
    title: str
    outlets: list[str]
    languages: list[str]
    article_count: int
    outlet_count: int
    first_seen: str
    last_seen: str
    members: list[Member]
    more_members: int


@dataclass(frozen=True)
class HostRow:
    """Fetch outcomes of one host (all runs), for the failing-hosts table."""

    host: str
    written: int
    filtered: int
    dead_letters: int
    errors: str
    backed_off: bool

    @property
    def failure_share(self) -> float:
        """Dead letters among everything tried on this host."""
        tried = self.written + self.filtered + self.dead_letters
        return self.dead_letters / tried if tried else 0.0


@dataclass(frozen=True)
class RunTrend:
    """One run of the output, for the run-over-run trend."""

    run_id: str
    entries_in: int
    written: int
    duplicates: int
    filtered: int
    dead_letters: int
    new_stories: int
    stories_touched: int
    balanced: bool


@dataclass(frozen=True)
class ReportData:
    """All sections of the report."""

    output: str
    run_ids: list[str]
    funnel: Funnel
    totals: dict[str, int]
    date_range: tuple[str, str]
    outlets: list[OutletRow]
    more_outlets: int
    days: list[tuple[str, int]]
    day_bucket: str  # "day" or "month"
    undated: int
    languages: list[tuple[str, int]]
    language_mix: list[tuple[str, str, int]]
    mismatches: list[Mismatch]
    mismatch_total: int
    copies: list[tuple[str, int]]
    stories: list[StoryView]
    more_stories: int
    quality: list[tuple[str, int]]
    quality_by_outlet: list[tuple[str, str, int]]
    hosts: list[HostRow]
    failing_host_total: int
    ledger: list[tuple[str, int]]
    feed_states: list[tuple[str, int]]
    trend: list[RunTrend]
    limits: Limits = field(default_factory=Limits)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """The rows of a query as tuples."""
    return con.execute(sql, list(params)).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The single value of a query."""
    row = con.execute(sql, list(params)).fetchone()
    return row[0] if row else None


def _has(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    """Whether the connection defines ``view``."""
    names = {r[0] for r in _rows(con, "SELECT table_name FROM information_schema.tables")}
    return view in names


def _stage_step(stage: str, kind: str) -> str:
    """The funnel step a drop at ``stage`` did not reach."""
    if kind == "dead_letter" and stage in SOURCE_STAGES:
        return "feeds"
    return STEP_NOT_REACHED.get(stage, "written")


def _funnel(
    con: duckdb.DuckDBPyConnection, summary: Optional[dict[str, Any]], run_id: str
) -> Funnel:
    """The latest run's funnel, drops and balance, from its own table rows and run.json."""
    drops = [
        Drop(kind, stage, reason, n, _stage_step(stage, kind))
        for kind, stage, reason, n in _rows(
            con,
            "SELECT 'filtered', stage, reason, count(*) FROM filtered WHERE run_id = ? "
            "GROUP BY ALL UNION ALL "
            "SELECT 'dead_letter', stage, error_type, count(*) FROM dead_letters WHERE run_id = ? "
            "GROUP BY ALL ORDER BY 4 DESC, 2, 3",
            [run_id, run_id],
        )
    ]
    written = int(_one(con, "SELECT count(*) FROM articles WHERE run_id = ?", [run_id]))
    filtered = sum(d.count for d in drops if d.kind == "filtered")
    dead = sum(d.count for d in drops if d.kind == "dead_letter" and d.step != "feeds")
    feed_failures = sum(d.count for d in drops if d.step == "feeds")
    if summary is not None:
        bal = summary["balance"]
        entries: Optional[int] = int(bal["entries_in"])
        balance = Balance(
            entries_in=entries,
            written=int(bal["written"]),
            filtered=int(bal["filtered"]),
            dead_letters=int(bal["dead_letters"]),
            balanced=bool(bal["balanced"]),
            tables_written=written,
            tables_filtered=filtered,
            tables_dead_letters=dead,
        )
        feeds = {k: int(v) for k, v in summary["feeds"].items()}
        backed_off = list(summary.get("hosts_backed_off", {}).get("hosts", []))
    else:
        entries = written + filtered + dead
        balance = Balance(None, written, filtered, dead, None, written, filtered, dead)
        feeds = {"failed": feed_failures}
        backed_off = []
    steps = []
    remaining = entries if entries is not None else written + filtered + dead
    for step in FUNNEL_STEPS:
        remaining -= sum(d.count for d in drops if d.step == step)
        steps.append((step, remaining))
    # The last step is what the tables hold, whatever the arithmetic says (they differ only
    # when the balance does not close, which the balance section then shows).
    steps[-1] = ("written", written)
    return Funnel(run_id, feeds, steps, drops, balance, backed_off)


def _load_articles(con: duckdb.DuckDBPyConnection) -> None:
    """The columns the report needs (not the bodies) in a temporary table, read once."""
    con.execute(f"CREATE TEMP TABLE a AS SELECT {ARTICLE_COLUMNS} FROM articles")
    con.execute(
        "CREATE TEMP TABLE expected AS SELECT outlet_id, string_agg(lang, ', ' ORDER BY lang) "
        "AS langs, list(lang) AS lang_list FROM (SELECT DISTINCT outlet_id, substr(h, 8) AS lang "
        "FROM (SELECT outlet_id, unnest(language_hints) AS h FROM a) "
        "WHERE starts_with(h, 'outlet:')) GROUP BY outlet_id"
    )
    # Undetermined ("und") is not a disagreement: the detector declined to decide.
    con.execute(
        "CREATE TEMP TABLE mismatch AS SELECT a.*, e.langs AS expected FROM a "
        "JOIN expected e USING (outlet_id) "
        "WHERE a.language <> 'und' AND NOT list_contains(e.lang_list, a.language)"
    )


def _outlets(con: duckdb.DuckDBPyConnection, limit: int) -> tuple[list[OutletRow], int]:
    """Articles per outlet, most first."""
    total = int(_one(con, "SELECT count(DISTINCT outlet_id) FROM a"))
    rows = _rows(
        con,
        "SELECT a.outlet_id, count(*), count(*) FILTER (duplicate_of IS NULL), "
        "count(*) FILTER (duplicate_of IS NOT NULL), "
        "(SELECT string_agg(language || ' ' || n, ', ' ORDER BY n DESC, language) FROM "
        " (SELECT language, count(*) AS n FROM a b WHERE b.outlet_id = a.outlet_id "
        "  GROUP BY language)), "
        "coalesce(any_value(e.langs), ''), "
        "(SELECT count(*) FROM mismatch m WHERE m.outlet_id = a.outlet_id), "
        "count(*) FILTER (len(quality_flags) > 0) "
        "FROM a LEFT JOIN expected e USING (outlet_id) GROUP BY a.outlet_id "
        "ORDER BY 2 DESC, 1 LIMIT ?",
        [limit],
    )
    return [OutletRow(*r) for r in rows], max(0, total - len(rows))


def _days(con: duckdb.DuckDBPyConnection, limits: Limits) -> tuple[list[tuple[str, int]], str, int]:
    """Articles per publication day (per month over a long span), and the undated count."""
    undated = int(_one(con, "SELECT count(*) FROM a WHERE published_at IS NULL"))
    n_days, span = con.execute(
        "SELECT count(DISTINCT CAST(published_at AS DATE)), "
        "coalesce(date_diff('day', min(published_at), max(published_at)), 0) FROM a"
    ).fetchone() or (0, 0)
    bucket = "day" if n_days <= limits.days or span <= limits.day_span else "month"
    fmt = "%Y-%m-%d" if bucket == "day" else "%Y-%m"
    rows = _rows(
        con,
        f"SELECT strftime(published_at, '{fmt}') AS d, count(*) FROM a "
        "WHERE published_at IS NOT NULL GROUP BY d ORDER BY d",
    )
    return [(str(d), int(n)) for d, n in rows], bucket, undated


def _language_mix(
    con: duckdb.DuckDBPyConnection, outlets: int, languages: int
) -> list[tuple[str, str, int]]:
    """(outlet, language, articles) for the largest outlets; rarer languages as "other"."""
    return [
        (str(o), str(lang), int(n))
        for o, lang, n in _rows(
            con,
            "WITH top_o AS (SELECT outlet_id FROM a GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT ?), top_l AS (SELECT language FROM a GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT ?) SELECT outlet_id, CASE WHEN language IN (SELECT language FROM top_l) "
            "THEN language ELSE 'other' END AS lang, count(*) FROM a "
            "WHERE outlet_id IN (SELECT outlet_id FROM top_o) GROUP BY ALL ORDER BY 1, 2",
            [outlets, languages],
        )
    ]


def _stories(
    con: duckdb.DuckDBPyConnection, limits: Limits
) -> tuple[list[StoryView], int, int, int]:
    """The largest stories (multi-outlet first) with their first members; totals."""
    # A story gets a row in every run that adds to it: its latest row is its largest.
    con.execute(
        "CREATE TEMP TABLE s AS SELECT * EXCLUDE (member_ids) FROM stories "
        "QUALIFY row_number() OVER (PARTITION BY story_id "
        "ORDER BY article_count DESC, run_id DESC) = 1"
    )
    total = int(_one(con, "SELECT count(*) FROM s"))
    multi = int(_one(con, "SELECT count(*) FROM s WHERE outlet_count > 1"))
    first, last = TIME.format(col="first_seen"), TIME.format(col="last_seen")
    top = _rows(
        con,
        f"SELECT story_id, coalesce(representative_title, ''), outlets, languages, "
        f"article_count, outlet_count, {first}, {last} FROM s "
        "ORDER BY outlet_count DESC, article_count DESC, first_seen, story_id LIMIT ?",
        [limits.stories],
    )
    ids = [r[0] for r in top]
    members: dict[str, list[Member]] = {i: [] for i in ids}
    counts: dict[str, int] = {}
    if ids:
        published = TIME.format(col="m.published_at")
        rows = _rows(
            con,
            "WITH m AS (SELECT *, row_number() OVER (PARTITION BY story_id "
            "ORDER BY duplicate_of IS NOT NULL, published_at NULLS LAST, url) AS rn, "
            "count(*) OVER (PARTITION BY story_id) AS total FROM a "
            "WHERE story_id IN (SELECT unnest(?::VARCHAR[]))) "
            "SELECT m.story_id, coalesce(m.title, ''), m.url, m.outlet_id, m.language, "
            f"coalesce({published}, ''), m.dup_method, m.dup_score, "
            "CASE WHEN m.duplicate_of IS NULL THEN NULL "
            "ELSE coalesce(o.outlet_id || ': ' || coalesce(o.title, ''), m.duplicate_of) END, "
            "m.total FROM m LEFT JOIN (SELECT article_id, any_value(outlet_id) AS outlet_id, "
            "any_value(title) AS title FROM a GROUP BY 1) o ON o.article_id = m.duplicate_of "
            "WHERE m.rn <= ? ORDER BY m.story_id, m.rn",
            [ids, limits.members],
        )
        for story_id, title, url, outlet, lang, pub, method, score, copy_of, n in rows:
            members[story_id].append(Member(title, url, outlet, lang, pub, method, score, copy_of))
            counts[story_id] = int(n)
    views = [
        StoryView(
            story_id=r[0],
            title=r[1],
            outlets=list(r[2]),
            languages=list(r[3]),
            article_count=int(r[4]),
            outlet_count=int(r[5]),
            first_seen=r[6],
            last_seen=r[7],
            members=members[r[0]],
            more_members=max(0, counts.get(r[0], 0) - len(members[r[0]])),
        )
        for r in top
    ]
    return views, max(0, total - len(views)), total, multi


def _hosts(
    con: duckdb.DuckDBPyConnection, limit: int, backed_off: Sequence[str]
) -> tuple[list[HostRow], int]:
    """Hosts with dead letters (all runs), most failures first."""
    host = HOST_OF.format(col="url")
    src_host = HOST_OF.format(col="source_url")
    con.execute(
        "CREATE TEMP TABLE h AS "
        f"SELECT {src_host} AS host, 'written' AS kind, NULL AS why FROM a UNION ALL "
        f"SELECT {host}, 'filtered', reason FROM filtered UNION ALL "
        f"SELECT {host}, 'dead', stage || ':' || error_type FROM dead_letters"
    )
    total = int(_one(con, "SELECT count(DISTINCT host) FROM h WHERE kind = 'dead'"))
    rows = _rows(
        con,
        "SELECT host, count(*) FILTER (kind = 'written'), count(*) FILTER (kind = 'filtered'), "
        "count(*) FILTER (kind = 'dead') AS dead, "
        "(SELECT string_agg(why || ' x' || n, ', ' ORDER BY n DESC, why) FROM "
        " (SELECT why, count(*) AS n FROM h i WHERE i.host = h.host AND i.kind = 'dead' "
        "  GROUP BY why)) "
        "FROM h GROUP BY host HAVING dead > 0 ORDER BY dead DESC, host LIMIT ?",
        [limit],
    )
    off = set(backed_off)
    return [HostRow(r[0], r[1], r[2], r[3], r[4] or "", r[0] in off) for r in rows], total


def _trend(con: duckdb.DuckDBPyConnection) -> list[RunTrend]:
    """Per run (run order): what run.json counted, and the stories that first appeared in it."""
    rows = _rows(
        con,
        "WITH first_run AS (SELECT story_id, min(r.run_order) AS run_order FROM stories "
        "JOIN runs r USING (run_id) GROUP BY story_id), "
        "new AS (SELECT run_order, count(*) AS n FROM first_run GROUP BY 1) "
        "SELECT run_id, entries_in, written, duplicates, filtered, dead_letters, "
        "coalesce(new.n, 0), stories_touched, balanced FROM runs LEFT JOIN new USING (run_order) "
        "ORDER BY run_order",
    )
    return [RunTrend(*r) for r in rows]


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, int]]:
    """(label, count) rows."""
    return [(str(k), int(n)) for k, n in _rows(con, sql)]


def load_report_data(output: str, limits: Optional[Limits] = None) -> ReportData:
    """Aggregate an output directory's tables (and run summaries) into the report's sections."""
    limits = limits or Limits()
    root: Path = local_output(output)
    runs = run_summaries(root)
    summary = latest_summary(root, runs)
    con = connect(output)
    try:
        table_runs = [
            str(r[0])
            for r in _rows(con, "SELECT DISTINCT run_id FROM articles WHERE run_id IS NOT NULL")
        ]
        run_ids = [r.run_id for r in runs] or sorted(table_runs)
        latest = str(summary["run_id"]) if summary else (run_ids[-1] if run_ids else "")
        funnel = _funnel(con, summary, latest)
        _load_articles(con)
        outlets, more_outlets = _outlets(con, limits.outlets)
        days, bucket, undated = _days(con, limits)
        stories, more_stories, story_total, multi = _stories(con, limits)
        hosts, failing_hosts = _hosts(con, limits.hosts, funnel.hosts_backed_off)
        first, last = TIME.format(col="min(published_at)"), TIME.format(col="max(published_at)")
        span = con.execute(f"SELECT {first}, {last} FROM a").fetchone() or (None, None)
        totals = {
            "runs": len(run_ids),
            "articles": int(_one(con, "SELECT count(*) FROM a")),
            "originals": int(_one(con, "SELECT count(*) FROM a WHERE duplicate_of IS NULL")),
            "copies": int(_one(con, "SELECT count(*) FROM a WHERE duplicate_of IS NOT NULL")),
            "outlets": int(_one(con, "SELECT count(DISTINCT outlet_id) FROM a")),
            "languages": int(_one(con, "SELECT count(DISTINCT language) FROM a")),
            "stories": story_total,
            "multi_outlet_stories": multi,
            "flagged": int(_one(con, "SELECT count(*) FROM a WHERE len(quality_flags) > 0")),
        }
        mismatch_rows = _rows(
            con,
            "SELECT outlet_id, language, expected, language_confidence, coalesce(title, ''), url "
            "FROM mismatch ORDER BY outlet_id, language, url LIMIT ?",
            [limits.mismatches],
        )
        ledger = (
            _pairs(con, "SELECT outcome, count(*) FROM ledger GROUP BY 1 ORDER BY 2 DESC, 1")
            if _has(con, "ledger")
            else []
        )
        feed_states = (
            _pairs(
                con,
                "SELECT CASE WHEN changed THEN 'changed' ELSE 'not modified' END, count(*) "
                "FROM (SELECT changed FROM feed_states QUALIFY row_number() OVER "
                "(PARTITION BY feed_url ORDER BY checked_at DESC) = 1) GROUP BY 1 ORDER BY 1",
            )
            if _has(con, "feed_states")
            else []
        )
        return ReportData(
            output=str(output),
            run_ids=run_ids,
            funnel=funnel,
            totals=totals,
            date_range=(span[0] or "", span[1] or ""),
            outlets=outlets,
            more_outlets=more_outlets,
            days=days,
            day_bucket=bucket,
            undated=undated,
            languages=_pairs(con, "SELECT language, count(*) FROM a GROUP BY 1 ORDER BY 2 DESC, 1"),
            language_mix=_language_mix(con, limits.chart_outlets, limits.chart_languages),
            mismatches=[Mismatch(*r) for r in mismatch_rows],
            mismatch_total=int(_one(con, "SELECT count(*) FROM mismatch")),
            copies=_pairs(
                con,
                "SELECT dup_method, count(*) FROM a WHERE duplicate_of IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC, 1",
            ),
            stories=stories,
            more_stories=more_stories,
            quality=_pairs(
                con,
                "SELECT flag, count(*) FROM (SELECT unnest(quality_flags) AS flag FROM a) "
                "GROUP BY 1 ORDER BY 2 DESC, 1",
            ),
            quality_by_outlet=[
                (str(o), str(f), int(n))
                for o, f, n in _rows(
                    con,
                    "SELECT outlet_id, flag, count(*) FROM (SELECT outlet_id, "
                    "unnest(quality_flags) AS flag FROM a) GROUP BY ALL "
                    "ORDER BY 3 DESC, 1, 2 LIMIT ?",
                    [limits.hosts],
                )
            ],
            hosts=hosts,
            failing_host_total=failing_hosts,
            ledger=ledger,
            feed_states=feed_states,
            trend=_trend(con),
            limits=limits,
        )
    finally:
        con.close()
