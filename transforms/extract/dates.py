"""Publication dates: parse any written form, collect candidates, choose one.

Candidates come from JSON-LD, meta tags, ``<time>``, the dateline under the headline and htmldate;
"updated" dates are not publication dates.
"""

import datetime as dt
import re
import warnings
from collections.abc import Sequence
from typing import NamedTuple, Optional

from dateutil import parser as dateutil_parser
from lxml.html import HtmlElement

from transforms.core.textutil import collapse_ws
from transforms.core.timeutil import to_iso
from transforms.extract.signals import (
    UTC,
    PageSignals,
    dateline_text,
    first_text,
    lead_text,
    meta_values,
)


class ParsedDate(NamedTuple):
    """A timestamp as declared (``local``: ISO with its UTC offset, or a bare day) and in UTC."""

    utc: str
    local: str
    has_time: bool


class DateCandidate(NamedTuple):
    """One publication date found on the page or in the feed, and where it was found."""

    date: ParsedDate
    source: str


_TIME_RE = re.compile(r"\d{1,2}:\d{2}")
# Zone abbreviations common in news datelines (offsets in seconds); IST is India's.
_TZ_NAMES = {
    name: int(offset * 3600)
    for name, offset in {
        "UTC": 0,
        "GMT": 0,
        "Z": 0,
        "BST": 1,
        "CET": 1,
        "CEST": 2,
        "EET": 2,
        "EEST": 3,
        "MSK": 3,
        "IST": 5.5,
        "WIB": 7,
        "WITA": 8,
        "WIT": 9,
        "SGT": 8,
        "HKT": 8,
        "JST": 9,
        "KST": 9,
        "AEST": 10,
        "AEDT": 11,
        "EST": -5,
        "EDT": -4,
        "CST": -6,
        "CDT": -5,
        "MST": -7,
        "MDT": -6,
        "PST": -8,
        "PDT": -7,
    }.items()
}
_DIGITS_RE = re.compile(r"^\d{10}(?:\d{3})?$")
_EARLIEST = dt.datetime(1990, 1, 1, tzinfo=UTC)


def parse_date(value: Optional[str], now: Optional[dt.datetime] = None) -> Optional[ParsedDate]:
    """Parse a date string (ISO 8601, RFC 822, 'November 19, 2019', epoch) into a ParsedDate.

    Dates before 1990 or more than a day after ``now`` are refused: they are template defaults,
    event dates or parse errors, not publication dates.
    """
    if not value:
        return None
    text = collapse_ws(value)
    if not text or len(text) > 80:
        return None
    parsed: Optional[dt.datetime]
    if _DIGITS_RE.match(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        try:
            parsed = dt.datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        has_time = True
    else:
        has_time = bool(_TIME_RE.search(text))
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            try:
                with warnings.catch_warnings():
                    # An unknown zone name leaves the time naive (taken as UTC below).
                    warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
                    parsed = dateutil_parser.parse(
                        text, default=dt.datetime(2000, 1, 1), tzinfos=_TZ_NAMES
                    )
            except (ValueError, OverflowError, TypeError):
                return None
            # dateutil fills a missing year or day from the default: require them in the text.
            if not re.search(r"\b(19|20)\d{2}\b", text):
                return None
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    try:
        utc_value = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    upper = (now or dt.datetime.now(UTC)) + dt.timedelta(days=1)
    if not _EARLIEST <= utc_value <= upper:
        return None
    # Exactly midnight is how many CMSs write a bare day: treat it as one, so a feed timestamp
    # on the same day can supply the real time.
    has_time = has_time and parsed.time() != dt.time(0)
    local = parsed.isoformat(timespec="seconds") if has_time else parsed.date().isoformat()
    return ParsedDate(to_iso(utc_value), local, has_time)


# Meta tags naming the original publication time, strongest first. Modified/updated tags are left
# out on purpose: the day a story was last edited is the commonest wrong "publication" date.
PUBLISHED_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "published_time",
    "og:published_time",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "publish-date",
    "publish_date",
    "publishdate",
    "pubdate",
    "article.published",
    "article_date_original",
    "original-publish-date",
    "cxenseparse:recs:publishtime",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "dc.date",
    "dcterms.date",
    "citation_publication_date",
    "citation_date",
    "date",
)


