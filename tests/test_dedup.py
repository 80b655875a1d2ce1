from typing import Optional

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup import (
    DedupArticles,
    Edge,
    UnionFind,
    apply_label,
    canonical_order,
    star_edges,
)
from transforms.records import SCHEMA_VERSION, Article


def article(
    article_id: str,
    url: Optional[str] = None,
    canonical: Optional[str] = None,
    text: str = "some text",
    published: Optional[str] = "2024-01-01T00:00:00Z",
    content_hash: Optional[str] = None,
) -> Article:
    url = url or f"https://a.example/{article_id}"
    return Article(
        article_id=article_id,
        url=url,
        source_url=url,
        canonical_url=canonical or url,
        outlet_id="o",
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
        word_count=2,
        fetched_at="2024-01-02T00:00:00Z",
        content_hash=content_hash or f"h-{article_id}",
        quality_flags=[],
        duplicate_of=None,
        dup_method=None,
        schema_version=SCHEMA_VERSION,
    )


def test_canonical_copy_is_earliest_published_then_url():
    early = article("x", url="https://b.example/1", published="2024-01-01T00:00:00Z")
    late = article("y", url="https://a.example/1", published="2024-01-02T00:00:00Z")
    undated = article("z", url="https://0.example/1", published=None)
    assert sorted([late, undated, early], key=canonical_order) == [early, late, undated]


def test_union_find_joins_chains_and_keeps_the_strongest_method():
    a, b, c, d = (
        canonical_order(article(i, published=f"2024-01-0{n}T00:00:00Z"))
        for n, i in enumerate("abcd", start=1)
    )
    uf = UnionFind()
    uf.add(Edge(d, c, "exact_text"))
    uf.add(Edge(c, b, "canonical_url"))
    other = UnionFind()
    other.add(Edge(b, a, "exact_text"))
    other.add(Edge(d, c, "url"))
    uf.merge(other)
    assert uf.labels() == {
        "b": ("a", "canonical_url"),
        "c": ("a", "url"),
        "d": ("a", "url"),
    }


def test_star_edges_link_members_to_the_first():
    nodes = [canonical_order(article(i)) for i in "cab"]
    edges = star_edges("url", nodes)
    assert {e.a[3] for e in edges} == {"b", "c"} and {e.b[3] for e in edges} == {"a"}


def test_apply_label_clears_stale_labels():
    stale = article("a")._replace(duplicate_of="zzz", dup_method="url")
    assert apply_label(stale, {}).duplicate_of is None


def test_dedup_composite_labels_every_layer_and_transitive_groups():
    arts = [
        # same URL reached through two links (redirect): url duplicate
        article("u1", url="https://a.example/story", published="2024-01-01T00:00:00Z"),
        article("u2", url="https://a.example/story", published="2024-01-01T00:00:00Z"),
        # AMP page whose rel=canonical is the original: canonical_url duplicate
        article("c1", url="https://b.example/news/1", published="2024-01-02T00:00:00Z"),
        article(
            "c2",
            url="https://b.example/amp/news/1",
            canonical="https://b.example/news/1",
            published="2024-01-03T00:00:00Z",
        ),
        # same body at an unrelated URL, and it chains to c2 via canonical -> one component
        article(
            "t1",
            url="https://c.example/copy",
            content_hash="h-c2",
            published="2024-01-01T12:00:00Z",
        ),
        article(
            "c2b",
            url="https://b.example/print/1",
            canonical="https://b.example/print/1",
            content_hash="h-c1",
            published="2024-01-05T00:00:00Z",
        ),
        # a different story stays alone
        article("solo"),
    ]
    arts[3] = arts[3]._replace(content_hash="h-c2")
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(arts) | DedupArticles()
        assert_that(
            out | beam.Map(lambda a: (a.article_id, a.duplicate_of, a.dup_method)),
            equal_to(
                [
                    ("u1", None, None),
                    ("u2", "u1", "url"),
                    # t1 (published 01-01 12:00) is earlier than c1 (01-02): the canonical copy
                    ("t1", None, None),
                    ("c1", "t1", "canonical_url"),
                    ("c2", "t1", "canonical_url"),
                    ("c2b", "t1", "exact_text"),
                    ("solo", None, None),
                ]
            ),
        )
