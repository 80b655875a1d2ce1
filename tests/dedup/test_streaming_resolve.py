"""The streaming resolver's rules without Beam: canonical copies, story ids, merges, re-fetches."""

import random
from typing import Optional

from tests.dedup.test_dedup import article, state
from transforms.dedup.articles import Edge, choose_story_id, signature_of
from transforms.dedup.story.settings import StorySettings
from transforms.dedup.streaming.elements import NodeInfo, node_info, stream_signature
from transforms.dedup.streaming.resolve import (
    Memory,
    WindowLabels,
    cross_window_floor,
    new_story_id,
    resolve_window,
)

TTL = 1_000_000
SETTINGS = StorySettings()


def node(article_id: str, published: str, outlet: str = "o") -> NodeInfo:
    """A resolver node published at ``published`` (day and hour of January 2024)."""
    return node_info(article(article_id, published=f"2024-01-{published}:00:00Z", outlet=outlet))


def window(
    memory: Memory, now: int, nodes: list[NodeInfo], edges: Optional[list[Edge]] = None
) -> WindowLabels:
    """Resolve one window at time ``now``."""
    return resolve_window(memory, nodes, edges or [], now, TTL, SETTINGS, f"w{now}")


def labels(result: WindowLabels) -> dict[str, tuple[Optional[str], Optional[str], str]]:
    """article id -> (duplicate_of, dup_method, story_id)."""
    return {a.article_id: (a.duplicate_of, a.dup_method, a.story_id) for a in result.assignments}


def test_new_story_ids_are_batch_story_ids() -> None:
    early, late = article("b", published="2024-01-01T10:00:00Z"), article("a", published=None)
    nodes = [node_info(early), node_info(late)]
    expected = choose_story_id([state(signature_of(early)), state(signature_of(late))])
    assert new_story_id(nodes) == expected  # the earliest published member's, as batch
    result = window(Memory(), 10, nodes, [Edge("a", "b", "same_story", 0.5)])
    assert {sid for _d, _m, sid in labels(result).values()} == {expected}


def test_a_window_is_resolved_the_same_whatever_the_arrival_order() -> None:
    nodes = [node("x", "01T09"), node("y", "01T08"), node("z", "01T10"), node("w", "02T10")]
    edges = [
        Edge("x", "y", "near_duplicate", 0.9),
        Edge("z", "x", "url", 1.0),
        Edge("w", "z", "same_story", 0.3),
    ]
    first = window(Memory(), 10, nodes, edges)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(nodes)
        rng.shuffle(edges)
        assert window(Memory(), 10, nodes, edges) == first
    by_id = labels(first)
    # y is the earliest published: the canonical copy; x and z point at it with the strongest
    # layer of their own links (x: url to z beats near_duplicate to y). w is other coverage of
    # that story; y itself has no same-story edge, so no label (as batch).
    assert by_id["y"][:2] == (None, None)
    assert by_id["x"][:2] == ("y", "url")
    assert by_id["z"][:2] == ("y", "url")
    assert by_id["w"][:2] == (None, "same_story")
    assert len({sid for _d, _m, sid in by_id.values()}) == 1


def test_an_earlier_windows_canonical_copy_stays_canonical() -> None:
    memory = Memory()
    first = window(memory, 10, [node("late", "05T10")])
    # A copy published before it, arriving a window later: it points at the written original.
    second = window(memory, 20, [node("early", "01T10")], [Edge("early", "late", "url", 1.0)])
    assert labels(second)["early"] == ("late", "url", labels(first)["late"][2])


def test_two_stories_merge_into_the_one_that_started_first() -> None:
    memory = Memory()
    first = labels(window(memory, 10, [node("a", "01T10"), node("d", "01T11", outlet="p")]))
    story_a, story_d = first["a"][2], first["d"][2]
    assert story_a != story_d
    # m is a URL copy of d with a's body: both copy groups and both stories become one.
    merged = window(
        memory,
        20,
        [node("m", "01T12", outlet="q")],
        [Edge("m", "a", "exact_text", 1.0), Edge("m", "d", "url", 1.0)],
    )
    assert labels(merged)["m"] == ("a", "url", story_a)  # a is earlier: its group survives
    (row,) = merged.stories
    assert (row.story_id, row.member_ids, row.outlet_count) == (story_a, ["a", "d", "m"], 3)
    # Later copies that reach only d's old group get the surviving canonical copy and story.
    later = window(memory, 30, [node("n", "01T13")], [Edge("n", "d", "url", 1.0)])
    assert labels(later)["n"] == ("a", "url", story_a)
    assert later.stories[0].member_ids == ["a", "d", "m", "n"]


def test_a_refetched_article_is_filtered_and_state_expires() -> None:
    memory = Memory()
    window(memory, 10, [node("a", "01T10")])
    again = window(memory, 20, [node("a", "01T10"), node("b", "01T11"), node("b", "01T11")])
    assert [n.article_id for n, _detail in again.filtered] == ["a", "b"]
    assert [a.article_id for a in again.assignments] == ["b"]
    # After the TTL, "a" is forgotten: a copy of it is an original again.
    after = window(memory, 10 + TTL + 1, [node("c", "01T12")], [Edge("c", "a", "url", 1.0)])
    assert labels(after)["c"][:2] == (None, None)
    assert "a" not in memory.labels and "b" in memory.labels


def test_weak_edges_to_earlier_windows_count_only_as_the_new_articles_best() -> None:
    memory = Memory()
    nodes = [node("p", "01T10"), node("q", "01T10")]
    first = labels(window(memory, 10, nodes))
    # r's edges are weak (below strong_threshold 0.2): r-p is r's best and links; r-q would be
    # q's best, but q (an earlier window's article) does not vote, so r-q is dropped.
    result = window(
        memory,
        20,
        [node("r", "01T11")],
        [Edge("r", "p", "same_story", 0.16), Edge("r", "q", "same_story", 0.12)],
    )
    assert round(cross_window_floor(SETTINGS), 6) == 0.15
    assert labels(result)["r"][2] == first["p"][2]
    assert [row.member_ids for row in result.stories] == [["p", "r"]]
    # A weak edge to an earlier window below the floor links nothing, even as the best one ...
    weak = window(memory, 30, [node("t", "01T12")], [Edge("t", "q", "same_story", 0.12)])
    assert labels(weak)["t"][2] not in {first["p"][2], first["q"][2]}
    # ... inside one window the batch rule alone decides; a strong edge links whatever the ranks.
    inside = window(
        memory,
        40,
        [node("u", "01T13"), node("v", "01T13")],
        [Edge("u", "v", "same_story", 0.12), Edge("u", "q", "same_story", 0.25)],
    )
    assert {sid for _d, _m, sid in labels(inside).values()} == {first["q"][2]}


def test_signatures_use_the_batch_keys_and_skip_short_bodies() -> None:
    short = stream_signature(article("s", words=12), None, SETTINGS)
    sig = signature_of(article("s", words=12))
    assert short.copy_keys == [f"u{sig.url_key}", f"c{sig.canonical_key}"]  # no content key
    assert short.minhash is None and short.features.terms == sig.story_terms
