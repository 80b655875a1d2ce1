"""Dedup layer 3: near-duplicate edges (syndicated copies with light edits).

Method: word 5-shingles hashed with a stable vectorized hash, one-permutation MinHash (OPH, 128
bins) with optimal densification, LSH with 16 bands of 8 rows, and verification of every candidate
pair: by the Jaccard of the two shingle sets (as 24-bit fingerprints) when both articles are in
this run, by the estimated Jaccard of the signatures when one of them comes from an earlier run
(``history``).

Everything is batch-level inside Beam: signatures are computed ``batch_size`` articles at a time
with numpy, band keys travel as arrays split into ``partitions`` hash partitions, candidate pairs
are de-duplicated per pair partition, and the rows a pair needs are fetched by joining row
requests with the signed batches on the batch key. No step holds more than one
partition or one batch, so a bucket whose members come from different workers or bundles is still
found, and the same input gives the same edges on any number of workers. Connected components and
labels are not done here (``transforms/dedup.py``); this layer only produces verified edges.
"""

import functools
import hashlib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

STAGE = "dedup_near"
U64 = np.uint64
_EMPTY = np.uint32(0xFFFFFFFF)
_MASK32 = U64(0xFFFFFFFF)

# Tokens are runs of word characters (\w+) of the NFKC-normalized, lowercased text; ideographs and
# kana are written without spaces and count as one token each, as transforms/textutil.word_count
# counts them, so Chinese and Japanese copies get character shingles instead of one token per
# clause. Implemented on code points with a lookup table instead of a per-token regex: on this
# machine re.findall(r"\w+") costs about 280 ns per token, a regex pass over non-ASCII text
# ~20 ns per character (same tokens, checked by the tests).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_NOT_WORD, _WORD, _CJK = 0, 1, 2
# Polynomial token hash base (odd, so its powers are invertible mod 2**64) and shingle combiner.
_TOKEN_BASE = 0x9E3779B97F4A7C15
_TOKEN_BASE_INV = pow(_TOKEN_BASE, -1, 1 << 64)
_SHINGLE_MUL = U64(0xBF58476D1CE4E5B9)
# Texts are hashed in chunks of about this many characters so the power tables stay small.
_CHUNK_CHARS = 1 << 22
# The exact check is skipped for candidates whose estimated Jaccard is this far below the
# threshold: with 128 bins the estimate's standard deviation is at most sqrt(.25/128) = 0.044, so
# 0.2 is 4.5 standard deviations (a true pair is lost this way with probability < 1e-5).
_EXACT_CHECK_MARGIN = 0.2
# The exact check compares 24-bit shingle fingerprints. Near J = 0.8 two texts of n shingles
# each share a false fingerprint about 2 * 0.1n * n / 2**24 times: 0.003 times at n = 500, moving
# J by 1/n when it happens. Measured on the 1M-article benchmark (where ~4,700 planted pairs lie
# within each 0.01 of J around 0.8): 32-bit fingerprints gave precision 1.000, 16-bit 0.993 (367
# pairs from J 0.79x accepted) and a peak of 5.1 GB instead of 7.4; 24 bits sit in between.
# Row requests are joined with the signed batches in this many separate joins (see
# NearDuplicateEdges.expand).
_ANSWER_SPLITS = 4


