import os
import random
import re
import subprocess
import sys
import unicodedata

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from evaluation.planted import evaluate_planted, plant_copy, run_edges, split_sentences
from tests.conftest import FIXTURES, ROOT
from transforms.dedup.near.edges import NearDuplicateEdges
from transforms.dedup.near.hashing import (
    band_keys,
    estimated_jaccard,
    exact_jaccard,
    minhash_batch,
    pack_signature,
    set_jaccard,
    shingle_batch,
    shingle_hashes,
    tokens,
    unpack_signature,
)
from transforms.dedup.near.pairs import BandEntries, find_candidates, sign_texts
from transforms.dedup.near.settings import NearDupSettings

SETTINGS = NearDupSettings()
SENTENCES = (FIXTURES / "neardup" / "sentences.txt").read_text("utf-8").splitlines()


def articles(count: int, seed: int = 0) -> list[str]:
    """Articles of 8-15 distinct fixture sentences."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(SENTENCES, rng.randint(8, 15))) for _ in range(count)]


def light_copy(text: str, seed: int, target: float = 0.9) -> str:
    """A planted copy with true Jaccard about ``target``."""
    return plant_copy(split_sentences(text), target, random.Random(seed), SENTENCES)


def regex_tokens(text: str) -> list[str]:
    """The reference definition: \\w+ runs of the NFKC, lowercased text; CJK one per char."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])", r" \1 ", text)
    return re.findall(r"\w+", text)


@pytest.mark.parametrize(
    "text",
    [
        "The Mayor's office said: \u201cno comment\u201d \u2014 again (2024).",
        "snake_case words, e-mail and caf\u00e9 CAF\u00c9 na\u00efve",
        "\u2116 5 \uff21\uff22\uff23 \u2460 \ufb01ne",
        "\u041c\u043e\u0441\u043a\u0432\u0430, 14 \u0441\u0435\u043d\u0442\u044f\u0431\u0440\u044f"
        " \u2014 \u0422\u0410\u0421\u0421.",
        "\u5317\u4eac\u5e02\uff0c\u4eca\u5929\u4e0b\u96e8\u3002\u30c6\u30b9\u30c8abc\u6f22\u5b57",
        "Presiden Jokowi  bertemu\tdengan\nmenteri\u00a0luar negeri.",
        "",
        "   ...   ",
    ],
)
def test_tokens_follow_the_regex_definition(text):
    assert tokens(text) == regex_tokens(text)


def test_shingle_batch_equals_one_text_at_a_time():
    cjk = "\u6f22\u5b57\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059"
    texts = [*articles(20), "short one", "", cjk]
    values, offsets, token_counts = shingle_batch(texts, SETTINGS)
    for n, text in enumerate(texts):
        assert np.array_equal(values[offsets[n] : offsets[n + 1]], shingle_hashes(text, SETTINGS))
        assert token_counts[n] == len(tokens(text))
        assert offsets[n + 1] - offsets[n] == max(len(tokens(text)) - 4, 0)


def test_shingles_depend_on_words_and_order_only():
    a = shingle_hashes("One two three four five six", SETTINGS)
    assert a.dtype == np.uint64 and a.size == 2
    assert np.array_equal(a, shingle_hashes("ONE, two; three four  five\nsix!", SETTINGS))
    assert not np.array_equal(a, shingle_hashes("two one three four five six", SETTINGS))
    assert not np.array_equal(
        a, shingle_hashes("One two three four five six", NearDupSettings(seed=2))
    )


def test_exact_jaccard_counts_shingle_sets():
    words = [f"w{n}" for n in range(10)]
    a = " ".join(words)
    b = " ".join([*words[:9], "other"])
    # 6 shingles each, the first 5 shared: 5 / 7.
    assert exact_jaccard(a, b, SETTINGS) == pytest.approx(5 / 7)
    assert exact_jaccard(a, a, SETTINGS) == 1.0
    assert exact_jaccard("a b", "c d", SETTINGS) == 0.0


