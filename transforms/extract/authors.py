"""Authors: bylines and JSON-LD authors cleaned into person names.

Roles, credentials, e-mail addresses, handles and UI words are dropped; the site's own name is
not an author.
"""

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Optional

from transforms.core.textutil import collapse_ws, html_fragment_to_text, unique_clean
from transforms.extract.signals import (
    ORGANIZATION_TYPES,
    PageSignals,
    byline_texts,
    is_site_name,
    meta_values,
    texts_of,
    title_key,
    type_names,
)

# Connector words are matched in lowercase only: "Dan" and "E." are also parts of names.
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[;|,&/]|\s(?:and|und|y|et|e|dan)\s)\s*")
_BY_RE = re.compile(
    r"^(?:(?:written|posted|reported|published|words|story|view all posts|more articles)\s+by|"
    r"by|authors?|writers?|von|par|por|oleh|door)\b\s*[:\-]?\s*",
    re.I,
)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
_HANDLE_RE = re.compile(r"^@\w+$")
_DOTTED_RE = re.compile(r"^[\w-]+(?:\.[\w-]{2,})+$")
# Words that mark a credit line, not a person: "Staff", "Reuters staff", "Editorial Team" ...
_NOT_A_PERSON = re.compile(
    r"\b(?:staff|editors?|editorial|team|desk|newsroom|admin|administrator|redaksi|redaction|"
    r"reporter|correspondent|contributors?|agenc(?:y|ies)|wire|news service|press|guest)\b",
    re.I,
)
# Interface words that byline markup sometimes holds instead of a name.
_UI_WORDS = re.compile(
    r"\b(?:posts?|sign ?in|log ?in|follow|view|read more|subscribe|menu|home|share|https?|"
    r"profile|about|contact|min read|comments?)\b",
    re.I,
)
# A byline stops at the first of these: what follows names other people or a date.
_BYLINE_CUT_RE = re.compile(
    r"\b(?:(?:medically |fact[- ])?(?:reviewed|checked|edited|illustrated|photographed)\s+by|"
    r"updated|published|posted on|last modified)\b.*$",
    re.I,
)

# Job titles that bylines put after the name ("Emma Ryan Writer", "Jane Doe, Senior Editor").
_ROLE_RE = re.compile(
    r"\b(?:(?:senior|lead|chief|executive|contributing|managing|deputy|head|staff)\s+)?"
    r"(?:writer|editor|co-?founder|founder|reporter|expert|director|manager|ceo|cto|reviewer|"
    r"contributor|correspondent|journalist|columnist|analyst|specialist|educators?|designer|"
    r"strategist|consultant|officer|president|intern|producer|photographer)\b.*$",
    re.I,
)

# Punctuation around a byline name: dashes (en, em), bars, bullets, dots.
_NAME_TRIM = " -\u2013\u2014:|\u00b7\u2022,."

# Degrees and credentials that follow a name after a comma ("Jane Doe, MS, RD").
_CREDENTIALS = frozenset(
    [
        "md",
        "phd",
        "ph.d",
        "ms",
        "msc",
        "ma",
        "mba",
        "rd",
        "rdn",
        "ld",
        "cdn",
        "cpt",
        "np",
        "rn",
        "dds",
        "do",
        "jd",
        "cpa",
        "cfa",
        "cfp",
        "mph",
        "fand",
        "ryt",
        "e-ryt",
        "lcsw",
        "psyd",
        "dvm",
        "pharmd",
        "mfa",
        "bsn",
        "ba",
        "bs",
        "llm",
        "esq",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
    ]
)


class _Name(NamedTuple):
    """A cleaned author candidate and whether a job title had to be cut from it."""

    text: str
    had_role: bool


