"""Near-duplicate layer: syndicated copies with light edits, by MinHash + LSH, verified.

``settings`` (knobs, the edge record), ``hashing`` (shingles, signatures, band keys), ``pairs``
(candidates and their check), ``edges`` (the Beam steps).
"""

from transforms.dedup.near.edges import NearDuplicateEdges, NearDupOutputs
from transforms.dedup.near.settings import NearDupEdge, NearDupSettings

__all__ = ["NearDupEdge", "NearDupOutputs", "NearDupSettings", "NearDuplicateEdges"]