def test_signatures_are_the_same_in_another_process():
    text = articles(1, seed=3)[0]
    here = pack_signature(minhash_batch([shingle_hashes(text, SETTINGS)], SETTINGS)[0])
    code = (
        "import sys; from transforms.dedup.near.hashing import minhash_batch, pack_signature, "
        "shingle_hashes; from transforms.dedup.near import NearDupSettings; s = NearDupSettings(); "
        "sig = minhash_batch([shingle_hashes(sys.stdin.read(), s)], s)[0]; "
        "sys.stdout.write(pack_signature(sig).hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    ).stdout
    assert there == here.hex()
    assert len(here) == SETTINGS.num_perm * 4
    assert np.array_equal(
        unpack_signature(here), minhash_batch([shingle_hashes(text, SETTINGS)], SETTINGS)[0]
    )


def test_signatures_fill_every_bin_and_equal_texts_agree():
    texts = ["w " * 3 + " ".join(f"x{n}" for n in range(20)), *articles(3)]
    sigs = minhash_batch([shingle_hashes(t, SETTINGS) for t in texts + texts[:1]], SETTINGS)
    assert sigs.shape == (5, 128) and sigs.dtype == np.uint32
    assert not (sigs == np.uint32(0xFFFFFFFF)).any()  # densification left no bin empty
    assert np.array_equal(sigs[0], sigs[4])
    assert estimated_jaccard(sigs[1], sigs[2]) < 0.2


def test_estimated_jaccard_agrees_with_exact():
    errors = []
    for n, text in enumerate(articles(60, seed=5)):
        copy = light_copy(text, seed=n, target=random.Random(n).uniform(0.5, 0.95))
        sigs = minhash_batch(
            [shingle_hashes(text, SETTINGS), shingle_hashes(copy, SETTINGS)], SETTINGS
        )
        errors.append(estimated_jaccard(sigs[0], sigs[1]) - exact_jaccard(text, copy, SETTINGS))
    errors_arr = np.abs(np.array(errors))
    # 128 bins: standard deviation <= 0.044, so every error within 4 of them, the mean far less.
    assert errors_arr.max() < 0.18
    assert errors_arr.mean() < 0.045
    assert abs(np.mean(errors)) < 0.02  # no bias


def test_band_keys_differ_between_bands_and_follow_values():
    sig = np.zeros((2, 128), dtype=np.uint32)
    sig[1, :8] = 7  # only band 0 differs
    keys = band_keys(sig, SETTINGS)
    assert keys.shape == (2, 16) and keys.dtype == np.uint64
    assert len(set(keys[0].tolist())) == 16  # equal values, different bands: different keys
    assert keys[0, 0] != keys[1, 0]
    assert np.array_equal(keys[0, 1:], keys[1, 1:])


def test_oversized_buckets_are_skipped_and_counted():
    settings = NearDupSettings(max_bucket=3)
    key = np.array([42], dtype=np.uint64)
    entries = [BandEntries(batch, False, key, np.array([0], dtype=np.uint32)) for batch in range(4)]
    pairs, stats = find_candidates(entries, settings)
    assert pairs.batch_a.size == 0
    assert stats == {"buckets_over_cap": 1, "pairs_skipped_over_cap": 6}
    pairs, stats = find_candidates(entries[:3], settings)
    assert pairs.batch_a.size == 3 and stats["buckets_over_cap"] == 0


def test_history_pairs_among_old_articles_are_not_candidates():
    key = np.array([42], dtype=np.uint64)
    row = np.array([0], dtype=np.uint32)
    old = [BandEntries(1, True, key, row), BandEntries(2, True, key, row)]
    pairs, _ = find_candidates(old, SETTINGS)
    assert pairs.batch_a.size == 0
    pairs, _ = find_candidates([*old, BandEntries(3, False, key, row)], SETTINGS)
    assert sorted(zip(pairs.batch_a.tolist(), pairs.batch_b.tolist(), strict=True)) == [
        (1, 3),
        (2, 3),
    ]


def test_short_texts_are_skipped_and_counted():
    batch, skipped = sign_texts([("a", "too short to shingle"), ("b", articles(1)[0])], SETTINGS)
    assert skipped == 1
    assert batch is not None and batch.ids == ["b"]


def planted_set() -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """40 unrelated articles and 8 light copies of the first 8 (J about 0.9)."""
    originals = articles(40, seed=11)
    items = [(f"orig-{n:02d}", text) for n, text in enumerate(originals)]
    expected = set()
    for n in range(8):
        # The first seed whose copy lands at J >= 0.85 (one edit can take a short article far).
        copy = next(
            c
            for c in (light_copy(originals[n], seed=100 * n + s, target=0.92) for s in range(50))
            if exact_jaccard(originals[n], c, SETTINGS) >= 0.85
        )
        items.append((f"copy-{n:02d}", copy))
        expected.add((f"copy-{n:02d}", f"orig-{n:02d}"))
    return items, expected


def edge_pairs(edges):
    return sorted((e.a, e.b) for e in edges)


def test_near_duplicate_edges_finds_the_copies_and_nothing_else():
    items, expected = planted_set()
    settings = NearDupSettings(batch_size=7, partitions=3)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(items) | NearDuplicateEdges(settings)
        assert_that(
            out.edges | beam.Map(lambda e: (e.a, e.b)), equal_to(sorted(expected)), label="Edges"
        )
        assert_that(
            out.edges | beam.Map(lambda e: e.a < e.b and 0.6 <= e.score <= 1.0),
            equal_to([True] * len(expected)),
            label="Ordered",
        )
        assert_that(out.signatures | beam.Keys(), equal_to([i for i, _ in items]), label="Signed")
        assert_that(
            out.signatures | beam.Map(lambda kv: len(kv[1])),
            equal_to([512] * len(items)),
            label="Packed",
        )


def test_pair_split_across_bundles_and_batches_is_found():
    items, expected = planted_set()
    originals = [item for item in items if item[0].startswith("orig")]
    copies = [item for item in items if item[0].startswith("copy")]
    settings = NearDupSettings(batch_size=1, partitions=5)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        first = p | "Originals" >> beam.Create(originals)
        second = p | "Copies" >> beam.Create(copies)
        out = (first, second) | beam.Flatten() | NearDuplicateEdges(settings)
        assert_that(out.edges | beam.Map(lambda e: (e.a, e.b)), equal_to(sorted(expected)))


def test_history_edges_new_to_old_but_never_old_to_old():
    originals = articles(20, seed=21)
    old_items = [(f"old-{n:02d}", text) for n, text in enumerate(originals)]
    old_items.append(("old-copy", light_copy(originals[0], seed=1, target=0.95)))
    new_items = [("new-copy", light_copy(originals[0], seed=2, target=0.95))]
    new_items += [(f"new-{n:02d}", text) for n, text in enumerate(articles(10, seed=22))]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        old = p | "Old" >> beam.Create(old_items) | "OldRun" >> NearDuplicateEdges(SETTINGS)
        history = old.signatures
        new = (
            p
            | "New" >> beam.Create(new_items)
            | "NewRun" >> NearDuplicateEdges(SETTINGS, history=history)
        )
        assert_that(
            old.edges | "OldPairs" >> beam.Map(lambda e: (e.a, e.b)),
            equal_to([("old-00", "old-copy")]),
            label="Old",
        )
        assert_that(
            new.edges | "NewPairs" >> beam.Map(lambda e: (e.a, e.b)),
            equal_to([("new-copy", "old-00"), ("new-copy", "old-copy")]),
            label="New",
        )
        assert_that(
            new.signatures | beam.Keys(), equal_to([i for i, _ in new_items]), label="NewSigs"
        )


def test_history_with_wrong_signature_size_is_ignored():
    items, expected = planted_set()
    history = [("bogus", b"\x00" * 12)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        old = p | "History" >> beam.Create(history)
        out = p | beam.Create(items) | NearDuplicateEdges(SETTINGS, history=old)
        assert_that(out.edges | beam.Map(lambda e: (e.a, e.b)), equal_to(sorted(expected)))


def test_same_edges_on_multiprocessing_runner_and_other_batching():
    items = []
    originals = articles(120, seed=31)
    items = [(f"o{n:03d}", text) for n, text in enumerate(originals)]
    rng = random.Random(5)
    for n in range(40):
        items.append((f"c{n:03d}", light_copy(originals[n], seed=n, target=rng.uniform(0.6, 0.95))))
    reference = run_edges(items, NearDupSettings(batch_size=1000))
    assert len(reference) >= 15
    rebatched = run_edges(items, NearDupSettings(batch_size=9, partitions=7))
    assert rebatched == reference
    multi = run_edges(
        items,
        NearDupSettings(batch_size=16),
        PipelineOptions(
            runner="FnApiRunner", direct_num_workers=2, direct_running_mode="multi_processing"
        ),
    )
    assert multi == reference


def test_evaluate_planted_meets_the_goal_on_generated_articles():
    # 2,000 texts and 500 copies: about 150 pairs with J >= 0.8, so the recall measured has a
    # standard deviation near 0.01 around the ~0.98 that 16 x 8 banding gives on these copies.
    result = evaluate_planted(articles(2000, seed=41), seed=7)
    assert result["copies"] == 500
    assert result["positives"] >= 100
    assert result["recall"] >= 0.95
    assert result["precision"] >= 0.99
    buckets = result["recall_by_true_j"]
    assert set(buckets) == {"0.0-0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1.0"}
    assert sum(b["pairs"] for b in buckets.values()) == result["true_pairs"]
    # Copies span the intended range of true Jaccard.
    assert buckets["0.5-0.6"]["pairs"] > 0 and buckets["0.9-1.0"]["pairs"] > 0


def test_planted_copy_reaches_its_target():
    text = articles(1, seed=51)[0]
    for target in (0.55, 0.7, 0.85):
        copy = light_copy(text, seed=int(target * 100), target=target)
        assert target - 0.12 <= exact_jaccard(text, copy, SETTINGS) <= target + 0.03


def test_fingerprints_are_the_high_24_bits_of_the_shingle_hashes():
    texts = [articles(1, seed=61)[0], " ".join(articles(12, seed=62))]
    batch, _ = sign_texts([("s", texts[0]), ("l", texts[1])], SETTINGS)
    assert batch is not None
    for row, text in enumerate(texts):
        expected = (shingle_hashes(text, SETTINGS) >> np.uint64(40)).astype(np.uint32)
        assert np.array_equal(batch.fingerprints(row), expected)


def test_fingerprint_jaccard_stays_close_to_exact():
    texts = articles(60, seed=71) + [" ".join(articles(10, seed=72 + n)) for n in range(5)]
    errors = []
    for n, text in enumerate(texts):
        copy = light_copy(text, seed=n, target=0.8)
        batch, _ = sign_texts([("a", text), ("b", copy)], SETTINGS)
        assert batch is not None
        fingerprint = set_jaccard(batch.fingerprints(0), batch.fingerprints(1))
        errors.append(abs(fingerprint - exact_jaccard(text, copy, SETTINGS)))
    # A 24-bit collision (one in ~10^4 such pairs) would move J by 1/|union| (~0.007 here).
    assert max(errors) < 0.008
    assert np.mean(errors) < 0.0005
