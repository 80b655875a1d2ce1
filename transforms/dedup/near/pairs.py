"""Candidate pairs from shared band keys, de-duplicated per partition, verified (pure functions)."""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from transforms.dedup.near.hashing import (
    U64,
    band_keys,
    minhash_flat,
    mix64,
    set_jaccard,
    shingle_batch,
)
from transforms.dedup.near.settings import NearDupEdge, NearDupSettings

# The exact check is skipped for candidates whose estimated Jaccard is this far below the
# threshold: with 128 bins the estimate's standard deviation is at most sqrt(.25/128) = 0.044, so
# 0.2 is 4.5 standard deviations (a true pair is lost this way with probability < 1e-5).
_EXACT_CHECK_MARGIN = 0.2

# The exact check compares 24-bit shingle fingerprints. Near J = 0.8 two texts of n shingles
# each share a false fingerprint about 2 * 0.1n * n / 2**24 times: 0.003 times at n = 500, moving
# J by 1/n when it happens. Measured on the 1M-article benchmark (where ~4,700 planted pairs lie
# within each 0.01 of J around 0.8): 32-bit fingerprints gave precision 1.000, 16-bit 0.993 (367
# pairs from J 0.79x accepted) and a peak of 5.1 GB instead of 7.4; 24 bits sit in between.


@dataclass(frozen=True)
class SignedBatch:
    """Signatures of one batch, plus each article's shingle fingerprints when it is from this run.

    Fingerprints are the high 24 bits of each shingle hash, stored as 3 bytes (little-endian);
    article i has ``offsets[i + 1] - offsets[i]`` of them. History rows have none.
    """

    key: int
    history: bool
    ids: list[str]
    signatures: np.ndarray  # uint32 [n, num_perm]
    fingerprint_bytes: np.ndarray  # uint8 [3 * fingerprints]
    offsets: np.ndarray  # int64 [n + 1]

    def fingerprints(self, row: int) -> np.ndarray:
        """The shingle fingerprints of one row as uint32 values below 2**24."""
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        packed = self.fingerprint_bytes[3 * start : 3 * stop].reshape(-1, 3)
        wide = np.zeros((packed.shape[0], 4), dtype=np.uint8)
        wide[:, :3] = packed
        return wide.view("<u4").ravel().astype(np.uint32)


@dataclass(frozen=True)
class BandEntries:
    """One batch's band keys that fall into one partition."""

    batch: int
    history: bool
    keys: np.ndarray  # uint64
    rows: np.ndarray  # uint32: the article's row in its batch


@dataclass(frozen=True)
class CandidatePairs:
    """Candidate pairs as (batch, row, history) of both ends, a sorted before b."""

    batch_a: np.ndarray
    row_a: np.ndarray
    hist_a: np.ndarray
    batch_b: np.ndarray
    row_b: np.ndarray
    hist_b: np.ndarray


@dataclass(frozen=True)
class RowRequest:
    """Rows of one batch wanted by the pairs of one pair partition."""

    partition: int
    pair: np.ndarray  # int64 pair number inside the partition
    side: np.ndarray  # uint8: 0 = a, 1 = b
    rows: np.ndarray  # uint32


@dataclass(frozen=True)
class PairHalves:
    """The rows a pair partition asked one batch for."""

    pair: np.ndarray
    side: np.ndarray
    history: bool
    ids: list[str]
    signatures: np.ndarray
    fingerprints: list[np.ndarray]


def _batch_key(ids: Sequence[str], history: bool) -> int:
    """Stable 63-bit key of a batch from its article ids (unique ids give unique batches)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(b"history\x00" if history else b"new\x00")
    for article_id in ids:
        digest.update(article_id.encode("utf-8"))
        digest.update(b"\x00")
    return int.from_bytes(digest.digest(), "little") & ((1 << 63) - 1)


def sign_texts(
    items: Sequence[tuple[str, str]], settings: NearDupSettings
) -> tuple[Optional[SignedBatch], int]:
    """Sign a batch of (id, text): the signed batch of long-enough texts and how many were short."""
    values, offsets, token_counts = shingle_batch([text for _, text in items], settings)
    keep = token_counts >= settings.min_tokens
    skipped = int((~keep).sum())
    if not keep.any():
        return None, skipped
    counts = np.diff(offsets)
    ids = [item[0] for item, kept in zip(items, keep.tolist(), strict=True) if kept]
    kept_values = values[np.repeat(keep, counts)]
    kept_counts = counts[keep]
    signatures = minhash_flat(kept_values, kept_counts, settings)
    offsets = np.zeros(kept_counts.size + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=offsets[1:])
    high = (kept_values >> U64(40)).astype("<u4")
    fingerprint_bytes = high.view(np.uint8).reshape(-1, 4)[:, :3].ravel()
    batch = SignedBatch(_batch_key(ids, False), False, ids, signatures, fingerprint_bytes, offsets)
    return batch, skipped


def signed_history(
    items: Sequence[tuple[str, bytes]], settings: NearDupSettings
) -> tuple[Optional[SignedBatch], int]:
    """Batch stored signatures of earlier articles; wrong-sized signatures are skipped, counted."""
    size = settings.num_perm * 4
    good = [item for item in items if len(item[1]) == size]
    if not good:
        return None, len(items)
    ids = [item[0] for item in good]
    signatures = np.frombuffer(b"".join(item[1] for item in good), dtype="<u4")
    signatures = signatures.reshape(len(good), settings.num_perm).astype(np.uint32)
    batch = SignedBatch(
        _batch_key(ids, True),
        True,
        ids,
        signatures,
        np.empty(0, dtype=np.uint8),
        np.zeros(len(good) + 1, dtype=np.int64),
    )
    return batch, len(items) - len(good)


def partition_bands(batch: SignedBatch, settings: NearDupSettings) -> list[tuple[int, BandEntries]]:
    """Split a batch's band keys into hash partitions: one element per non-empty partition."""
    keys = band_keys(batch.signatures, settings).ravel()
    rows = np.repeat(np.arange(batch.signatures.shape[0], dtype=np.uint32), settings.bands)
    part = (keys % U64(settings.partitions)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(settings.partitions + 1))
    out = []
    for p in range(settings.partitions):
        sel = order[bounds[p] : bounds[p + 1]]
        if sel.size:
            out.append((p, BandEntries(batch.key, batch.history, keys[sel], rows[sel])))
    return out