def _person_name(part: str) -> Optional[_Name]:
    """Clean one author candidate; None when it is not a person's name."""
    text = collapse_ws(_EMAIL_RE.sub(" ", _URL_RE.sub(" ", part)))
    text = _BY_RE.sub("", text).strip(_NAME_TRIM)
    if not text or _HANDLE_RE.match(text) or len(text) > 60:
        return None
    role = _ROLE_RE.search(text)
    if role:
        # "Emma Ryan Writer" keeps the name; "Senior Editor" alone is no name at all.
        text = text[: role.start()].strip(_NAME_TRIM)
        if len(text.split()) < 2:
            return None
    if text.isupper() and len(text) > 3:
        text = text.title()  # "TOM KRISHER": capitals are styling (short ones may be initials)
    # Template placeholders ("page.head.author"), domains and interface labels are not names.
    if _UI_WORDS.search(text) or _DOTTED_RE.search(text) or "{" in text:
        return None
    key = title_key(text)
    if not key:
        return None
    words = key.split()
    if len(words) > 5 or any(ch.isdigit() for ch in key):
        return None
    if _NOT_A_PERSON.search(text):
        return None
    return _Name(text, role is not None)


def clean_authors(values: Iterable[str], site_keys: Optional[set[str]] = None) -> list[str]:
    """Split and clean author strings into a list of names.

    Splits on ``;``, ``|``, ``,``, ``/``, ``&`` and "and" (and its equivalents in a few
    languages), drops "By", emails, URLs, @handles, interface labels, credit words ("Staff",
    "Editorial Team") and trailing credentials ("MS, RD"), and de-duplicates. The site's own
    name is dropped when real names remain ("Jane Doe, CNN" -> "Jane Doe"); alone it stays:
    personal sites are named after their author, and a wire credit is still information.
    """
    keys = site_keys or set()
    names: list[str] = []
    for value in values:
        text = _EMAIL_RE.sub(" ", _URL_RE.sub(" ", html_fragment_to_text(value)))
        value = _BYLINE_CUT_RE.sub("", _BY_RE.sub("", text))
        found = [
            name
            for part in _AUTHOR_SPLIT_RE.split(value)
            if part.strip(" .").casefold() not in _CREDENTIALS and (name := _person_name(part))
        ]
        # Next to a clean full name, one-word parts are credentials or beats ("Jane Doe,
        # Privacy") and parts that carried a job title are the title's remains ("Tom Krisher,
        # AP Auto Writer").
        if any(len(n.text.split()) >= 2 and not n.had_role for n in found):
            found = [n for n in found if len(n.text.split()) >= 2 and not n.had_role]
        elif any(len(n.text.split()) >= 2 for n in found):
            found = [n for n in found if len(n.text.split()) >= 2]
        names.extend(n.text for n in found)
    people = [n for n in names if not is_site_name(n, keys)]
    return unique_clean(people or names)


def jsonld_authors(signals: PageSignals) -> list[str]:
    """Author names of the first article object that has any (``author``, else ``creator``)."""
    for obj in signals.articles:
        for key in ("author", "creator"):
            value = obj.get(key)
            if not value:
                continue
            items = value if isinstance(value, list) else [value]
            names: list[str] = []
            for item in items:
                if isinstance(item, dict):
                    if type_names(item) & ORGANIZATION_TYPES:
                        continue
                    names.extend(texts_of(item.get("name")))
                elif isinstance(item, str):
                    names.append(item)
            if names:
                return names
    return []


def choose_authors(
    signals: PageSignals, feed_authors: Sequence[str]
) -> tuple[list[str], Optional[str]]:
    """Authors and their source: JSON-LD, meta tags/itemprop, the feed, the visible byline."""
    site_keys = signals.site
    from_jsonld = clean_authors(jsonld_authors(signals), site_keys)
    if from_jsonld:
        return from_jsonld, "jsonld"
    meta = [
        v
        for v in meta_values(
            signals,
            "author",
            "article:author",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "dcterms.creator",
            "byl",
            "citation_author",
        )
        if not v.lower().startswith(("http://", "https://"))
    ]
    meta.extend(signals.itemprops.get("author", [])[:3])
    from_meta = clean_authors(meta, site_keys)
    if from_meta:
        return from_meta, "meta"
    from_feed = clean_authors(feed_authors, site_keys)
    if from_feed:
        return from_feed, "feed"
    # Last: the visible byline. One element is read (the first that names someone): later
    # ones are often "related articles" cards by other authors.
    for text in byline_texts(signals.tree):
        names = clean_authors([text], site_keys)
        if names:
            return names, "byline"
    return [], None
