from typing import Optional

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.dedup.test_dedup_near import articles as near_articles
from tests.dedup.test_dedup_near import light_copy
from transforms.core.records import SCHEMA_VERSION, Article, DedupSignature
from transforms.dedup.articles import (
    DedupArticles,
    Edge,
    Node,
    NodeState,
    choose_canonical,
    choose_story_id,
    node_order,
    signature_of,
    star_edges,
    stored_edges,
)
from transforms.dedup.near.hashing import (
    exact_jaccard,
    minhash_batch,
    pack_signature,
    shingle_hashes,
)
from transforms.dedup.near.settings import NearDupSettings


def article(
    article_id: str,
    url: Optional[str] = None,
    canonical: Optional[str] = None,
    text: str = "some text",
    published: Optional[str] = "2024-01-01T00:00:00Z",
    content_hash: Optional[str] = None,
    outlet: str = "o",
    words: int = 100,
) -> Article:
    url = url or f"https://a.example/{article_id}"
    return Article(
        article_id=article_id,
        url=url,
        source_url=url,
        canonical_url=canonical or url,
        outlet_id=outlet,
        feed_url="https://a.example/rss",
        guid=None,
        title="t",
        description=None,
        text=text,
        authors=[],
        published_at=published,
        date_source="feed",
        language="und",
        language_confidence=0.0,
        language_source="none",
        language_hints=[],
        categories=[],
        tags=[],
        image_url=None,
        sitename=None,
        word_count=words,
        fetched_at="2024-01-02T00:00:00Z",
        content_hash=content_hash or f"h-{article_id}",
        quality_flags=[],
        duplicate_of=None,
        dup_method=None,
        schema_version=SCHEMA_VERSION,
    )


def old(
    article_id,
    url=None,
    published="2023-12-01T00:00:00Z",
    story_id="st-old",
    duplicate_of=None,
    dup_method=None,
    **kw,
) -> DedupSignature:
    """A signature as an earlier run stored it."""
    sig = signature_of(article(article_id, url=url, published=published, **kw))
    return sig._replace(story_id=story_id, duplicate_of=duplicate_of, dup_method=dup_method)


def state(sig, is_new=True):
    return NodeState(Node(sig, is_new), sig.article_id, sig.article_id, None, None)


def test_canonical_copy_is_earliest_published_then_url_then_id():
    early = signature_of(article("x", url="https://b.example/1", published="2024-01-01T00:00:00Z"))
    late = signature_of(article("y", url="https://a.example/1", published="2024-01-02T00:00:00Z"))
    undated = signature_of(article("z", url="https://0.example/1", published=None))
    assert sorted([late, undated, early], key=node_order) == [early, late, undated]
    assert choose_canonical([state(late), state(undated), state(early)]) == "x"


def test_an_old_canonical_copy_stays_canonical():
    older_new = signature_of(article("n", published="2023-01-01T00:00:00Z"))
    assert choose_canonical([state(older_new), state(old("o1"), is_new=False)]) == "o1"
    # an old duplicate is not a candidate: its group's canonical is
    dup = old("o2", duplicate_of="o1", dup_method="url")
    assert choose_canonical([state(older_new), state(dup, is_new=False)]) == "n"


def test_story_id_is_inherited_from_the_earliest_old_member():
    a = old("a", published="2023-12-01T00:00:00Z", story_id="st-a")
    b = old("b", published="2023-11-01T00:00:00Z", story_id="st-b")
    new = signature_of(article("n"))
    assert choose_story_id([state(new), state(a, False), state(b, False)]) == "st-b"
    fresh = choose_story_id([state(new)])
    assert fresh.startswith("st") and fresh == choose_story_id([state(new)])


def test_star_edges_link_to_the_first_member_and_skip_old_only_groups():
    nodes = [(node_order(signature_of(article(i))), True) for i in "cab"]
    edges = star_edges("url", nodes)
    assert {(e.a, e.b) for e in edges} == {("b", "a"), ("c", "a")}
    assert all(e.score == 1.0 and e.method == "url" for e in edges)
    assert star_edges("url", [(n, False) for n, _ in nodes]) == []


