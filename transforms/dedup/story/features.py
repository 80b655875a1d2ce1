"""Story features: names, numbers, dates and content words of an article as weighted terms."""

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Optional

from anyascii import anyascii
from stop_words import LANGUAGE_MAPPING, get_stop_words

from transforms.dedup.story.settings import StoryFeatures, StorySettings

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORDISH_RE = re.compile(r"\w+", re.UNICODE)

# Month names by language, lower case; a name matches when the text starts with it, so Russian
# genitives (сентября) and abbreviations ("Sept.") are covered by their stems.
_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "januari", "januar", "janvier", "enero", "janeiro", "gennaio", "январ"),
    2: ("february", "feb", "februari", "februar", "février", "febrero", "fevereiro", "феврал"),
    3: ("march", "mar", "maret", "märz", "mars", "marzo", "março", "maart", "март"),
    4: ("april", "apr", "avril", "abril", "aprile", "апрел"),
    5: ("may", "mei", "mai", "mayo", "maio", "maggio", "ма"),
    6: ("june", "jun", "juni", "juin", "junio", "junho", "giugno", "июн"),
    7: ("july", "jul", "juli", "juillet", "julio", "julho", "luglio", "июл"),
    8: ("august", "aug", "agustus", "août", "agosto", "augustus", "август"),
    9: ("september", "sept", "sep", "septembre", "septiembre", "setembro", "settembre", "сентябр"),
    10: ("october", "oct", "oktober", "octobre", "octubre", "outubro", "ottobre", "октябр"),
    11: ("november", "nov", "nopember", "novembre", "noviembre", "novembro", "ноябр"),
    12: ("december", "dec", "desember", "dezember", "décembre", "diciembre", "dezembro", "декабр"),
}
# Whole-word month alternatives for the date patterns: the stem plus any letters after it, except
# for the short stems ("ма", "mar", "may"), which must stand alone or take a known ending.
_MONTH_WORDS = sorted(
    (name for names in _MONTHS.values() for name in names), key=lambda n: (-len(n), n)
)
_MONTH_ALT = "|".join(re.escape(name) for name in _MONTH_WORDS)
# A month name's possible first letters, checked before the alternatives (the same matches, half
# the time: most positions fail on one character instead of trying every name).
_MONTH_INITIALS = "".join(sorted({c for name in _MONTH_WORDS for c in (name[0], name[0].upper())}))
_MONTH_TOKEN = rf"(?=[{_MONTH_INITIALS}])(?P<month>(?:{_MONTH_ALT})[^\W\d_]*)\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th|er|\.)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# Each pattern starts with a lookahead for its first character, which lets the regex engine skip
# to the candidate positions instead of trying the lookbehind at every one (half the time or less).
_DATE_PATTERNS = (
    re.compile(
        r"(?=[12])(?<!\d)(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)(?!\d)"
    ),
    re.compile(
        r"(?=\d)(?<![\d/.])(?P<a>[0-3]?\d)[/.](?P<b>[01]?\d)[/.](?P<year>(?:19|20)?\d\d)(?![\d/])"
    ),
    re.compile(rf"(?=\d)(?<![\w]){_DAY}\s+{_MONTH_TOKEN}(?:,?\s+{_YEAR})?(?!\w)", re.IGNORECASE),
    # Month first: any word before a day, its month name checked afterwards (``_MONTH_PREFIX_RE``):
    # the same matches as the month alternatives in the pattern, in less than half the time.
    re.compile(
        rf"(?=[{_MONTH_INITIALS}])(?<![\w])(?P<month>[^\W\d_]+)\.?\s+{_DAY}(?:,?\s+{_YEAR})?(?!\w)",
        re.IGNORECASE,
    ),
    # Korean, Chinese and Japanese: 2023년 9월 13일, 9月13日.
    re.compile(
        r"(?:(?P<year>(?:19|20)\d\d)\s*[년年]\s*)?"
        r"(?<!\d)(?P<month>[01]?\d)\s*[월月]\s*(?P<day>[0-3]?\d)\s*[일日]"
    ),
)
_MONTH_FIRST_DATE = 3  # the pattern whose word must start with a month name
_MONTH_PREFIX_RE = re.compile(rf"(?:{_MONTH_ALT})", re.IGNORECASE)
_CJK_DATE = 4  # the last pattern: it needs 月 or 월
# Languages that write month/day/year in numeric dates (for ambiguous 9/10/2023).
_MONTH_FIRST = frozenset({"en"})

