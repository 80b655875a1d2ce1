"""The encoding of a fetched HTML page: BOM, then declarations the bytes bear out, then detection.

Order and rules (after the WHATWG encoding sniffing algorithm, with one deliberate addition):

1. A byte order mark decides: it cannot be there by accident, and browsers let it beat the header.
2. The Content-Type ``charset``, then ``<meta charset>`` / ``http-equiv`` (or the XML declaration),
   each used only when the body decodes with it. Legacy labels map to the superset browsers use
   (``iso-8859-1`` -> ``cp1252``, ``gb2312`` -> ``gb18030``, ``shift_jis`` -> ``cp932`` ...).
3. The addition: a body that is valid UTF-8 and contains non-ASCII text is UTF-8 whatever a
   declaration says. Text in a single- or double-byte legacy encoding is practically never valid
   UTF-8, while UTF-8 pages declared as ``iso-8859-1`` (a server default) are common; decoding
   those with the declaration is what produces mojibake (``Ã©`` for ``é``).
4. Otherwise charset_normalizer guesses; ``cp1252`` when even that fails (it decodes almost
   anything, so downstream stages always get text).
"""

import codecs
import re
from typing import NamedTuple, Optional

from charset_normalizer import from_bytes

# Longest first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# WHATWG Encoding Standard: labels that browsers decode with a superset (by Python codec name).
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
# Labels Python does not know under the WHATWG name.
_ALIASES = {"x-gbk": "gbk", "x-sjis": "shift_jis", "windows-31j": "cp932", "windows-874": "cp874"}
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
# Browsers read declarations from the first 1,024 bytes; pages with long inline scripts put
# them later, so look a little further.
_PRESCAN_BYTES = 8192
_META_RE = re.compile(rb"<meta\b[^>]*?\bcharset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]+)", re.I)
_XML_DECL_RE = re.compile(rb"^\s*<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9_.:+-]+)", re.I)
_COMMENT_RE = re.compile(rb"<!--.*?-->", re.S)
# A few stray bytes in an otherwise UTF-8 page (a truncated multi-byte sequence, one pasted
# Latin-1 character) do not make it another encoding: up to one per this many bytes is tolerated.
_UTF8_ERROR_BYTES = 2000
FALLBACK = "cp1252"
# Detection ties (same chaos and coherence, e.g. French in cp1252 vs cp1250 when the text uses few
# letters where they differ) go to the encoding more common on the web (W3Techs usage order).
_WEB_PREVALENCE = ("cp1252", "cp1251", "gb18030", "cp932", "cp949", "big5hkscs", "cp1250")


class Charset(NamedTuple):
    """The codec to decode a body with and what decided it."""

    codec: str
    source: str  # bom, header, meta, utf8, detected or fallback


def codec_for(label: Optional[str]) -> Optional[str]:
    """Map a charset label to the Python codec a browser-compatible decoder would use."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    try:
        canonical = codecs.lookup(_ALIASES.get(name, name)).name
    except LookupError:
        return None
    return _SUPERSETS.get(canonical, canonical)


def declared_in_markup(body: bytes) -> Optional[str]:
    """Return the charset label of ``<meta charset>``, ``http-equiv`` or the XML declaration."""
    head = body[:_PRESCAN_BYTES]
    xml = _XML_DECL_RE.match(head)
    if xml:
        return xml.group(1).decode("ascii")
    meta = _META_RE.search(_COMMENT_RE.sub(b"", head))
    return meta.group(1).decode("ascii") if meta else None


def utf8_state(body: bytes) -> str:
    """Classify ``body`` as ``ascii``, ``utf8`` (valid, non-ASCII), ``mostly`` or ``invalid``."""
    if body.isascii():
        return "ascii"
    try:
        body.decode("utf-8")
        return "utf8"
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    errors = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    return "mostly" if errors <= max(1, len(body) // _UTF8_ERROR_BYTES) else "invalid"


def _decodes(body: bytes, codec: str) -> bool:
    """Return True when ``body`` decodes strictly with ``codec``."""
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _plausibly_wide(body: bytes) -> bool:
    """UTF-16/32 without a BOM shows NUL bytes among the first characters of markup."""
    return b"\x00" in body[:512]


def resolve_charset(body: bytes, declared: Optional[str]) -> Charset:
    """Decide how to decode an HTML ``body`` whose Content-Type declared ``declared``."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return Charset(bom_codec, "bom")
    utf8 = utf8_state(body)
    for source, label in (("header", declared), ("meta", declared_in_markup(body))):
        codec = codec_for(label)
        if codec is None or (codec in _WIDE and not _plausibly_wide(body)):
            continue
        if codec == "utf-8":
            if utf8 != "invalid":
                return Charset("utf-8", source)
            continue
        if utf8 == "utf8":
            # Valid UTF-8 with non-ASCII text: the declaration is wrong (module docstring, 3).
            return Charset("utf-8", "utf8")
        if _decodes(body, codec):
            return Charset(codec, source)
        if codec == "cp1252" and _decodes(body, "latin-1"):
            # The five bytes cp1252 leaves undefined: an iso-8859-1 page that uses C1 controls.
            return Charset("latin-1", source)
    if utf8 in ("ascii", "utf8", "mostly"):
        return Charset("utf-8", "utf8")
    detected = detect(body)
    if detected and _decodes(body, detected):
        return Charset(detected, "detected")
    return Charset(FALLBACK, "fallback")


def detect(body: bytes) -> Optional[str]:
    """Guess the codec of ``body`` with charset_normalizer, breaking ties by web prevalence."""
    matches = list(from_bytes(body))
    if not matches:
        return None
    top = matches[0]
    tied = [m for m in matches if (m.chaos, m.coherence) == (top.chaos, top.coherence)]
    codecs_ = [c for c in (codec_for(m.encoding) for m in tied) if c]
    if not codecs_:
        return None

    def rank(codec: str) -> int:
        """Position in the prevalence list (unlisted codecs keep detection's order after)."""
        return _WEB_PREVALENCE.index(codec) if codec in _WEB_PREVALENCE else len(_WEB_PREVALENCE)

    return min(codecs_, key=rank)
