import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.components import ConnectedComponents


def reference(edges):
    """Plain union-find: (node, smallest node of its component)."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            parent[high] = low
    return sorted((n, find(n)) for n in parent)


PATH = [(f"n{i:04d}", f"n{i + 1:04d}") for i in range(120)]  # diameter 120: beyond 4 rounds
STARS = [(f"s{h}", f"s{h}-{k}") for h in range(5) for k in range(6)] + [("s1", "s3-2")]
_rng = random.Random(7)
RANDOM = [
    (a, b)
    for a, b in ((f"r{_rng.randrange(150):03d}", f"r{_rng.randrange(150):03d}") for _ in range(140))
    if a != b
]


@pytest.mark.parametrize("rounds", [0, 1, 4])
@pytest.mark.parametrize(
    "edges", [PATH, STARS, RANDOM, PATH + STARS + RANDOM], ids=["path", "stars", "random", "all"]
)
def test_components_equal_a_plain_union_find(edges, rounds):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(edges) | ConnectedComponents(rounds)
        assert_that(out, equal_to(reference(edges)))


def test_reversed_and_repeated_edges():
    edges = [("b", "a"), ("a", "b"), ("c", "b"), ("c", "b"), ("x", "y")]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(edges) | ConnectedComponents()
        assert_that(out, equal_to([("a", "a"), ("b", "a"), ("c", "a"), ("x", "x"), ("y", "x")]))


def test_edges_spread_over_workers_still_join():
    """Multi-process runner: the two halves of a component arrive at different workers."""
    edges = PATH[:60] + STARS
    with BeamTestPipeline(
        runner="FnApiRunner",
        options=beam.options.pipeline_options.PipelineOptions(
            direct_num_workers=2, direct_running_mode="multi_processing"
        ),
    ) as p:
        out = p | beam.Create(edges, reshuffle=True) | ConnectedComponents(2)
        assert_that(out, equal_to(reference(edges)))
