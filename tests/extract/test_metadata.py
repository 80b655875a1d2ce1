import datetime as dt

import lxml.html
import pytest

from transforms.core.records import FeedEntry, FetchedPage
from transforms.extract.article import page_facts
from transforms.extract.authors import choose_authors, clean_authors, jsonld_authors
from transforms.extract.dates import (
    DateCandidate,
    ParsedDate,
    choose_date,
    dateline_dates,
    jsonld_dates,
    meta_dates,
    parse_date,
)
from transforms.extract.fields import (
    access_signals,
    canonical_url,
    categories,
    description,
    has_paywall_markup,
    image_url,
    tags,
)
from transforms.extract.signals import PageSignals, read_signals
from transforms.extract.titles import choose_title, repair_mojibake, strip_site_name

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
LATER = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def signals(html: str, url: str = "https://daily.example.com/a/1") -> PageSignals:
    return read_signals(lxml.html.fromstring(html), url)


def head(*parts: str, body: str = "<p>x</p>") -> str:
    return f"<html><head>{''.join(parts)}</head><body>{body}</body></html>"


def ld(json_text: str) -> str:
    return f'<script type="application/ld+json">{json_text}</script>'


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc", "local", "has_time"),
    [
        ("2024-05-02T09:15:00+02:00", "2024-05-02T07:15:00Z", "2024-05-02T09:15:00+02:00", True),
        ("2024-05-02T07:15:00.000Z", "2024-05-02T07:15:00Z", "2024-05-02T07:15:00+00:00", True),
        ("2024-05-02", "2024-05-02T00:00:00Z", "2024-05-02", False),
        (
            "Thu, 02 May 2024 07:15:00 GMT",
            "2024-05-02T07:15:00Z",
            "2024-05-02T07:15:00+00:00",
            True,
        ),
        ("May 2, 2024", "2024-05-02T00:00:00Z", "2024-05-02", False),
        ("1714634100", "2024-05-02T07:15:00Z", "2024-05-02T07:15:00+00:00", True),
        # Midnight is how many CMSs write a bare day.
        ("2024-05-02T00:00:00+02:00", "2024-05-01T22:00:00Z", "2024-05-02", False),
    ],
)
def test_parse_date_keeps_the_declared_form_and_the_utc_instant(value, utc, local, has_time):
    parsed = parse_date(value, NOW)
    assert parsed == ParsedDate(utc, local, has_time)


@pytest.mark.parametrize("value", ["2031-01-01", "1970-01-01T00:00:00Z", "yesterday", "", None])
def test_parse_date_refuses_future_ancient_and_unparseable_values(value):
    assert parse_date(value, NOW) is None


def test_jsonld_graph_lists_and_nesting_are_read_and_articles_come_first():
    sig = signals(
        head(
            ld(
                '{"@context": "https://schema.org", "@graph": ['
                '{"@type": "WebPage", "datePublished": "2019-01-01"},'
                '{"@type": ["NewsArticle"], "datePublished": "2024-05-02T09:15:00+02:00",'
                ' "author": [{"@type": "Person", "name": "Ana Lima"},'
                '            {"@type": "Organization", "name": "Daily Example"}]}]}'
            )
        )
    )
    dates = jsonld_dates(sig, NOW)
    assert [(d.date.local, d.source) for d in dates] == [
        ("2024-05-02T09:15:00+02:00", "jsonld"),
        ("2019-01-01", "jsonld"),
    ]
    assert jsonld_authors(sig) == ["Ana Lima"]  # organisations are not authors


def test_broken_jsonld_with_comments_and_trailing_commas_is_still_read():
    sig = signals(head(ld('<!-- {"@type": "BlogPosting", "datePublished": "2024-01-05",} -->')))
    assert [d.date.local for d in jsonld_dates(sig, NOW)] == ["2024-01-05"]


def test_meta_dates_use_publication_keys_and_ignore_modified_ones():
    sig = signals(
        head(
            '<meta property="article:modified_time" content="2024-05-20T10:00:00Z">',
            '<meta name="parsely-pub-date" content="2024-05-01T08:00:00Z">',
        )
    )
    assert [d.date.utc for d in meta_dates(sig, NOW)] == ["2024-05-01T08:00:00Z"]


