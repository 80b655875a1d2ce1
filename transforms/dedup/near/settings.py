"""Settings of the near-duplicate layer and the edge record it produces."""

from dataclasses import dataclass
from typing import NamedTuple

STAGE = "dedup_near"


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
