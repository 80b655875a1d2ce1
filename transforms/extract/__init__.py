"""Stage 3, extract: ``FetchedPage`` -> ``Article`` (body and metadata, with provenance and flags).

``article`` (ExtractArticles, quality flags), ``body`` (trafilatura and text cleaning),
``signals`` (what the page declares), ``dates``, ``titles``, ``authors``, ``fields``.
"""

from transforms.extract.article import ExtractArticles

__all__ = ["ExtractArticles"]