def test_dateline_under_the_headline_skips_updated_dates():
    body = (
        "<h1>Harbour bridge reopens after repairs</h1>"
        "<p>Updated May 3, 2024</p><p>Published on 1 May 2024</p><p>Text.</p>"
    )
    sig = signals(head(body=body))
    assert [d.date.local for d in dateline_dates(sig, NOW)] == ["2024-05-01"]


def test_jsonld_date_beats_a_feed_that_disagrees():
    page = [DateCandidate(parse_date("2024-05-02T09:15:00+02:00", NOW), "jsonld")]
    feed = parse_date("2024-05-04T12:00:00Z", NOW)  # re-stamped when the item was edited
    chosen = choose_date(feed, page)
    assert chosen.source == "jsonld" and chosen.date.utc == "2024-05-02T07:15:00Z"


def test_feed_time_fills_in_a_page_date_without_time_on_the_same_day():
    page = [DateCandidate(parse_date("2024-05-02", NOW), "meta")]
    feed = parse_date("2024-05-02T07:30:00Z", NOW)
    assert choose_date(feed, page) == DateCandidate(feed, "feed")
    # Another day: the page's own date stands.
    other = parse_date("2024-05-05T07:30:00Z", NOW)
    assert choose_date(other, page).source == "meta"


def test_feed_date_is_used_when_the_page_has_none():
    feed = parse_date("2024-05-02T07:30:00Z", NOW)
    assert choose_date(feed, []) == DateCandidate(feed, "feed")
    assert choose_date(None, []) is None


# --- title -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Bridge reopens | Coastal Gazette", "Bridge reopens"),
        ("Coastal Gazette - Bridge reopens", "Bridge reopens"),
        ("Bridge reopens \u2013 Local \u2013 CoastalGazette", "Bridge reopens \u2013 Local"),
        ("Bridge reopens: what changes", "Bridge reopens: what changes"),
        ("Coastal Gazette", "Coastal Gazette"),  # never strips everything
    ],
)
def test_strip_site_name(title, expected):
    assert strip_site_name(title, {"coastal gazette"}) == expected


def test_a_short_site_key_only_strips_whole_segments():
    keys = {"time", "time com"}  # from the host time.com
    assert strip_site_name("Apple's time | Tech | TIME", keys) == "Apple's time | Tech"


def test_title_prefers_the_visible_headline_confirmed_by_another_source():
    sig = signals(
        head(
            "<title>Bridge reopens after three years | Coastal Gazette</title>",
            '<meta property="og:site_name" content="Coastal Gazette">',
            '<meta property="og:title" content="Bridge reopens after three years, at last">',
            body="<h1>Coastal Gazette</h1><h1>Bridge reopens after three years</h1>",
        )
    )
    assert choose_title(sig, None) == ("Bridge reopens after three years", "h1")


def test_title_takes_an_h1_that_starts_the_title_tag_with_an_unknown_suffix():
    sig = signals(
        head(
            "<title>Tiny houses: the pros and cons | LoadUp Junk Removal</title>",
            body="<h1>Tiny houses: the pros and cons</h1>",
        )
    )
    assert choose_title(sig, None) == ("Tiny houses: the pros and cons", "h1")


def test_short_unconfirmed_h1_falls_back_to_structured_titles_then_feed():
    sig = signals(
        head(
            ld('{"@type": "NewsArticle", "headline": "Ferry timetable changes for winter"}'),
            body="<h1>Blog</h1>",
        )
    )
    assert choose_title(sig, "Feed title") == ("Ferry timetable changes for winter", "jsonld")
    assert choose_title(signals(head(body="<p>x</p>")), "Feed title") == ("Feed title", "feed")


