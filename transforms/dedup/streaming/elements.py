"""What travels between the streaming dedup steps, and the pure functions that build it.

No ``from __future__ import annotations`` here: Beam reads these NamedTuples' hints at runtime.
"""

import zlib
from typing import Dict, List, NamedTuple, Optional  # noqa: UP035

import numpy as np

from transforms.core.records import Article
from transforms.dedup.articles import (
    MIN_WORDS_FOR_TEXT_MATCH,
    OrderKey,
    canonical_order,
    features_of_signature,
    signature_of,
)
from transforms.dedup.near.hashing import band_keys, pack_signature
from transforms.dedup.near.pairs import SignedBatch, sign_texts
from transforms.dedup.near.settings import NearDupSettings
from transforms.dedup.story.settings import StoryFeatures, StorySettings

# Key prefixes of the copy index: one keyed state serves the three exact layers and the LSH bands.
COPY_KEY_METHODS = {"u": "url", "c": "canonical_url", "x": "exact_text", "b": "near_duplicate"}
# The pseudo-term every article counts under: its document frequency is N, the article count.
ALL_ARTICLES_TERM = ""
# Document frequencies are kept in this many shards of the vocabulary: one element per article and
# shard instead of one per term (giveme5w1h: 84 terms per article, 16 elements instead of 85).
TERM_SHARDS = 16


class NodeInfo(NamedTuple):
    """The few fields of an article the resolver keeps (labels, story rows, filtered items)."""

    article_id: str
    url: str
    outlet_id: str
    language: str
    title: Optional[str]
    published_at: Optional[str]
    fetched_at: str

    @property
    def order(self) -> OrderKey:
        """Batch's canonical-copy order: earliest published (unknown last), then URL, then id."""
        return canonical_order(self.published_at, self.url, self.article_id)


class StreamSignature(NamedTuple):
    """Everything the streaming layers compare of one article (computed once, in its window)."""

    node: NodeInfo
    # (prefix + key) of the exact layers and the LSH bands, see COPY_KEY_METHODS.
    copy_keys: List[str]  # noqa: UP006
    # One-permutation MinHash (packed little-endian uint32) and the 24-bit shingle fingerprints
    # (3 bytes each) of the body; None when the body is too short to be compared.
    minhash: Optional[bytes]
    fingerprints: Optional[bytes]
    features: StoryFeatures


class CopyPost(NamedTuple):
    """An article posted under one copy key; band posts carry what the verifier needs."""

    article_id: str
    order: OrderKey
    minhash: Optional[bytes] = None
    fingerprints: Optional[bytes] = None


class StoryItem(NamedTuple):
    """An article's story features with the document frequencies of its terms at its window."""

    features: StoryFeatures
    df: Dict[str, int]  # noqa: UP006
    n_docs: int


class Posting(NamedTuple):
    """An article under one of its terms: stored there for later articles, and/or querying it.

    ``item`` is set when the article queries the term (requests carry it to the stored ends).
    """

    article_id: str
    hours: float
    item: Optional[StoryItem] = None
    store: bool = True


class StoreNear(NamedTuple):
    """Keep an article's MinHash and fingerprints (for later near-duplicate checks)."""

    minhash: bytes
    fingerprints: bytes


class StoreStory(NamedTuple):
    """Keep an article's story item (for later same-story scores)."""

    item: StoryItem


class NearRequest(NamedTuple):
    """Check whether ``article_id`` is a near-duplicate of the stored article it is sent to."""

    article_id: str
    minhash: bytes
    fingerprints: bytes


class StoryRequest(NamedTuple):
    """Score ``item`` against the stored article it is sent to."""

    item: StoryItem


class Assignment(NamedTuple):
    """The resolver's decision for one article: its labels, or a reason to filter it."""

    article_id: str
    story_id: str
    duplicate_of: Optional[str]
    dup_method: Optional[str]
    dup_score: Optional[float]
    filtered_reason: Optional[str] = None
    detail: str = ""


def node_info(article: Article) -> NodeInfo:
    """The resolver's view of an article."""
    return NodeInfo(
        article_id=article.article_id,
        url=article.url,
        outlet_id=article.outlet_id,
        language=article.language,
        title=article.title,
        published_at=article.published_at,
        fetched_at=article.fetched_at,
    )


def stream_signature(
    article: Article, near: Optional[NearDupSettings], story: StorySettings
) -> StreamSignature:
    """Keys, MinHash and story features of an article, with the batch layers' own functions."""
    sig = signature_of(article, story)
    keys = [f"u{sig.url_key}"]
    if sig.canonical_key:
        keys.append(f"c{sig.canonical_key}")
    if sig.content_hash:
        keys.append(f"x{sig.content_hash}")
    minhash = fingerprints = None
    # Same rule as batch (near_text): short bodies are not compared.
    if near is not None and article.word_count >= MIN_WORDS_FOR_TEXT_MATCH:
        batch, _skipped = sign_texts([(article.article_id, article.text)], near)
        if batch is not None:
            minhash = pack_signature(batch.signatures[0])
            fingerprints = batch.fingerprint_bytes.tobytes()
            keys.extend(f"b{int(key):016x}" for key in band_keys(batch.signatures, near)[0])
    return StreamSignature(
        node=node_info(article),
        copy_keys=keys,
        minhash=minhash,
        fingerprints=fingerprints,
        features=features_of_signature(sig),
    )


def copy_posts(sig: StreamSignature) -> list[tuple[str, CopyPost]]:
    """One post per copy key; band posts carry the MinHash and fingerprints."""
    order = sig.node.order
    posts = []
    for key in sig.copy_keys:
        if key.startswith("b"):
            posts.append((key, CopyPost(sig.node.article_id, order, sig.minhash, sig.fingerprints)))
        else:
            posts.append((key, CopyPost(sig.node.article_id, order)))
    return posts


def term_shard(term: str) -> str:
    """The term-count shard of a term (crc32: the same in every process, unlike ``hash``)."""
    return f"{zlib.crc32(term.encode('utf-8')) % TERM_SHARDS:02d}"


def term_posts(sig: StreamSignature) -> list[tuple[str, tuple[str, list[str]]]]:
    """(shard, (article id, its terms in that shard)), the all-articles pseudo-term included."""
    by_shard: dict[str, list[str]] = {}
    for term in (ALL_ARTICLES_TERM, *sig.features.terms):
        by_shard.setdefault(term_shard(term), []).append(term)
    return [(shard, (sig.node.article_id, terms)) for shard, terms in sorted(by_shard.items())]


def fingerprint_array(data: bytes) -> np.ndarray:
    """Unpack stored 3-byte fingerprints into uint32 values (through the batch layer's reader)."""
    packed = np.frombuffer(data, dtype=np.uint8)
    offsets = np.array([0, packed.size // 3], dtype=np.int64)
    batch = SignedBatch(0, False, [""], np.empty((1, 0), dtype=np.uint32), packed, offsets)
    return batch.fingerprints(0)