def test_stored_edges_rebuild_old_groups_only():
    dup = old("d", duplicate_of="c", dup_method="exact_text")
    assert stored_edges(Node(dup, False)) == [Edge("d", "c", "exact_text", 1.0)]
    assert stored_edges(Node(dup, True)) == []
    assert stored_edges(Node(old("c"), False)) == []


def labels(out):
    return out | beam.Map(lambda a: (a.article_id, a.duplicate_of, a.dup_method, a.dup_score))


def test_dedup_labels_every_copy_layer_and_transitive_groups():
    arts = [
        # the same article reached through a redirect and through its AMP edition: url
        article("u1", url="https://a.example/story", published="2024-01-01T00:00:00Z"),
        article("u2", url="https://www.a.example/story/amp", published="2024-01-01T00:00:00Z"),
        # a page whose rel=canonical names another page: canonical_url
        article("c1", url="https://b.example/news/1", published="2024-01-02T00:00:00Z"),
        article(
            "c2",
            url="https://b.example/print?id=1",
            canonical="https://b.example/news/1",
            published="2024-01-03T00:00:00Z",
            content_hash="h-shared",
        ),
        # the same body at an unrelated URL, chained to c2: exact_text, one group with c1
        article(
            "t1",
            url="https://c.example/copy",
            content_hash="h-shared",
            published="2024-01-01T12:00:00Z",
        ),
        article("solo"),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(arts) | DedupArticles("r1")
        assert_that(
            labels(out.articles),
            equal_to(
                [
                    ("u1", None, None, None),
                    ("u2", "u1", "url", 1.0),
                    # t1 (01-01 12:00) is earlier than c1 (01-02): the group's canonical copy
                    ("t1", None, None, None),
                    ("c1", "t1", "canonical_url", 1.0),
                    ("c2", "t1", "canonical_url", 1.0),
                    ("solo", None, None, None),
                ]
            ),
            label="Labels",
        )
        stories = out.articles | "Stories" >> beam.Map(lambda a: (a.article_id, a.story_id))
        assert_that(
            stories
            | "GroupSizes" >> beam.Map(lambda kv: kv[1])
            | beam.combiners.Count.PerElement()
            | "Sizes" >> beam.Map(lambda kv: kv[1]),
            equal_to([2, 3, 1]),
            label="StorySizes",
        )
        assert_that(
            out.stories | "Rows" >> beam.Map(lambda s: (s.article_count, s.member_ids, s.run_id)),
            equal_to([(2, ["u1", "u2"], "r1"), (3, ["c1", "c2", "t1"], "r1"), (1, ["solo"], "r1")]),
            label="StoryRows",
        )
        assert_that(
            out.signatures | "Sig" >> beam.Map(lambda s: (s.article_id, s.duplicate_of)),
            equal_to(
                [
                    ("u1", None),
                    ("u2", "u1"),
                    ("t1", None),
                    ("c1", "t1"),
                    ("c2", "t1"),
                    ("solo", None),
                ]
            ),
            label="Signatures",
        )
        assert_that(out.filtered, equal_to([]), label="NothingFiltered")


def test_dedup_against_history_keeps_old_canonicals_and_story_ids():
    history = [
        old("o1", url="https://a.example/x", story_id="st-x"),
        old(
            "o2",
            url="https://b.example/y",
            story_id="st-x",
            duplicate_of="o1",
            dup_method="canonical_url",
        ),
        old("o3", url="https://z.example/z", story_id="st-z"),
    ]
    arts = [
        # a new copy of o2's body: joins o1's group through the stored edge o2 -> o1
        article(
            "n1",
            url="https://c.example/copy",
            content_hash="h-o2",
            published="2023-11-01T00:00:00Z",
        ),
        # o3 again (same id): already stored
        article("o3", url="https://z.example/z"),
        article("n2"),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        old_sigs = p | "History" >> beam.Create(history)
        out = p | beam.Create(arts) | DedupArticles("r2", old_sigs)
        assert_that(
            out.articles
            | beam.Map(lambda a: (a.article_id, a.duplicate_of, a.dup_method, a.story_id)),
            equal_to(
                [
                    # n1 is older than o1 but o1 stays canonical: rows already point at it
                    ("n1", "o1", "exact_text", "st-x"),
                    ("n2", None, None, choose_story_id([state(signature_of(article("n2")))])),
                ]
            ),
            label="Labels",
        )
        assert_that(
            out.filtered | beam.Map(lambda f: (f.url, f.reason)),
            equal_to([("https://z.example/z", "already_stored")]),
            label="Filtered",
        )
        assert_that(
            out.stories | "Rows" >> beam.Map(lambda s: (s.story_id, s.member_ids)),
            equal_to(
                [
                    ("st-x", ["n1", "o1", "o2"]),
                    (choose_story_id([state(signature_of(article("n2")))]), ["n2"]),
                ]
            ),
            label="Stories",
        )


def test_short_identical_bodies_are_not_text_copies():
    blurb = [
        article("v1", url="https://a.example/video/1", content_hash="h-blurb", words=12),
        article("v2", url="https://b.example/video/2", content_hash="h-blurb", words=12),
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(blurb) | DedupArticles("r1")
        assert_that(
            labels(out.articles), equal_to([("v1", None, None, None), ("v2", None, None, None)])
        )


def _packed_minhash(text: str) -> bytes:
    """The MinHash an earlier run would have stored for ``text``."""
    return pack_signature(minhash_batch([shingle_hashes(text, NearDupSettings())], NEAR)[0])


NEAR = NearDupSettings()


def test_light_edits_are_near_duplicates_scored_by_their_shingle_jaccard():
    source, other = near_articles(2, seed=31)
    copy = light_copy(source, seed=3, target=0.95)
    arts = [
        article("src", text=source, published="2024-01-01T00:00:00Z", words=300),
        article("copy", text=copy, published="2024-01-01T06:00:00Z", words=300),
        article("other", text=other, words=300),
    ]
    expected = round(exact_jaccard(source, copy, NEAR), 4)
    assert 0.85 <= expected < 1.0
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(arts) | DedupArticles("r1")
        assert_that(
            labels(out.articles),
            equal_to(
                [
                    ("src", None, None, None),
                    ("copy", "src", "near_duplicate", expected),
                    ("other", None, None, None),
                ]
            ),
            label="Labels",
        )
        # every stored signature carries its MinHash for later runs
        assert_that(
            out.signatures | beam.Map(lambda s: (s.article_id, s.minhash)),
            equal_to([(a.article_id, _packed_minhash(a.text)) for a in arts]),
            label="MinHashes",
        )


def test_near_duplicate_of_an_article_from_an_earlier_run_and_switched_off():
    source = near_articles(1, seed=32)[0]
    stored = old("o1", text=source, story_id="st-o1")._replace(minhash=_packed_minhash(source))
    fresh = [article("n1", text=light_copy(source, seed=4, target=0.95), words=300)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        history = p | "History" >> beam.Create([stored])
        on = p | "On" >> beam.Create(fresh) | "DedupOn" >> DedupArticles("r2", history)
        off = (
            p | "Off" >> beam.Create(fresh) | "DedupOff" >> DedupArticles("r2", history, near=None)
        )
        assert_that(
            on.articles | "LabelsOn" >> beam.Map(lambda a: (a.duplicate_of, a.dup_method)),
            equal_to([("o1", "near_duplicate")]),
            label="On",
        )
        assert_that(
            on.articles | "StoryOn" >> beam.Map(lambda a: a.story_id),
            equal_to(["st-o1"]),
            label="StoryOn",
        )
        # without the layer it is no copy; 31 days apart (beyond the story window), the story
        # layer still links it as coverage through a far edge (its best, score >= 0.3)
        assert_that(
            off.articles | "LabelsOff" >> beam.Map(lambda a: (a.duplicate_of, a.dup_method)),
            equal_to([(None, "same_story")]),
            label="Off",
        )
