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
labels are not done here (``transforms/dedup/articles.py``); this layer only produces edges.

Modules: ``settings`` (knobs, the edge record), ``hashing`` (shingles, MinHash, band keys),
``pairs`` (candidates and their verification), this one (the Beam steps).
"""

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from transforms.dedup.near.hashing import warm_tables
from transforms.dedup.near.pairs import (
    BandEntries,
    CandidatePairs,
    PairHalves,
    RowRequest,
    answer_requests,
    find_candidates,
    partition_bands,
    row_requests,
    sign_texts,
    signed_history,
    split_pairs,
    unique_pairs,
    verify_pairs,
)
from transforms.dedup.near.settings import DEFAULT_SETTINGS, STAGE, NearDupEdge, NearDupSettings

# Row requests are joined with the signed batches in this many separate joins (see
# NearDuplicateEdges.expand).
_ANSWER_SPLITS = 4


class NearDupOutputs(NamedTuple):
    """What ``NearDuplicateEdges`` returns."""

    edges: PCollection
    signatures: PCollection


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
        warm_tables()

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