# --- authors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["By Maria Okafor and Tom Lindqvist"], ["Maria Okafor", "Tom Lindqvist"]),
        (["Jillian Kubala, MS, RD"], ["Jillian Kubala"]),
        (["Ana Lima, Joe Bloggs & Kim Park"], ["Ana Lima", "Joe Bloggs", "Kim Park"]),
        (["Dan Brown"], ["Dan Brown"]),  # "Dan" is a name here, not Indonesian "and"
        (["View all posts by Ray Ansari"], ["Ray Ansari"]),
        (["Emma Ryan Writer"], ["Emma Ryan"]),
        (["TOM KRISHER, AP Auto Writer"], ["Tom Krisher"]),
        (["Senior Editor"], []),
        (["Reuters Staff", "Editorial Team"], []),
        (["jane@example.com", "https://example.com/author/jane", "@jane"], []),
        (["Shelby Loos, DVM. Reviewed by Molly Price"], ["Shelby Loos"]),
        (["Paramita (Guha) Ghosh"], ["Paramita (Guha) Ghosh"]),
        (["page.head.extra.author"], []),
        (["Maria Okafor", "maria okafor"], ["Maria Okafor"]),
    ],
)
def test_clean_authors(values, expected):
    assert clean_authors(values) == expected


def test_site_name_is_dropped_from_authors_unless_it_is_the_only_name():
    site = {"daily example"}
    assert clean_authors(["Ana Lima, Daily Example"], site) == ["Ana Lima"]
    assert clean_authors(["Daily Example"], site) == ["Daily Example"]


def test_authors_come_from_jsonld_then_meta_then_feed_then_byline():
    both = signals(
        head(
            ld('{"@type": "Article", "author": {"@type": "Person", "name": "Ana Lima"}}'),
            '<meta name="author" content="Joe Bloggs">',
        )
    )
    assert choose_authors(both, ["Feed Person"]) == (["Ana Lima"], "jsonld")
    meta_only = signals(head('<meta name="author" content="By Joe Bloggs">'))
    assert choose_authors(meta_only, ["Feed Person"]) == (["Joe Bloggs"], "meta")
    byline = signals(head(body='<div class="author-name">Kim Park</div><p>Text.</p>'))
    assert choose_authors(byline, ["Feed Person"]) == (["Feed Person"], "feed")
    assert choose_authors(byline, []) == (["Kim Park"], "byline")


def test_byline_inside_comments_is_ignored():
    sig = signals(
        head(body='<div class="comments"><span class="author-name">Random Reader</span></div>')
    )
    assert choose_authors(sig, []) == ([], None)


# --- links, image, sections, tags, description, access ----------------------------------------


def test_links_image_sections_tags_and_description():
    sig = signals(
        head(
            '<link rel="canonical" href="/2024/05/02/story">',
            '<meta property="og:image" content="/img/lead.jpg">',
            '<meta property="article:section" content="Transport">',
            '<meta name="keywords" content="cycling, transport; council">',
            '<meta property="og:description" content="Work starts in &lt;b&gt;June&lt;/b&gt;.">',
            ld('{"@type": "NewsArticle", "keywords": ["bikes"], "articleSection": "City"}'),
        ),
        url="https://daily.example.com/a/1",
    )
    base = "https://daily.example.com/a/1"
    assert canonical_url(sig, base) == "https://daily.example.com/2024/05/02/story"
    assert image_url(sig, base) == "https://daily.example.com/img/lead.jpg"
    assert categories(sig) == ["Transport", "City"]
    assert tags(sig) == ["cycling", "transport", "council", "bikes"]
    assert description(sig) == "Work starts in June."


@pytest.mark.parametrize(
    ("markup", "free"),
    [
        (ld('{"@type": "NewsArticle", "isAccessibleForFree": false}'), False),
        (ld('{"@type": "NewsArticle", "isAccessibleForFree": "False"}'), False),
        (
            ld(
                '{"@type": "NewsArticle", "isAccessibleForFree": true, '
                '"hasPart": {"@type": "WebPageElement", "isAccessibleForFree": "false"}}'
            ),
            False,
        ),
        ('<meta property="article:content_tier" content="locked">', False),
        (ld('{"@type": "NewsArticle", "isAccessibleForFree": "True"}'), True),
        ("", None),
    ],
)
def test_access_signals(markup, free):
    assert access_signals(signals(head(markup))).free is free


def test_declared_word_count_and_paywall_markup():
    sig = signals(head(ld('{"@type": "NewsArticle", "wordCount": "950"}')))
    assert access_signals(sig).declared_words == 950
    assert has_paywall_markup(lxml.html.fromstring('<div><div class="c-paywall">x</div></div>'))
    assert not has_paywall_markup(lxml.html.fromstring('<div><p class="subscribe">x</p></div>'))


