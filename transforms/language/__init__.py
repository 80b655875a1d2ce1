"""Stage 4, language: ``Article`` -> ``Article`` with its language (langdetect + fastText + hints).

``detect`` (DetectLanguage and the combination rules), ``markers`` (Malay vs Indonesian).
"""

from transforms.language.detect import DetectLanguage

__all__ = ["DetectLanguage"]