# Scale words after a number, lower case prefixes, in the languages the outlet registry covers.
_SCALES: tuple[tuple[str, int], ...] = (
    ("thousand", 10**3),
    ("ribu", 10**3),
    ("тыс", 10**3),
    ("tausend", 10**3),
    ("mille", 10**3),
    ("million", 10**6),
    ("mln", 10**6),
    ("juta", 10**6),
    ("млн", 10**6),
    ("миллион", 10**6),
    ("millones", 10**6),
    ("milhões", 10**6),
    ("billion", 10**9),
    ("bn", 10**9),
    ("miliar", 10**9),
    ("milyar", 10**9),
    ("млрд", 10**9),
    ("миллиард", 10**9),
    ("milliard", 10**9),
    # Korean, Chinese and Japanese count in myriads: 5억 = 500 million, 3万 = 30,000.
    ("만", 10**4),
    ("万", 10**4),
    ("억", 10**8),
    ("亿", 10**8),
    ("億", 10**8),
    ("trillion", 10**12),
    ("triliun", 10**12),
    ("трлн", 10**12),
    ("триллион", 10**12),
)
_SCALE_RE = re.compile(r"\s*([^\W\d_]+)", re.UNICODE)
# Truncating a folded token to its first five letters acts as a crude stemmer in every language
# (Путина/Путину -> putin, injured/injuries -> injur, Vostochnyy/Vostochny -> vosto): the
# "5-character truncation" of cross-language IR (McNamee & Mayfield, 2004), checked on the
# fixtures and on split A of giveme5w1h (docs/dedup-story.md).
PREFIX_CHARS = 5
# Tokens shorter than this (after folding) carry no evidence ("a", "di", initials).
MIN_TOKEN_CHARS = 2


@lru_cache(maxsize=64)
def stop_words_for(language: str) -> frozenset[str]:
    """Stop words of ``language`` (ISO 639-1) plus English's (quotes in English abound)."""
    words = set(get_stop_words("en"))
    code = language.split("-")[0].lower()
    if code in LANGUAGE_MAPPING:
        words.update(get_stop_words(code))
    elif code == "ms":
        words.update(get_stop_words("id"))
    # The English list counts some digits and "states" as stop words; numbers have their own kind.
    return frozenset(w.casefold() for w in words if not any(c.isdigit() for c in w))


_FOLDS = (
    ("sch", "sh"),
    ("dzh", "j"),
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("q", "k"),
    ("w", "v"),
    ("y", "i"),
)


def fold_token(token: str) -> str:
    """Transliterate to ASCII, lower-case and fold spelling variants of one token."""
    text = anyascii(token).lower()
    text = "".join(c for c in text if c.isalnum())
    for old, new in _FOLDS:
        text = text.replace(old, new)
    # "c" is "k" except in "ch" (Moscow/Moskow, Cosmodrome/Kosmodrom).
    text = re.sub(r"c(?!h)", "k", text)
    # Double letters vary between transliterations (Russia/Rusia, Vostochnyy/Vostochny).
    text = re.sub(r"(.)\1+", r"\1", text)
    return text


# Russian case endings on names: "Киму", "Ына", "Лаврова" are Ким, Ын, Лавров. Longer names are
# already equal after truncation (Путина -> putin); short ones are not without this. No -ей/-ой:
# they end names too (Сергей, Толстой).
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_CYRILLIC_ENDINGS = ("ом", "ем", "ым", "им", "ою", "а", "я", "у", "ю", "е", "ы", "и")  # noqa: RUF001


def strip_case_ending(token: str) -> str:
    """Drop one Russian case ending from a Cyrillic word when a stem of two letters remains."""
    if not _CYRILLIC_RE.search(token):
        return token
    lower = token.lower()
    for ending in _CYRILLIC_ENDINGS:
        if lower.endswith(ending) and len(token) - len(ending) >= 2:
            return token[: -len(ending)]
    return token


# A pure function of the word, called for every word of every article (the story layer's largest
# cost: 247,715 calls for 300 pages). Word frequencies are Zipfian, so a bounded cache answers most
# calls; it cannot change a result, and its size bounds the memory it holds per worker.
@lru_cache(maxsize=1 << 16)
def token_key(token: str) -> Optional[str]:
    """Key of a word or name: folded, case ending dropped, cut to ``PREFIX_CHARS``; or None."""
    folded = fold_token(strip_case_ending(token))
    if len(folded) < MIN_TOKEN_CHARS:
        return None
    return folded[:PREFIX_CHARS]


@lru_cache(maxsize=1 << 16)
def word_key(word: str, language: str) -> Optional[str]:
    """``token_key`` of a word that is no stop word of ``language``; else None (cached alike)."""
    if word.casefold() in stop_words_for(language):
        return None
    return token_key(word)


