"""Shingles, MinHash signatures and band keys, vectorized with numpy (pure functions)."""

import functools
import hashlib
import unicodedata
from collections.abc import Sequence

import numpy as np

from transforms.dedup.near.settings import NearDupSettings

U64 = np.uint64
_EMPTY = np.uint32(0xFFFFFFFF)
_MASK32 = U64(0xFFFFFFFF)

# Tokens are runs of word characters (\w+) of the NFKC-normalized, lowercased text; ideographs and
# kana are written without spaces and count as one token each, as
# transforms/core/textutil.word_count counts them, so Chinese and Japanese copies get character
# shingles instead of one token per clause. Implemented on code points with a lookup table instead
# of a per-token regex: on this machine re.findall(r"\w+") costs about 280 ns per token, a regex
# pass over non-ASCII text ~20 ns per character (same tokens, checked by the tests).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_NOT_WORD, _WORD, _CJK = 0, 1, 2
# Polynomial token hash base (odd, so its powers are invertible mod 2**64) and shingle combiner.
_TOKEN_BASE = 0x9E3779B97F4A7C15
_TOKEN_BASE_INV = pow(_TOKEN_BASE, -1, 1 << 64)
_SHINGLE_MUL = U64(0xBF58476D1CE4E5B9)
# Texts are hashed in chunks of about this many characters, so that the power tables (16 bytes
# per character) and each chunk's arrays (about 40 bytes per character, alive only while it is
# hashed) stay small: 4 MB of tables at 2**18, where 2**22 held 64 MB in every worker and
# another ~150 MB per chunk. A chunk is still dozens of articles, so numpy's per-call cost
# stays out of the profile; a longer text gets a chunk of its own.
_CHUNK_CHARS = 1 << 18


def mix64(x: np.ndarray) -> np.ndarray:
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


def warm_tables() -> None:
    """Build the hash power table and the character classes once (a worker's ``setup``)."""
    _POWERS.ensure(_CHUNK_CHARS + 1)
    _char_classes()


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
    token = mix64(token ^ ((ends - starts).astype(U64) << U64(56)))
    # Shingle hash: k consecutive token hashes of one text combined in order, then mixed with the
    # seed. Shingles that would cross from one text into the next are dropped.
    doc_of_token = np.repeat(np.arange(n), counts_tokens)
    m = token.size - k + 1
    shingle = token[:m].copy()
    for j in range(1, k):
        shingle = shingle * _SHINGLE_MUL + token[j : j + m]
    shingle = mix64(shingle ^ _seed_word(settings.seed, 0))
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
    return (mix64(key) % U64(settings.num_perm)).astype(np.int64)


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
    return minhash_flat(values.astype(U64, copy=False), counts, settings)


def minhash_flat(values: np.ndarray, counts: np.ndarray, settings: NearDupSettings) -> np.ndarray:
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
        mix64(np.arange(b, dtype=U64) ^ _seed_word(settings.seed, 2)), (n, b)
    ).copy()
    for j in range(r):
        keys = mix64(keys ^ cube[:, :, j])
    return keys


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal signature values: the MinHash estimate of the Jaccard similarity."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two hash arrays taken as sets (0 when both are empty)."""
    ua, ub = np.unique(a), np.unique(b)
    union = ua.size + ub.size
    if union == 0:
        return 0.0
    inter = np.intersect1d(ua, ub, assume_unique=True).size
    return inter / (union - inter)


def exact_jaccard(text_a: str, text_b: str, settings: NearDupSettings) -> float:
    """Jaccard similarity of the two texts' shingle sets (64-bit hashes: exact in practice)."""
    return set_jaccard(shingle_hashes(text_a, settings), shingle_hashes(text_b, settings))


def pack_signature(signature: np.ndarray) -> bytes:
    """Serialize one signature (little-endian uint32), as stored for later runs."""
    return np.asarray(signature, dtype="<u4").tobytes()


def unpack_signature(data: bytes) -> np.ndarray:
    """Inverse of ``pack_signature``."""
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)
