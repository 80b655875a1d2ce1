from transforms.sinks.summary import build_summary


def test_balanced_run():
    counts = {
        "feed": 3,
        "entry": 10,
        "filtered:read_feeds:no_link": 1,
        "filtered:collapse_entries:duplicate_entry": 1,
        "filtered:fetch_pages:not_html": 1,
        "dead:read_feeds:malformed_feed": 1,
        "dead:fetch_pages:http_404": 2,
        "article:unique": 3,
        "article:same_story": 1,
        "duplicate:url": 1,
        "duplicate:exact_text": 1,
    }
    s = build_summary(counts, "r1", "/out")
    assert s["entries_in"] == 11  # 10 entries + 1 rejected while reading its feed
    assert s["feeds"] == {"configured": 3, "failed": 1, "ok": 2}
    assert s["articles"]["written"] == 6 and s["articles"]["duplicates_total"] == 2
    assert s["articles"]["unique"] == 4 and s["articles"]["same_story"] == 1
    assert s["dead_letters"] == {
        "total": 3,
        "feeds": 1,
        "entries": 2,
        "by_stage": {"read_feeds": {"malformed_feed": 1}, "fetch_pages": {"http_404": 2}},
    }
    assert s["balance"]["balanced"] is True


def test_a_lost_item_unbalances_the_run():
    counts = {"feed": 1, "entry": 5, "article:unique": 3, "filtered:fetch_pages:not_html": 1}
    assert build_summary(counts, "r1", "/out")["balance"]["balanced"] is False


def test_empty_run_is_balanced():
    s = build_summary({}, "r1", "/out")
    assert s["entries_in"] == 0 and s["balance"]["balanced"] is True