def parse_number(text: str) -> Optional[float]:
    """Parse ``1.000``, ``1,000``, ``1.234,5``, ``1,5`` and ``27`` into a value; None if not one."""
    seps = re.findall(r"[.,]", text)
    groups = re.split(r"[.,]", text)
    if not seps:
        return float(int(text))
    head, tail = groups[:-1], groups[-1]
    if len(set(seps)) == 1 and all(len(g) == 3 for g in groups[1:]) and len(groups[0]) <= 3:
        # One kind of separator before groups of three digits: thousands (1.000 in Indonesian,
        # 1,000 in English). "3.141" is read as 3141: rarer in news than thousands.
        return float(int("".join(groups)))
    if len(set(seps)) == 2 and seps[-1] != seps[0]:
        return float(int("".join(head)) + float("0." + tail))
    if len(seps) == 1:
        return float(groups[0]) + float("0." + tail)
    return None


def number_term(value: float) -> str:
    """Canonical term of a number: integers without a point, others with up to 3 decimals."""
    if value == int(value):
        return f"n:{int(value)}"
    return "n:" + f"{value:.3f}".rstrip("0").rstrip(".")


def _month_of(word: str) -> Optional[int]:
    """Month number of a month word in any of the known languages, or None."""
    lower = word.lower().rstrip(".")
    best: Optional[tuple[int, int]] = None
    for month, names in _MONTHS.items():
        for name in names:
            if lower.startswith(name) and (best is None or len(name) > best[1]):
                best = (month, len(name))
    if best is None:
        return None
    # Short stems must be the whole word or nearly: "mar" is not "marine", "ма" not "машина".
    if best[1] <= 3 and len(lower) > best[1] + 2:
        return None
    return best[0]


def extract_dates(text: str, language: str) -> tuple[list[str], str]:
    """Find dates; return their ``d:MM-DD`` terms and the text with the dates blanked out."""
    terms: list[str] = []
    for index, pattern in enumerate(_DATE_PATTERNS):
        if index == _CJK_DATE and "月" not in text and "월" not in text:
            continue
        # Each pattern reads the text with the earlier patterns' dates blanked out.
        blanked: list[tuple[int, int]] = []
        for match in pattern.finditer(text):
            groups = match.groupdict()
            month: Optional[int]
            if index == 1:
                first, second = int(groups["a"]), int(groups["b"])
                if first > 12 or language not in _MONTH_FIRST:
                    day, month = first, second
                else:
                    month, day = first, second
            elif "month" in groups and groups["month"] and not groups["month"].isdigit():
                if index == _MONTH_FIRST_DATE and not _MONTH_PREFIX_RE.match(groups["month"]):
                    continue
                month = _month_of(groups["month"])
                day = int(groups["day"])
            else:
                month, day = int(groups["month"]), int(groups["day"])
            if month is None or not (1 <= month <= 12 and 1 <= day <= 31):
                continue
            terms.append(f"d:{month:02d}-{day:02d}")
            blanked.append(match.span())
        if blanked:
            parts, last = [], 0
            for start, end in blanked:
                parts += [text[last:start], " " * (end - start)]
                last = end
            text = "".join([*parts, text[last:]])
    return terms, text


def _scale_after(text: str, end: int) -> int:
    """Multiplier of a scale word right after a number ("11 juta", "2,5 млрд"), else 1."""
    match = _SCALE_RE.match(text, end)
    if match is None:
        return 1
    word = match.group(1).lower()
    for prefix, scale in _SCALES:
        if word.startswith(prefix) and (prefix != "bn" or word == "bn"):
            return scale
    return 1


# The two kinds of token of a field: letter runs (no digits or underscore) and digit groups with
# inner separators ("1.000,5"). Neither consumes a character the other could start with, so two
# scans find the tokens one alternation would.
_LETTERS_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*", re.UNICODE)


def _add_field_terms(
    raw: dict[str, float],
    text: str,
    language: str,
    field_weight: float,
    names: Collection[str],
    kind_weight: dict[str, float],
) -> None:
    """Add the terms of one field to ``raw``: dates, numbers, then names and words.

    Terms of different kinds never coincide, so reading each kind in its own pass adds every
    term's occurrences in the order of the text, as one pass over all tokens would.
    """
    dates, rest = extract_dates(text, language)
    weight = field_weight * kind_weight["date"]
    for term in dates:
        raw[term] += weight
    weight = field_weight * kind_weight["number"]
    for match in _NUMBER_RE.finditer(rest):
        value = parse_number(match.group(0))
        if value is not None:
            raw[number_term(value * _scale_after(rest, match.end()))] += weight
    name_weight = field_weight * kind_weight["name"]
    word_weight = field_weight * kind_weight["word"]
    has_cjk = _CJK_RE.search(rest) is not None
    for token in _LETTERS_RE.findall(rest):
        if has_cjk and _CJK_RE.search(token):
            # Ideographs and kana are written without spaces: overlapping character bigrams.
            chars = [c for c in token if _CJK_RE.match(c)]
            for i in range(max(1, len(chars) - 1)):
                raw["t:" + "".join(chars[i : i + 2])] += word_weight
            continue
        key = word_key(token, language)
        if key is None:
            continue
        if key in names:
            raw["e:" + key] += name_weight
        else:
            raw["t:" + key] += word_weight


