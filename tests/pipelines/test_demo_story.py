"""The seed's event in the demo: the Putin-Kim meeting at the Vostochny Cosmodrome on 13 September
2023, covered by Republika (Indonesian, the seed), a TASS-style report (Russian) and a KCNA-style
report (English) and a Rodong Sinmun-style report (Korean), is one story; a follow-up a month
later joins it through the far window; an in-window report about Kim at another event should not
(a known failure, strict xfail).

The Russian, English and Korean pages and the controls are written for the demo, not real reports
(seeds/demo/README.md). The scores quoted below are ``story_similarity`` of the articles' story
features, with the IDF over the demo's 37 articles (as the pipeline computes it).
"""

import duckdb
import pytest

# Article URLs in seeds/demo (illustrative URLs on the outlets' real hosts).
SEED = "https://internasional.republika.co.id/berita/demo-putin-kim/putin-dan-kim-jong-un-saling-beri-senapan-sebagai-cendera-mata"
TASS_RU = "https://tass.ru/politika/demo-putin-kim-vostochny"
KCNA_EN = "https://kcnawatch.org/newstream/demo-kim-jong-un-putin-vostochny-cosmodrome/"
RODONG_KO = "http://rodong.rep.kp/ko/demo-kim-jong-un-putin-vostochny.html"
# Controls: Lavrov's visit to Pyongyang (19 October 2023, TASS style, Russian) and the Supreme
# People's Assembly session with Kim's speech (26-27 September 2023, KCNA style, English).
LAVROV_RU = "https://tass.ru/politika/demo-lavrov-pyongyang"
SPA_EN = "https://kcnawatch.org/newstream/demo-spa-constitution-nuclear-force/"

# The same event, by URL: (outlet, detected language).
COVERAGE = {SEED: ("republika", "id"), TASS_RU: ("tass-ru", "ru"), KCNA_EN: ("kcnawatch", "en")}


def rows_by_url(out):
    """url -> (article_id, outlet_id, language, story_id, dup_method) of the demo's articles."""
    rows = (
        duckdb.connect()
        .execute(
            "SELECT url, article_id, outlet_id, language, story_id, dup_method "
            f"FROM read_parquet('{out}/articles/**/*.parquet', hive_partitioning = true)"
        )
        .fetchall()
    )
    return {r[0]: r[1:] for r in rows}


def story_row(out, story_id):
    """The stories table's row of ``story_id`` (a single run: exactly one row)."""
    (row,) = (
        duckdb.connect()
        .execute(
            "SELECT article_count, outlet_count, outlets, languages, member_ids, representative_id "
            f"FROM read_parquet('{out}/stories/**/*.parquet') WHERE story_id = ?",
            [story_id],
        )
        .fetchall()
    )
    return row


def seed_story(out):
    return rows_by_url(out)[SEED][3]


def test_the_seed_event_is_one_story_in_indonesian_russian_and_english(demo_run):
    out, summary = demo_run
    assert summary["balance"]["balanced"] is True
    assert summary["entries_in"] == (
        summary["articles"]["written"]
        + summary["filtered"]["total"]
        + summary["dead_letters"]["entries"]
    )
    rows = rows_by_url(out)
    for url, (outlet, language) in COVERAGE.items():
        assert rows[url][1:3] == (outlet, language), url
    # One story_id for the three reports, each labelled as coverage (not as a copy).
    story_id = seed_story(out)
    assert {rows[url][3] for url in COVERAGE} == {story_id}
    assert {rows[url][4] for url in COVERAGE} == {"same_story"}
    # The stories table has one row for it, listing all three from three outlets and languages.
    count, outlet_count, outlets, languages, members, representative = story_row(out, story_id)
    assert {rows[url][0] for url in COVERAGE} <= set(members)
    assert count == len(members) and representative in members
    assert outlet_count >= 3 and {"republika", "tass-ru", "kcnawatch"} <= set(outlets)
    assert {"id", "ru", "en"} <= set(languages)
    assert summary["stories"]["multi_outlet"] == 5


def test_a_follow_up_a_month_later_joins_through_the_far_window(demo_run):
    # Lavrov in Pyongyang, 19 October 2023 (TASS style, Russian): Lavrov, Kim, Putin, Pyongyang
    # as in the meeting's reports, 35 days later. It scores 0.40 with the Russian report of the
    # meeting (same language: all terms count), 0.11 with the seed, 0.12 with the English one.
    # Beyond the 30-day window a pair needs far_threshold (0.3) and must be an end's best edge
    # with nothing closer inside its window: this one is, so the story grows by the follow-up
    # (giveme5w1h's events run for months: docs/dedup-story.md). It is a member, not a copy.
    out, _ = demo_run
    rows = rows_by_url(out)
    assert rows[LAVROV_RU][1:3] == ("tass-ru", "ru")
    assert rows[LAVROV_RU][3] == seed_story(out)
    assert rows[LAVROV_RU][4] == "same_story"
    assert rows[LAVROV_RU][0] in story_row(out, seed_story(out))[4]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "same-story layer: the SPA session report (KCNA style, 28 Sept 2023, Kim only, 14 days "
        "after the meeting) scores 0.162 with the English report of the meeting (same outlet "
        "and language, so all terms count: 'DPRK', 'Kim Jong', 'Foreign Affairs', 'Workers' "
        "Party' (Kim's titles, in every KCNA report), 'Pyongyang', 'held', rare among the demo's "
        "37 articles). Below the strong threshold (0.2) but the control's best edge, so the top-1 "
        "rule keeps it and the control joins the story. Its other scores: seed 0.084, Russian "
        "report 0.028."
    ),
)
def test_a_control_in_the_window_is_not_in_the_story(demo_run):
    out, _ = demo_run
    rows = rows_by_url(out)
    assert rows[SPA_EN][1:3] == ("kcnawatch", "en")
    assert rows[SPA_EN][3] != seed_story(out)


def test_the_korean_report_joins_the_story(demo_run):
    # Hangul has no case, so the Korean report (KCNA style, North Korean spelling: 뿌찐,
    # 보스또츠니, 김정은) has no name terms; across languages it meets the others on its dates
    # (2023년 9월 13일 = 13 September = 13/9/2023) and numbers, and joins as best neighbour.
    out, _ = demo_run
    rows = rows_by_url(out)
    assert rows[RODONG_KO][1:3] == ("rodong", "ko")
    assert rows[RODONG_KO][3] == seed_story(out)
