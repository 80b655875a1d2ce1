"""Stage 4: identify the article's language with langdetect (seeded, so results are repeatable)."""

import threading
from collections.abc import Iterable
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

from transforms.common import DEAD, FILTERED, StageOutputs, unexpected
from transforms.records import Article
from transforms.settings import LanguageSettings

STAGE = "detect_language"
UNDETERMINED = "und"
_INIT_LOCK = threading.Lock()


class LanguageGuess(NamedTuple):
    """The detected language, its probability and what decided it."""

    language: str
    confidence: float
    source: str


def _factory() -> Any:
    """Return langdetect's profile factory, loading profiles once per process (thread-safe)."""
    with _INIT_LOCK:
        init_factory()
        from langdetect import detector_factory

        return detector_factory._factory


def primary_subtag(code: Optional[str]) -> Optional[str]:
    """Reduce a language tag (``zh-cn``, ``en_US``) to its lowercase primary subtag."""
    if not code:
        return None
    head = code.strip().lower().replace("_", "-").split("-")[0]
    return head if 2 <= len(head) <= 3 and head.isalpha() else None


def langdetect_probabilities(text: str, seed: int) -> list[LanguageGuess]:
    """Return langdetect's candidates for ``text`` (empty when it finds no features)."""
    # The seed makes langdetect's random sampling repeatable; it is read when a detector is made.
    DetectorFactory.seed = seed
    detector = _factory().create()
    detector.append(text)
    try:
        found = detector.get_probabilities()
    except LangDetectException:
        return []
    return [
        LanguageGuess(primary_subtag(item.lang) or UNDETERMINED, float(item.prob), "langdetect")
        for item in found
    ]


def detect_language(text: str, settings: LanguageSettings) -> LanguageGuess:
    """Detect the language of ``text``; ``und`` below the configured confidence."""
    sample = text[: settings.max_chars]
    candidates = langdetect_probabilities(sample, settings.seed)
    if not candidates:
        return LanguageGuess(UNDETERMINED, 0.0, "none")
    best = candidates[0]
    if best.confidence < settings.min_confidence:
        return LanguageGuess(UNDETERMINED, round(best.confidence, 4), "langdetect")
    return LanguageGuess(best.language, round(best.confidence, 4), "langdetect")


def with_language(article: Article, settings: LanguageSettings) -> Article:
    """Return ``article`` with language fields filled in."""
    guess = detect_language(article.text, settings)
    return article._replace(
        language=guess.language,
        language_confidence=guess.confidence,
        language_source=guess.source,
    )


class DetectLanguageFn(beam.DoFn):
    """Fill in the language of each article."""

    def __init__(self, settings: LanguageSettings) -> None:
        self._settings = settings
        self._undetermined = Metrics.counter(STAGE, "undetermined")

    def setup(self) -> None:
        _factory()

    def process(self, article: Article) -> Iterable[Any]:
        try:
            result = with_language(article, self._settings)
        except Exception as exc:
            yield TaggedOutput(DEAD, unexpected(STAGE, article.url, article.outlet_id, exc))
            return
        if result.language == UNDETERMINED:
            self._undetermined.inc()
        yield result


class DetectLanguage(beam.PTransform):
    """Article -> Article with ``language``, ``language_confidence`` and ``language_source``."""

    def __init__(self, settings: LanguageSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, articles: PCollection) -> Any:  # StageOutputs
        results = articles | "Langdetect" >> beam.ParDo(
            DetectLanguageFn(self._settings)
        ).with_output_types(Article).with_outputs(DEAD, FILTERED, main="articles")
        return StageOutputs(
            main=results.articles,
            # Nothing is filtered here today; the tag keeps the stage's shape uniform.
            filtered=results[FILTERED],
            dead_letters=results[DEAD],
        )