# What may stand before the first word of a sentence (or of a quote, or a dateline's body).
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?:;\"'«»“”„(\[—–-])\s*$")  # noqa: RUF001


def _is_word_char(char: str) -> bool:
    """Whether ``char`` is one of ``\\w`` (what a word of ``_WORDISH_RE`` is made of)."""
    return char.isalnum() or char == "_"


def _mid_sentence(text: str, word: str) -> bool:
    """Whether ``word`` occurs in ``text`` as a whole word somewhere other than a sentence start."""
    size = len(word)
    start = text.find(word)
    while start >= 0:
        end = start + size
        whole = (start == 0 or not _is_word_char(text[start - 1])) and (
            end == len(text) or not _is_word_char(text[end])
        )
        if whole and not _SENTENCE_START_RE.search(text[max(0, start - 4) : start]):
            return True
        start = text.find(word, start + 1)
    return False


def name_keys(texts: Iterable[str]) -> frozenset[str]:
    """Keys of words capitalized inside a sentence and never written lower case: names, places."""
    lowered: set[str] = set()
    capitalized_words: list[tuple[str, set[str]]] = []
    for text in texts:
        upper: set[str] = set()
        for word in set(_WORDISH_RE.findall(text)):
            first = word[0]
            if not first.isalpha():
                continue
            if first.islower():
                key = token_key(word)
                if key is not None:
                    lowered.add(key)
            elif first.isupper():
                upper.add(word)
        capitalized_words.append((text, upper))
    capitalized: set[str] = set()
    for text, upper in capitalized_words:
        for word in sorted(upper):
            key = token_key(word)
            if key is None or key in lowered or key in capitalized:
                continue
            # A sentence's first word is capitalized whatever it is: it proves nothing.
            if _mid_sentence(text, word):
                capitalized.add(key)
    # Title case ("Tourist Ship Strikes Bridge") is undone by the lower-case "ship" of the body.
    return frozenset(capitalized)


def _split_body(text: str, lead_words: int, max_body_words: int) -> tuple[str, str]:
    """Split the body into its lead (first ``lead_words`` words) and the rest, capped."""
    words = text.split()
    return " ".join(words[:lead_words]), " ".join(words[lead_words : lead_words + max_body_words])


def story_features(
    title: Optional[str],
    description: Optional[str],
    text: Optional[str],
    language: str,
    published_at: Optional[str],
    article_id: str,
    settings: "StorySettings" = StorySettings(),
) -> StoryFeatures:
    """Build an article's weighted story terms (names, places, numbers, dates, title/lead words)."""
    title = unicodedata.normalize("NFKC", title or "")
    description = " ".join(unicodedata.normalize("NFKC", description or "").split())
    body = unicodedata.normalize("NFKC", text or "")
    lead, rest = _split_body(body, settings.lead_words, settings.max_body_words)
    # An outlet's description is often the body's first sentence: read it once, as the lead.
    if description and description[:80] in lead:
        description = ""
    names = name_keys((title, description, lead, rest))
    kind_weight = {
        "name": settings.name_weight,
        "word": settings.word_weight,
        "number": settings.number_weight,
        "date": settings.date_weight,
    }
    raw: dict[str, float] = defaultdict(float)
    fields = (
        (title, settings.title_weight),
        (description, settings.lead_weight),
        (lead, settings.lead_weight),
        (rest, settings.body_weight),
    )
    for field_text, field_weight in fields:
        if not field_text:
            continue
        _add_field_terms(raw, field_text, language, field_weight, names, kind_weight)
    # Sublinear in repetition: the tenth "Putin" adds less than the second.
    weighted = {term: math.log1p(value) for term, value in raw.items()}
    kept = sorted(weighted.items(), key=lambda kv: (-kv[1], kv[0]))[: settings.max_terms]
    kept.sort()
    norm = math.sqrt(sum(w * w for _, w in kept)) or 1.0
    return StoryFeatures(
        article_id=article_id,
        published_at=published_at,
        language=(language or "und").split("-")[0].lower(),
        terms=[t for t, _ in kept],
        weights=[round(w / norm, 6) for _, w in kept],
    )