def test_an_all_caps_h1_takes_the_casing_of_the_source_that_confirms_it():
    sig = signals(
        head(
            '<meta property="og:title" content="Tips for Online Success">',
            body="<h1>TIPS FOR ONLINE SUCCESS</h1>",
        )
    )
    assert choose_title(sig, None) == ("Tips for Online Success", "h1")


# --- issue 13: failure classes seen on the tune half of wcxb-dev ------------------------------


def test_a_label_h1_sharing_no_words_with_the_other_titles_is_not_the_headline():
    sig = signals(
        head(
            "<title>Cybersecurity Sector Update, Fall 2025</title>",
            ld('{"@type": "Article", "headline": "Cybersecurity Sector Update, Fall 2025"}'),
            body="<h1>Mergers and Acquisitions Updates</h1><p>Text.</p>",
        )
    )
    assert choose_title(sig, None) == ("Cybersecurity Sector Update, Fall 2025", "jsonld")


def test_a_reworded_h1_that_shares_words_with_the_title_stays_the_headline():
    sig = signals(
        head(
            "<title>10 Free Accounting Tools for Small Businesses</title>",
            body="<h1>Ten accounting tools your small business can use for free</h1>",
        )
    )
    assert choose_title(sig, None) == (
        "Ten accounting tools your small business can use for free",
        "h1",
    )


def test_an_all_caps_h1_without_confirmation_takes_a_similar_sources_casing():
    sig = signals(
        head(
            '<meta property="og:title" content="Best Drip Coffee Maker 2026: Buying Tips">',
            body="<h1>BEST DRIP COFFEE MAKER IN 2026: BUYING TIPS</h1>",
        )
    )
    assert choose_title(sig, None) == ("Best Drip Coffee Maker 2026: Buying Tips", "og")


def test_a_lowercase_h1_takes_the_casing_of_the_title_segment_it_equals():
    sig = signals(
        head(
            "<title>History of coffee | Origin, Spread, Facts | Britannica</title>",
            body="<h1>history of coffee</h1>",
        ),
        url="https://www.britannica.com/topic/history-of-coffee",
    )
    assert choose_title(sig, None) == ("History of coffee", "h1")


def test_double_encoded_utf8_in_titles_is_repaired():
    broken = "A DIY Investor\u00e2\u0080\u0099s Guide to Retirement Calculators"
    sig = signals(head(f"<title>{broken}</title>", body=f"<h1>{broken}</h1>"))
    assert choose_title(sig, None) == (
        "A DIY Investor\u2019s Guide to Retirement Calculators",
        "h1",
    )
    assert repair_mojibake("Caf\u00e9 cr\u00e8me") == "Caf\u00e9 cr\u00e8me"  # real Latin-1 text


def test_a_utc_meta_stamp_takes_the_offset_of_a_time_element_for_the_same_instant():
    sig = signals(
        head(
            '<meta property="article:published_time" content="2024-05-19T03:05:00+00:00">',
            body='<h1>Vote</h1><time datetime="2024-05-18T19:05:00-08:00">May 18</time>',
        )
    )
    [found] = meta_dates(sig, NOW)
    assert found == DateCandidate(
        ParsedDate("2024-05-19T03:05:00Z", "2024-05-18T19:05:00-08:00", True), "meta+time"
    )


@pytest.mark.parametrize("printed", ["May 18, 2024", "May 10, 2024"])
def test_a_printed_dateline_day_does_not_shift_a_utc_stamp_without_a_local_twin(printed):
    # Tried and dropped: the wcxb gold follows the UTC day there as often as the printed one.
    body = f"<h1>Late council vote on the harbour</h1><p>Posted on {printed}</p>"
    sig = signals(
        head('<meta property="article:published_time" content="2024-05-19T02:41:41Z">', body=body)
    )
    [found] = meta_dates(sig, NOW)
    assert (found.date.local, found.source) == ("2024-05-19T02:41:41+00:00", "meta")