def _jsonld_candidates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """``datePublished`` (else ``dateCreated``) of the article objects, articles before pages."""
    found: list[DateCandidate] = []
    for obj in signals.articles:
        for key in ("datePublished", "dateCreated"):
            parsed = parse_date(first_text(obj.get(key)), now)
            if parsed:
                found.append(DateCandidate(parsed, "jsonld"))
                break
    return found


def jsonld_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """JSON-LD publication dates, UTC stamps given the page's local day (``localize``)."""
    return localize(_jsonld_candidates(signals, now), signals, now)


def _meta_candidates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Publication dates from meta tags and ``itemprop=datePublished``, strongest key first."""
    values = [
        *meta_values(signals, *PUBLISHED_META_KEYS),
        *signals.itemprops.get("datepublished", []),
    ]
    return [DateCandidate(p, "meta") for v in values if (p := parse_date(v, now))]


def meta_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Meta-tag publication dates, UTC stamps given the page's local day (``localize``)."""
    return localize(_meta_candidates(signals, now), signals, now)


def time_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """``<time datetime>`` values: ``pubdate``/``itemprop`` ones, else the first on the page."""
    strong = [v for v, is_strong in signals.times if is_strong]
    values = strong or [v for v, _ in signals.times[:1]]
    return [DateCandidate(p, "time") for v in values if (p := parse_date(v, now))]


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_VISIBLE_DATE_RE = re.compile(
    rf"\b(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\.?,?\s+(?:19|20)\d{{2}}"
    r"|(?:19|20)\d{2}-\d{2}-\d{2}"
    r"|\d{1,2}([./])\d{1,2}\1(?:19|20)\d{2})\b",
    re.I,
)
_UPDATED_RE = re.compile(r"(?:updated|modified|edited|reviewed|revised)\W*(?:on|at)?\W*$", re.I)