def _pairs_in_runs(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) inside runs [start, start + size) of a sorted array."""
    left: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    right: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    for size in np.unique(sizes).tolist():
        run_starts = starts[sizes == size]
        i, j = np.triu_indices(size, 1)
        left.append((run_starts[:, None] + i[None, :]).ravel())
        right.append((run_starts[:, None] + j[None, :]).ravel())
    return np.concatenate(left), np.concatenate(right)


def find_candidates(
    entries: Iterable[BandEntries], settings: NearDupSettings
) -> tuple[CandidatePairs, dict[str, int]]:
    """Candidate pairs of one band partition: articles that share a band key (not old with old)."""
    parts = list(entries)
    stats = {"buckets_over_cap": 0, "pairs_skipped_over_cap": 0}
    if not parts:
        empty64, empty32 = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint32)
        empty_b = np.empty(0, dtype=bool)
        return CandidatePairs(empty64, empty32, empty_b, empty64, empty32, empty_b), stats
    sizes = [part.keys.size for part in parts]
    keys = np.concatenate([part.keys for part in parts])
    batch = np.repeat(np.array([part.batch for part in parts], dtype=np.int64), sizes)
    hist = np.repeat(np.array([part.history for part in parts], dtype=bool), sizes)
    rows = np.concatenate([part.rows for part in parts])
    # Sort by key, then by article, so runs and the pairs inside them do not depend on the order
    # in which batches arrived.
    order = np.lexsort((rows, batch, keys))
    keys, batch, hist, rows = keys[order], batch[order], hist[order], rows[order]
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    run_start = np.concatenate(([0], change))
    run_size = np.diff(np.append(run_start, keys.size))
    multi = run_size >= 2
    over = multi & (run_size > settings.max_bucket)
    stats["buckets_over_cap"] = int(over.sum())
    big = run_size[over].astype(np.int64)
    stats["pairs_skipped_over_cap"] = int((big * (big - 1) // 2).sum())
    ok = multi & ~over
    i, j = _pairs_in_runs(run_start[ok], run_size[ok])
    keep = ~(hist[i] & hist[j])
    i, j = i[keep], j[keep]
    return CandidatePairs(batch[i], rows[i], hist[i], batch[j], rows[j], hist[j]), stats


def _pair_partition(pairs: CandidatePairs, partitions: int) -> np.ndarray:
    """Stable partition number of each pair."""
    key = mix64(pairs.batch_a.astype(U64) ^ (pairs.row_a.astype(U64) << U64(40)))
    key = mix64(key ^ pairs.batch_b.astype(U64) ^ (pairs.row_b.astype(U64) << U64(20)))
    return (key % U64(partitions)).astype(np.int64)


def split_pairs(pairs: CandidatePairs, partitions: int) -> list[tuple[int, CandidatePairs]]:
    """Route candidate pairs to pair partitions (the same pair always goes to the same one)."""
    part = _pair_partition(pairs, partitions)
    out = []
    for p in np.unique(part).tolist():
        sel = part == p
        out.append(
            (
                p,
                CandidatePairs(
                    pairs.batch_a[sel],
                    pairs.row_a[sel],
                    pairs.hist_a[sel],
                    pairs.batch_b[sel],
                    pairs.row_b[sel],
                    pairs.hist_b[sel],
                ),
            )
        )
    return out


def unique_pairs(groups: Iterable[CandidatePairs]) -> CandidatePairs:
    """Concatenate candidate pairs and keep each pair once, in a stable order."""
    parts = list(groups)
    cols = [
        np.concatenate([getattr(part, name) for part in parts])
        for name in ("batch_a", "row_a", "hist_a", "batch_b", "row_b", "hist_b")
    ]
    batch_a, row_a, hist_a, batch_b, row_b, hist_b = cols
    order = np.lexsort((row_b, batch_b, row_a, batch_a))
    batch_a, row_a, hist_a, batch_b, row_b, hist_b = (c[order] for c in cols)
    first = np.ones(batch_a.size, dtype=bool)
    first[1:] = (
        (batch_a[1:] != batch_a[:-1])
        | (row_a[1:] != row_a[:-1])
        | (batch_b[1:] != batch_b[:-1])
        | (row_b[1:] != row_b[:-1])
    )
    return CandidatePairs(
        batch_a[first], row_a[first], hist_a[first], batch_b[first], row_b[first], hist_b[first]
    )


def row_requests(partition: int, pairs: CandidatePairs) -> list[tuple[int, RowRequest]]:
    """For each batch, the rows this pair partition needs from it (both ends of every pair)."""
    n = pairs.batch_a.size
    pair = np.concatenate([np.arange(n, dtype=np.int64)] * 2)
    side = np.repeat(np.array([0, 1], dtype=np.uint8), n)
    batch = np.concatenate([pairs.batch_a, pairs.batch_b])
    rows = np.concatenate([pairs.row_a, pairs.row_b])
    order = np.argsort(batch, kind="stable")
    pair, side, batch, rows = pair[order], side[order], batch[order], rows[order]
    change = np.flatnonzero(batch[1:] != batch[:-1]) + 1
    out = []
    for sel in np.split(np.arange(batch.size), change):
        if sel.size:
            out.append((int(batch[sel[0]]), RowRequest(partition, pair[sel], side[sel], rows[sel])))
    return out


def answer_requests(
    batch: SignedBatch, requests: Iterable[RowRequest]
) -> Iterator[tuple[int, PairHalves]]:
    """Cut the requested rows out of a signed batch, addressed to their pair partitions."""
    for request in requests:
        rows = request.rows.astype(np.int64)
        fingerprints = [batch.fingerprints(row) for row in rows.tolist()]
        yield (
            request.partition,
            PairHalves(
                request.pair,
                request.side,
                batch.history,
                [batch.ids[row] for row in rows.tolist()],
                batch.signatures[rows],
                fingerprints,
            ),
        )


def verify_pairs(
    halves: Iterable[PairHalves], settings: NearDupSettings
) -> tuple[list[NearDupEdge], dict[str, int]]:
    """Verify the pairs of one pair partition and return the edges that pass."""
    parts = list(halves)
    stats = {"candidates": 0, "exact_checks": 0, "rejected": 0, "incomplete": 0}
    if not parts:
        return [], stats
    pair = np.concatenate([part.pair for part in parts])
    side = np.concatenate([part.side for part in parts])
    history = np.repeat(
        np.array([part.history for part in parts]), [part.pair.size for part in parts]
    )
    ids = [article_id for part in parts for article_id in part.ids]
    sigs = np.concatenate([part.signatures for part in parts])
    fingerprints = [f for part in parts for f in part.fingerprints]
    order = np.lexsort((side, pair))
    # A half can arrive twice only if one batch of ids was signed twice (duplicate input rows):
    # both copies are equal, keep one.
    first = np.ones(order.size, dtype=bool)
    first[1:] = (pair[order][1:] != pair[order][:-1]) | (side[order][1:] != side[order][:-1])
    order = order[first]
    pair, side, history, sigs = pair[order], side[order], history[order], sigs[order]
    position = order.tolist()
    # Every pair number appears once per side; anything else would be a lost batch.
    complete = (pair[0::2].size == pair[1::2].size) and bool(
        np.all(pair[0::2] == pair[1::2]) and np.all(side[0::2] == 0) and np.all(side[1::2] == 1)
    )
    if not complete:
        counts = np.bincount(pair)
        stats["incomplete"] = int((counts == 1).sum())
        whole = counts[pair] == 2
        pair, side, history, sigs = pair[whole], side[whole], history[whole], sigs[whole]
        position = [p for p, w in zip(position, whole.tolist(), strict=True) if w]
    a, b = np.arange(0, pair.size, 2), np.arange(1, pair.size, 2)
    estimate = (sigs[a] == sigs[b]).mean(axis=1)
    both_new = ~history[a] & ~history[b]
    stats["candidates"] = int(a.size)
    edges = []
    for n in range(a.size):
        id_a, id_b = ids[position[2 * n]], ids[position[2 * n + 1]]
        if id_a == id_b:
            continue  # the same article in this run and in the history
        score = float(estimate[n])
        if both_new[n]:
            if score < settings.threshold - _EXACT_CHECK_MARGIN:
                stats["rejected"] += 1
                continue
            stats["exact_checks"] += 1
            # The checked Jaccard replaces the estimate as the edge's score: a user sees the
            # value that decided, never an accepted pair scored below the threshold.
            score = set_jaccard(fingerprints[position[2 * n]], fingerprints[position[2 * n + 1]])
            accepted = score >= settings.threshold
        else:
            accepted = score >= settings.threshold
        if accepted:
            low, high = sorted((id_a, id_b))
            edges.append(NearDupEdge(low, high, score))
        else:
            stats["rejected"] += 1
    return edges, stats
