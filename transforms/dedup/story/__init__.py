"""Same-story layer: the same event reported by other outlets, in other languages.

``settings`` (knobs, feature and edge records), ``features`` (names, numbers, dates, terms),
``scoring`` (IDF cosine, scorers), ``edges`` (candidates and kept edges in Beam), ``embeddings``
(an optional RunInference signal).
"""

from transforms.dedup.story.edges import SameStoryEdges
from transforms.dedup.story.embeddings import EmbedStories
from transforms.dedup.story.settings import StoryEdge, StoryFeatures, StorySettings

__all__ = ["EmbedStories", "SameStoryEdges", "StoryEdge", "StoryFeatures", "StorySettings"]