@dataclass(frozen=True)
class NearDupSettings:
    """Knobs of the near-duplicate layer (signatures are only comparable under equal settings)."""

    shingle_words: int = 5
    num_perm: int = 128
    # 16 x 8 banding catches a pair with Jaccard 0.8 with probability 1 - (1 - 0.8**8)**16 = 0.947,
    # 0.85 with 0.994; MEASURED.md: 16 x 8 recalled >= 0.99 of pairs with J >= 0.8, where
    # datasketch's own choice for threshold 0.8 (9 x 13) recalled 0.83.
    bands: int = 16
    rows: int = 8
    # Jaccard cut of the verification: the issue defines near-duplicates as J >= 0.8. New-vs-new
    # pairs are checked on their shingle sets (an estimate from 128 bins has a standard deviation
    # of 0.035 at J = 0.8, which alone cannot give precision 0.99 at that cut: measured at 1M,
    # the fingerprint check gave precision 1.000 at recall 0.991); pairs with a history article
    # only have signatures and are cut on the estimate.
    threshold: float = 0.8
    seed: int = 1
    batch_size: int = 1000
    # Buckets (articles sharing one band key) larger than this are skipped and counted: a bucket
    # of m articles costs m*(m-1)/2 candidate pairs, 200 members about 20k. Syndicated copies of one
    # story stay far below it; boilerplate-only texts do not.
    max_bucket: int = 200
    # Texts with fewer tokens are skipped and counted: below about 16 shingles a single shared
    # sentence decides the estimate and densification fills most bins with copies of a few values.
    min_tokens: int = 20
    # Hash partitions of the band-key and candidate-pair shuffles: each partition is one element
    # per batch, so the shuffle carries batches x partitions elements instead of one per key.
    partitions: int = 32

    def __post_init__(self) -> None:
        """Reject inconsistent settings early."""
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands * rows must not exceed num_perm")
        if self.shingle_words < 1 or self.min_tokens < self.shingle_words:
            raise ValueError("min_tokens must be at least shingle_words >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.batch_size < 1 or self.max_bucket < 2 or self.partitions < 1:
            raise ValueError("batch_size, partitions >= 1 and max_bucket >= 2 required")


DEFAULT_SETTINGS = NearDupSettings()


class NearDupEdge(NamedTuple):
    """Two near-duplicates, ``a < b``; score: checked Jaccard (estimated with a history article)."""

    a: str
    b: str
    score: float


class NearDupOutputs(NamedTuple):
    """What ``NearDuplicateEdges`` returns."""

    edges: PCollection
    signatures: PCollection


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


def _mix64(x: np.ndarray) -> np.ndarray:
    """Return the splitmix64 finalizer of a uint64 array (a bijection that spreads every bit)."""
    x = x ^ (x >> U64(30))
    x = x * U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> U64(27))
    x = x * U64(0x94D049BB133111EB)
    return x ^ (x >> U64(31))


def _seed_word(seed: int, purpose: int) -> np.uint64:
    """Derive a 64-bit constant from the seed and a purpose number (stable across processes)."""
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return U64(int.from_bytes(digest, "little"))


@functools.cache
def _char_classes() -> np.ndarray:
    """Class of every code point: not a word character, word character (``\\w``), CJK."""
    # Python's \w is str.isalnum() plus the underscore.
    classes = np.fromiter(
        (chr(c).isalnum() for c in range(0x110000)), dtype=np.uint8, count=0x110000
    )
    classes[ord("_")] = _WORD
    for low, high in _CJK_RANGES:
        classes[low : high + 1][classes[low : high + 1] == _WORD] = _CJK
    return classes


def _normalize(text: str) -> str:
    """NFKC and lowercase, as tokens see the text."""
    # is_normalized answers in well under a microsecond where normalize costs ~100 ns per
    # character even on text that is already in NFKC form.
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.lower()