def dateline_dates(signals: PageSignals, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Dates written under the headline ('March 1, 2024', '8 Oct 2022'), not 'Updated' ones."""
    found = _visible_dates(dateline_text(signals.tree, signals.site), now)
    # Only when nothing follows the headline: the line right above it.
    return found or _visible_dates(lead_text(signals.tree, signals.site), now)


def _visible_dates(text: str, now: Optional[dt.datetime]) -> list[DateCandidate]:
    """Written dates in a stretch of visible text, except those labelled Updated/Modified."""
    found: list[DateCandidate] = []
    for match in _VISIBLE_DATE_RE.finditer(text):
        if _UPDATED_RE.search(text[max(0, match.start() - 30) : match.start()]):
            continue
        value = match.group(0)
        parsed = _numeric_day(value, now) if match.group(1) else parse_date(value, now)
        if parsed:
            found.append(DateCandidate(parsed, "dateline"))
    return found


def _numeric_day(text: str, now: Optional[dt.datetime]) -> Optional[ParsedDate]:
    """A numeric day ('12.12.2025', '23/01/2024') when day and month cannot be confused.

    '3/4/2025' is March 4 in the US and 3 April in Britain: with both parts 12 or less and
    different, the day is left to other sources (on the even half of wcxb-dev one such dateline
    was month-first, one day-first).
    """
    first, second, year = (int(part) for part in re.split(r"[./]", text))
    if first <= 12 and second <= 12 and first != second:
        return None
    month, day = (first, second) if first <= 12 else (second, first)
    try:
        value = dt.date(year, month, day)
    except ValueError:
        return None
    return parse_date(value.isoformat(), now)


# The same instant written twice (meta in UTC, <time> with the local offset) differs by at most
# this much: CMSs round to the second or the minute.
_SAME_INSTANT = dt.timedelta(seconds=60)


def _is_utc_stamp(date: ParsedDate) -> bool:
    """True for a timestamp declared in UTC (``Z``/``+00:00``), i.e. without the local offset."""
    return date.has_time and date.local.endswith("+00:00")


def _local_twin(found: DateCandidate, others: Sequence[DateCandidate]) -> Optional[DateCandidate]:
    """The same instant as ``found`` stated with a non-UTC offset by another source, if any."""
    stamp = dt.datetime.fromisoformat(found.date.utc.replace("Z", "+00:00"))
    for other in others:
        if not other.date.has_time or _is_utc_stamp(other.date) or len(other.date.local) <= 19:
            continue
        when = dt.datetime.fromisoformat(other.date.utc.replace("Z", "+00:00"))
        if abs(when - stamp) <= _SAME_INSTANT:
            return DateCandidate(
                ParsedDate(found.date.utc, other.date.local, True), f"{found.source}+{other.source}"
            )
    return None


def localize(
    found: list[DateCandidate], signals: PageSignals, now: Optional[dt.datetime]
) -> list[DateCandidate]:
    """Give timestamps declared in UTC the local offset the page states for the same instant.

    Many CMSs write ``article:published_time`` in UTC while a ``<time>`` (or another meta or
    JSON-LD value) states the same instant with the local offset: a story posted at 19:05 in
    Los Angeles is 03:05 UTC the next day, and the page (and usually the wcxb gold: 7 of 9
    pages of the tune half where the two days differ) calls it the earlier day. The UTC instant
    is kept (``published_at``); ``published_local`` takes the twin's offset and the source names
    both (``meta+time``, ``meta+jsonld``, ``meta+meta``). Taking the printed dateline's day for
    a UTC stamp with no twin was tried and dropped: on the tune half the gold followed the UTC
    day there 2 times of 3.
    """
    if not any(_is_utc_stamp(c.date) for c in found):
        return found
    others = [
        *_meta_candidates(signals, now),
        *_jsonld_candidates(signals, now),
        *(DateCandidate(p, "time") for v, _ in signals.times if (p := parse_date(v, now))),
    ]
    localized: list[DateCandidate] = []
    for candidate in found:
        twin = _local_twin(candidate, others) if _is_utc_stamp(candidate.date) else None
        localized.append(twin or candidate)
    return localized


def htmldate_date(tree: HtmlElement, now: Optional[dt.datetime]) -> Optional[DateCandidate]:
    """htmldate's original publication date (day precision), the last resort."""
    from htmldate import find_date

    try:
        found = find_date(
            tree,
            original_date=True,
            extensive_search=True,
            outputformat="%Y-%m-%d",
            max_date=(now or dt.datetime.now(UTC)).strftime("%Y-%m-%d"),
        )
    except (ValueError, TypeError):
        return None
    parsed = parse_date(found, now)
    return DateCandidate(parsed, "htmldate") if parsed else None


def choose_date(
    feed: Optional[ParsedDate], page: Sequence[DateCandidate]
) -> Optional[DateCandidate]:
    """Pick the publication date: the page's structured date, the feed filling in precision.

    ``page`` comes in order of trust (see docs/quality-extraction.md for the measurements):
    meta tags, the dateline under the headline, JSON-LD ``datePublished``, ``<time>``,
    htmldate. The feed's timestamp is used when the page has no date, or when the page only
    states a day and the feed's timestamp falls on that same day (it adds the time of day).
    When a dated page and the feed disagree, the page wins: feeds re-stamp items when they are
    edited or re-listed. (Feeds are not in the evaluation sets: this rule is a judgment call.)
    """
    best = page[0] if page else None
    if feed is None:
        return best
    if best is None:
        return DateCandidate(feed, "feed")
    if not best.date.has_time and feed.local[:10] == best.date.local[:10]:
        return DateCandidate(feed, "feed")
    if not best.date.has_time and feed.utc[:10] == best.date.utc[:10]:
        return DateCandidate(feed, "feed")
    return best
