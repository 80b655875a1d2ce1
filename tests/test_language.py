import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import ROOT
from tests.test_dedup import article
from transforms.language import DetectLanguage, detect_language, primary_subtag
from transforms.settings import LanguageSettings

SETTINGS = LanguageSettings()
SEED_ARTICLE = ROOT.parent / "shared" / "seeds" / "republika-putin-kim-2023-09-14.txt"

EN = (
    "The harbour bridge reopened to traffic on Monday morning, ending a repair programme that "
    "began three years ago and ran a full year over its original schedule."
)
ID = (
    "Jembatan pelabuhan kembali dibuka untuk lalu lintas pada Senin pagi, mengakhiri program "
    "perbaikan yang dimulai tiga tahun lalu dan molor satu tahun dari jadwal semula."
)
RU = (
    "Президент России Владимир Путин и лидер КНДР Ким Чен Ын обменялись подарками во время "
    "встречи на космодроме Восточный, сообщил пресс-секретарь Кремля."
)


def test_detects_common_languages_with_confidence():
    for text, lang in ((EN, "en"), (ID, "id"), (RU, "ru")):
        guess = detect_language(text, SETTINGS)
        assert guess.language == lang
        assert guess.confidence > 0.9
        assert guess.source == "langdetect"


def test_results_are_repeatable():
    mixed = EN[:60] + " " + ID[:60]
    first = detect_language(mixed, SETTINGS)
    assert all(detect_language(mixed, SETTINGS) == first for _ in range(5))


def test_no_features_or_low_confidence_is_und():
    assert detect_language("12345 !!! ---", SETTINGS).language == "und"
    assert detect_language("", SETTINGS).source == "none"
    strict = LanguageSettings(min_confidence=1.0)
    assert detect_language(EN[:40] + " " + ID[:40], strict).language == "und"


def test_primary_subtag():
    assert primary_subtag("zh-cn") == "zh"
    assert primary_subtag("en_US") == "en"
    assert primary_subtag("") is None
    assert primary_subtag("x1") is None


def test_detect_language_composite():
    arts = [article("a", text=EN), article("b", text=ID)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(arts) | DetectLanguage(SETTINGS)
        assert_that(
            out.main | beam.Map(lambda a: (a.article_id, a.language)),
            equal_to([("a", "en"), ("b", "id")]),
        )