def _token_bounds(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) offsets of the tokens in an array of code points."""
    classes = _char_classes()[codes]
    is_word = classes != _NOT_WORD
    cjk = np.flatnonzero(classes == _CJK)
    cut = np.zeros(codes.size + 1, dtype=bool)  # a token boundary before this character
    cut[cjk] = True
    cut[cjk + 1] = True
    previous = np.concatenate(([False], is_word))
    following = np.concatenate((is_word, [False]))
    starts = np.flatnonzero(following & (~previous | cut))
    ends = np.flatnonzero(previous & (~following | cut))
    return starts, ends


def _code_points(text: str) -> np.ndarray:
    """The text's code points as a uint32 array."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def tokens(text: str) -> list[str]:
    """Return the tokens of a text: lowercase ``\\w+`` runs of its NFKC form, CJK one per char."""
    text = _normalize(text)
    starts, ends = _token_bounds(_code_points(text))
    return [text[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


class _PowerTable:
    """Powers of the token hash base and of its inverse mod 2**64, grown on demand."""

    def __init__(self) -> None:
        self.pow = np.ones(1, dtype=U64)
        self.inv = np.ones(1, dtype=U64)

    def ensure(self, size: int) -> None:
        """Make the tables cover positions 0 .. size-1."""
        if self.pow.size >= size:
            return
        size = max(size, 2 * self.pow.size)
        base = np.full(size, _TOKEN_BASE, dtype=U64)
        base[0] = 1
        inv = np.full(size, _TOKEN_BASE_INV, dtype=U64)
        inv[0] = 1
        # Integer cumprod wraps around mod 2**64, which is the arithmetic wanted here.
        self.pow = np.cumprod(base, dtype=U64)
        self.inv = np.cumprod(inv, dtype=U64)


_POWERS = _PowerTable()


def _hash_chunk(
    texts: Sequence[str], settings: NearDupSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash the shingles of normalized texts: (shingle hashes, shingles and tokens per text)."""
    n = len(texts)
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=n)
    doc_start = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=doc_start[1:])
    codes = _code_points(" ".join(texts) + " ")
    starts, ends = _token_bounds(codes)
    counts_tokens = np.diff(np.searchsorted(starts, np.append(doc_start, codes.size)))
    k = settings.shingle_words
    if starts.size < k:
        return np.empty(0, dtype=U64), np.zeros(n, dtype=np.int64), counts_tokens
    # Token hash: polynomial of its code points mod 2**64, made position-independent with the
    # inverse power of its start, plus its length, then mixed. Equal tokens get equal hashes.
    _POWERS.ensure(codes.size + 1)
    prefix = np.zeros(codes.size + 1, dtype=U64)
    np.cumsum(codes.astype(U64) * _POWERS.pow[: codes.size], out=prefix[1:])
    token = (prefix[ends] - prefix[starts]) * _POWERS.inv[starts]
    token = _mix64(token ^ ((ends - starts).astype(U64) << U64(56)))
    # Shingle hash: k consecutive token hashes of one text combined in order, then mixed with the
    # seed. Shingles that would cross from one text into the next are dropped.
    doc_of_token = np.repeat(np.arange(n), counts_tokens)
    m = token.size - k + 1
    shingle = token[:m].copy()
    for j in range(1, k):
        shingle = shingle * _SHINGLE_MUL + token[j : j + m]
    shingle = _mix64(shingle ^ _seed_word(settings.seed, 0))
    keep = doc_of_token[:m] == doc_of_token[k - 1 :]
    counts = np.maximum(counts_tokens - k + 1, 0)
    return shingle[keep], counts, counts_tokens


def shingle_batch(
    texts: Sequence[str], settings: NearDupSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shingle hashes of many texts: (concatenated uint64 hashes, offsets [n+1], token counts)."""
    normalized = [_normalize(text) for text in texts]
    values: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    token_counts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    start = 0
    while start < len(normalized):
        stop, size = start, 0
        while stop < len(normalized) and (
            stop == start or size + len(normalized[stop]) < _CHUNK_CHARS
        ):
            size += len(normalized[stop]) + 1
            stop += 1
        chunk_values, chunk_counts, chunk_tokens = _hash_chunk(normalized[start:stop], settings)
        values.append(chunk_values)
        counts.append(chunk_counts)
        token_counts.append(chunk_tokens)
        start = stop
    offsets = np.zeros(len(normalized) + 1, dtype=np.int64)
    if normalized:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    all_values = np.concatenate(values) if values else np.empty(0, dtype=U64)
    return all_values, offsets, np.concatenate(token_counts)


def shingle_hashes(text: str, settings: NearDupSettings) -> np.ndarray:
    """Return the stable uint64 hashes of the text's word shingles (in text order, with repeats)."""
    values, _, _ = shingle_batch([text], settings)
    return values


def _probe(cols: np.ndarray, attempt: int, settings: NearDupSettings) -> np.ndarray:
    """Bin that an empty bin borrows from at a given attempt (the same for every document)."""
    key = cols.astype(U64) * U64(0x100000001B3) + U64(attempt) + _seed_word(settings.seed, 1)
    return (_mix64(key) % U64(settings.num_perm)).astype(np.int64)


def _densify(sig: np.ndarray, settings: NearDupSettings) -> None:
    """Fill empty bins in place by optimal densification (Shrivastava 2017)."""
    original = sig.copy()
    rows, cols = np.nonzero(original == _EMPTY)
    attempt = 0
    while rows.size:
        # Each empty bin probes a seeded sequence of bins until it finds one that was non-empty
        # before densification; equal documents borrow equally, so the estimate stays unbiased.
        borrowed = original[rows, _probe(cols, attempt, settings)]
        found = borrowed != _EMPTY
        sig[rows[found], cols[found]] = borrowed[found]
        rows, cols = rows[~found], cols[~found]
        attempt += 1
        if attempt >= 4096:
            break
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        # Only a document with no shingle at all gets here (it is skipped before signing), or one
        # after 4096 misses: take the next non-empty bin to the right.
        filled = np.flatnonzero(original[row] != _EMPTY)
        if filled.size:
            later = filled[filled > col]
            sig[row, col] = original[row, later[0] if later.size else filled[0]]


def minhash_batch(shingles: Sequence[np.ndarray], settings: NearDupSettings) -> np.ndarray:
    """One-permutation MinHash signatures, uint32 [n, num_perm], of many shingle hash arrays."""
    counts = np.fromiter((s.size for s in shingles), dtype=np.int64, count=len(shingles))
    values = np.concatenate(shingles) if shingles else np.empty(0, dtype=U64)
    return _minhash_flat(values.astype(U64, copy=False), counts, settings)


def _minhash_flat(values: np.ndarray, counts: np.ndarray, settings: NearDupSettings) -> np.ndarray:
    """Signatures of concatenated shingle hashes given the number of shingles per document."""
    k = settings.num_perm
    n = counts.size
    # Hashing every shingle once and keeping the minimum per bin (one-permutation hashing) costs
    # O(shingles) instead of O(shingles x 128); the high 32 bits choose the bin, the low 32 bits
    # are the value (independent bits of a mixed 64-bit hash).
    bins = ((values >> U64(32)) * U64(k)) >> U64(32)
    vals = np.minimum(values & _MASK32, U64(_EMPTY - 1)).astype(np.uint32)
    flat = np.repeat(np.arange(n, dtype=np.int64) * k, counts) + bins.astype(np.int64)
    flat_sig = np.full(n * k, _EMPTY, dtype=np.uint32)
    np.minimum.at(flat_sig, flat, vals)
    sig = flat_sig.reshape(n, k)
    _densify(sig, settings)
    return sig


def band_keys(signatures: np.ndarray, settings: NearDupSettings) -> np.ndarray:
    """Hash each band of ``rows`` signature values to a uint64 key, [n, bands]; bands differ."""
    n = signatures.shape[0]
    b, r = settings.bands, settings.rows
    cube = signatures[:, : b * r].reshape(n, b, r).astype(U64)
    keys = np.broadcast_to(
        _mix64(np.arange(b, dtype=U64) ^ _seed_word(settings.seed, 2)), (n, b)
    ).copy()
    for j in range(r):
        keys = _mix64(keys ^ cube[:, :, j])
    return keys


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal signature values: the MinHash estimate of the Jaccard similarity."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def _set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two hash arrays taken as sets (0 when both are empty)."""
    ua, ub = np.unique(a), np.unique(b)
    union = ua.size + ub.size
    if union == 0:
        return 0.0
    inter = np.intersect1d(ua, ub, assume_unique=True).size
    return inter / (union - inter)


def exact_jaccard(text_a: str, text_b: str, settings: NearDupSettings) -> float:
    """Jaccard similarity of the two texts' shingle sets (64-bit hashes: exact in practice)."""
    return _set_jaccard(shingle_hashes(text_a, settings), shingle_hashes(text_b, settings))


def pack_signature(signature: np.ndarray) -> bytes:
    """Serialize one signature (little-endian uint32), as stored for later runs."""
    return np.asarray(signature, dtype="<u4").tobytes()


def unpack_signature(data: bytes) -> np.ndarray:
    """Inverse of ``pack_signature``."""
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


# ---------------------------------------------------------------------------------------------
# Batch-level records (pickled by Beam's fallback coder; numpy arrays pickle as raw buffers)
# ---------------------------------------------------------------------------------------------


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
    signatures = _minhash_flat(kept_values, kept_counts, settings)
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
    key = _mix64(pairs.batch_a.astype(U64) ^ (pairs.row_a.astype(U64) << U64(40)))
    key = _mix64(key ^ pairs.batch_b.astype(U64) ^ (pairs.row_b.astype(U64) << U64(20)))
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
            score = _set_jaccard(fingerprints[position[2 * n]], fingerprints[position[2 * n + 1]])
            accepted = score >= settings.threshold
        else:
            accepted = score >= settings.threshold
        if accepted:
            low, high = sorted((id_a, id_b))
            edges.append(NearDupEdge(low, high, score))
        else:
            stats["rejected"] += 1
    return edges, stats


# ---------------------------------------------------------------------------------------------
# Beam
# ---------------------------------------------------------------------------------------------


def _count(stats: dict[str, int]) -> None:
    """Add a stats dict to this stage's Beam counters."""
    for name, value in stats.items():
        if value:
            Metrics.counter(STAGE, name).inc(value)


class SignBatchFn(beam.DoFn):
    """Sign a batch of (id, text); main output: the signed batch; ``bands`` and ``signatures``."""

    def __init__(self, settings: NearDupSettings) -> None:
        self.settings = settings

    def setup(self) -> None:
        """Warm the hash power tables once per worker."""
        _POWERS.ensure(_CHUNK_CHARS + 1)
        _char_classes()

    def process(self, items: list[tuple[str, str]]) -> Iterator[Any]:
        """Emit the signed batch, its band partitions and its signatures."""
        batch, skipped = sign_texts(items, self.settings)
        _count({"skipped_too_short": skipped, "signed": len(items) - skipped})
        if batch is None:
            return
        yield batch
        for entry in partition_bands(batch, self.settings):
            yield TaggedOutput("bands", entry)
        yield TaggedOutput("signatures", (batch.ids, batch.signatures))


class LoadHistoryFn(beam.DoFn):
    """Batch earlier articles' stored signatures; main output: the batch; ``bands``."""

    def __init__(self, settings: NearDupSettings) -> None:
        self.settings = settings

    def process(self, items: list[tuple[str, bytes]]) -> Iterator[Any]:
        """Emit the history batch and its band partitions."""
        batch, skipped = signed_history(items, self.settings)
        _count({"history_wrong_size": skipped, "history_loaded": len(items) - skipped})
        if batch is None:
            return
        yield batch
        for entry in partition_bands(batch, self.settings):
            yield TaggedOutput("bands", entry)


def _explode_signatures(batch: tuple[list[str], np.ndarray]) -> Iterator[tuple[str, bytes]]:
    """One (article id, packed signature) per article of a signed batch."""
    ids, signatures = batch
    packed = np.ascontiguousarray(signatures, dtype="<u4")
    for n, article_id in enumerate(ids):
        yield article_id, packed[n].tobytes()


class NearDuplicateEdges(beam.PTransform):
    """(article id, text) -> verified near-duplicate edges and every article's signature.

    ``history``: optional ``PCollection`` of (article id, packed signature) from earlier runs (the
    ``signatures`` output of those runs, same settings). Edges between a new article and an old one
    are found and verified on the estimated Jaccard; edges among old articles are never emitted.
    """

    def __init__(
        self,
        settings: NearDupSettings = DEFAULT_SETTINGS,
        history: Optional[PCollection] = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.history = history

    def _extract_input_pvalues(self, pvalueish: Any) -> Any:
        """Declare the history collection as a second main input of this composite."""
        pvalueish, inputs = super()._extract_input_pvalues(pvalueish)
        if self.history is not None:
            inputs = {**inputs, "history": self.history}
        return pvalueish, inputs

    # Returns NearDupOutputs; annotated Any because Beam warns about output hints that are not a
    # PCollection.
    def expand(self, texts: PCollection) -> Any:
        """Sign, band, find candidates, fetch their rows and verify them: NearDupOutputs."""
        settings = self.settings
        size = settings.batch_size
        signed = (
            texts
            | "BatchTexts" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "SignBatches"
            >> beam.ParDo(SignBatchFn(settings)).with_outputs("bands", "signatures", main="batches")
        )
        batches, bands = [signed.batches], [signed.bands]
        if self.history is not None:
            old = (
                self.history
                | "BatchHistory" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
                | "LoadHistory"
                >> beam.ParDo(LoadHistoryFn(settings)).with_outputs("bands", main="batches")
            )
            batches.append(old.batches)
            bands.append(old.bands)
        signatures = signed.signatures | "ExplodeSignatures" >> beam.FlatMap(
            _explode_signatures
        ).with_output_types(tuple[str, bytes])
        all_batches = batches | "FlattenBatches" >> beam.Flatten()
        requests = (
            bands
            | "FlattenBands" >> beam.Flatten()
            | "GroupBands" >> beam.GroupByKey()
            | "FindCandidates" >> beam.FlatMap(_candidates_step, settings)
            | "GroupCandidates" >> beam.GroupByKey()
            | "RequestRows" >> beam.FlatMap(_requests_step)
        )
        # Each pair partition's row requests are joined with the signed batches on the batch key,
        # in _ANSWER_SPLITS separate joins by key: a runner that keeps a stage's input in memory
        # (FnApiRunner) then holds one split in flight at a time instead of all batches (at 100k
        # articles one join peaked at twice the batches' size, four at 1.0 GB instead of 2.2).
        # A side input of the requests looked up by batch key (AsMultiMap) needed no shuffle of
        # the batches but lost ~3% of the requests at 1M articles with multi_processing workers.
        batch_splits = (
            all_batches
            | "KeyBatches" >> beam.Map(lambda batch: (batch.key, batch))
            | "SplitBatches" >> beam.Partition(SplitByKeyFn(), _ANSWER_SPLITS)
        )
        request_splits = requests | "SplitRequests" >> beam.Partition(
            SplitByKeyFn(), _ANSWER_SPLITS
        )
        halves = [
            {"batch": batch_splits[n], "request": request_splits[n]}
            | f"JoinRows{n}" >> beam.CoGroupByKey()
            | f"AnswerRequests{n}" >> beam.FlatMap(_answer_step)
            for n in range(_ANSWER_SPLITS)
        ]
        edges = (
            halves
            | "FlattenHalves" >> beam.Flatten()
            | "GroupHalves" >> beam.GroupByKey()
            | "VerifyPairs" >> beam.FlatMap(_verify_step, settings).with_output_types(NearDupEdge)
        )
        return NearDupOutputs(edges, signatures)


def _candidates_step(
    item: tuple[int, Iterable[BandEntries]], settings: NearDupSettings
) -> list[tuple[int, CandidatePairs]]:
    """Beam step: candidate pairs of one band partition, routed to pair partitions."""
    pairs, stats = find_candidates(item[1], settings)
    _count(stats)
    return split_pairs(pairs, settings.partitions) if pairs.batch_a.size else []


def _requests_step(item: tuple[int, Iterable[CandidatePairs]]) -> list[tuple[int, RowRequest]]:
    """Beam step: de-duplicate one pair partition and ask batches for the rows it needs."""
    partition, groups = item
    return row_requests(partition, unique_pairs(groups))


class SplitByKeyFn(beam.PartitionFn):
    """Send a (batch key, value) element to one of the row joins by its key."""

    def partition_for(self, element: Any, num_partitions: int, *args: Any, **kwargs: Any) -> int:
        """Which join handles the element."""
        key: int = element[0]
        return key % num_partitions


def _answer_step(item: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[tuple[int, PairHalves]]:
    """Beam step: cut the rows that pair partitions asked for out of one signed batch."""
    _, grouped = item
    requests = list(grouped["request"])
    if not requests:
        return
    batches = list(grouped["batch"])
    if len(batches) != 1:
        # Two batches under one key means the same ids were signed twice (their rows are equal,
        # either answers; verify_pairs drops the doubled halves); none cannot happen.
        Metrics.counter(STAGE, "batch_key_collisions").inc()
        if not batches:
            return
    yield from answer_requests(batches[0], requests)


def _verify_step(
    item: tuple[int, Iterable[PairHalves]], settings: NearDupSettings
) -> list[NearDupEdge]:
    """Beam step: verify one pair partition."""
    edges, stats = verify_pairs(item[1], settings)
    stats["edges"] = len(edges)
    _count(stats)
    return edges