def test_a_stamp_with_its_own_offset_is_left_alone():
    body = "<h1>Late council vote on the harbour</h1><p>May 18, 2024</p>"
    sig = signals(
        head(
            '<meta property="article:published_time" content="2024-05-19T08:00:00+09:00">',
            body=body,
        )
    )
    [found] = meta_dates(sig, NOW)
    assert (found.date.local, found.source) == ("2024-05-19T08:00:00+09:00", "meta")


@pytest.mark.parametrize(
    ("dateline", "day"),
    [
        ("By The Editors 12.12.2023 Key takeaways", "2023-12-12"),
        ("Posted 23/01/2024 in News", "2024-01-23"),
        ("Posted 1/23/2024 in News", "2024-01-23"),
        ("Posted 3/4/2024 in News", None),  # March 4 or 3 April: left to other sources
        ("Posted 31/02/2024 in News", None),  # no such day
    ],
)
def test_numeric_datelines_only_when_day_and_month_cannot_be_confused(dateline, day):
    sig = signals(head(body=f"<h1>Harbour bridge reopens after repairs</h1><p>{dateline}</p>"))
    assert [d.date.local for d in dateline_dates(sig, NOW)] == ([day] if day else [])


def test_date_source_names_both_origins_through_page_facts():
    html = head(
        '<meta property="article:published_time" content="2024-05-19T02:41:41Z">',
        body='<h1>Late council vote</h1><time datetime="2024-05-18T19:41:41-07:00">May 18</time>',
    )
    page = FetchedPage(
        FeedEntry(
            "o",
            "",
            None,
            None,
            [],
            None,
            "https://daily.example.com/a/1",
            None,
            None,
            None,
            [],
            [],
            None,
            0,
        ),
        "https://daily.example.com/a/1",
        200,
        "text/html",
        None,
        html.encode(),
        "2024-06-01T00:00:00Z",
        [],
    )
    facts = page_facts(lxml.html.fromstring(html), page)
    assert facts.date is not None
    assert (facts.date.source, facts.date.date.utc, facts.date.date.local) == (
        "meta+time",
        "2024-05-19T02:41:41Z",
        "2024-05-18T19:41:41-07:00",
    )


def test_a_date_panel_nested_in_the_h1_is_not_part_of_the_headline():
    body = (
        "<h1>Top Strategies to Optimize Blockchain Security<div></div><h3>"
        '<span>Posted on <time datetime="2024-07-01">July 1, 2024</time></span> by infuy</h3></h1>'
    )
    sig = signals(head("<title>Blockchain security, our take</title>", body=body))
    assert sig.h1 == ["Top Strategies to Optimize Blockchain Security"]
    # Inline markup inside the headline is kept, without inventing spaces.
    assert signals(head(body="<h1>Bridge <em>re</em>opens</h1>")).h1 == ["Bridge reopens"]
    # Text only in blocks: the first block with text is the headline, the deck is not.
    blocks = "<h1><div><p>Tax 101: the basics</p><h4>A guide to the taxes we pay</h4></div></h1>"
    assert signals(head(body=blocks)).h1 == ["Tax 101: the basics"]


def test_a_date_right_above_the_headline_is_read_when_none_follows_it():
    body = (
        "<nav>Home Blog Archive 2019</nav><div><p>February 4, 2025 - 11 minutes</p>"
        "<h1>Cloud computing innovations to watch</h1></div><p>No date in this text.</p>"
    )
    assert [d.date.local for d in dateline_dates(signals(head(body=body)), LATER)] == ["2025-02-04"]
    # A date after the headline wins over one above it.
    later = body.replace("No date in this text.", "Posted 1 March 2025")
    assert [d.date.local for d in dateline_dates(signals(head(body=later)), LATER)] == [
        "2025-03-01"
    ]


def test_a_brand_inside_a_one_word_host_name_is_a_site_segment():
    keys = {"getdianahr", "getdianahr com"}
    assert strip_site_name("Top 5 HR Tools in 2026 | DianaHR", keys) == "Top 5 HR Tools in 2026"
    # A headline segment of more words is never taken for the brand.
    title = "New HR rules | Diana HR explains them"
    assert strip_site_name(title, keys) == title
