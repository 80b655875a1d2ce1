"""Outlet registry: the YAML list in ``seeds/`` or an OPML export from a feed reader."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from transforms.core.records import FeedSource
from transforms.core.urls import host_of, is_http_url

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


class OutletsError(ValueError):
    """The outlet list is malformed."""


@dataclass(frozen=True)
class Outlet:
    """A news outlet and the feeds we read from it."""

    id: str
    name: str
    homepage: str
    country: str
    languages: tuple[str, ...]
    feeds: tuple[str, ...]

    def feed_sources(self) -> list[FeedSource]:
        """Return one FeedSource per feed of this outlet."""
        return [
            FeedSource(
                outlet_id=self.id,
                feed_url=url,
                outlet_name=self.name,
                country=self.country,
                languages=list(self.languages),
            )
            for url in self.feeds
        ]


def slugify(text: str) -> str:
    """Turn a name or host into an outlet id (lowercase, ``[a-z0-9_-]``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:64] or "outlet"


def _outlet_from_mapping(item: Any, where: str) -> Outlet:
    """Validate one YAML outlet entry."""
    if not isinstance(item, Mapping):
        raise OutletsError(f"{where}: expected a mapping")
    missing = [k for k in ("id", "name", "feeds") if k not in item]
    if missing:
        raise OutletsError(f"{where}: missing {', '.join(missing)}")
    outlet_id = str(item["id"])
    if not _ID_RE.match(outlet_id):
        raise OutletsError(f"{where}: id {outlet_id!r} must match {_ID_RE.pattern}")
    feeds = item["feeds"]
    if not isinstance(feeds, list) or not feeds:
        raise OutletsError(f"{where} ({outlet_id}): feeds must be a non-empty list")
    for url in feeds:
        if not is_http_url(str(url)):
            raise OutletsError(f"{where} ({outlet_id}): feed {url!r} is not an http(s) URL")
    languages = item.get("languages") or []
    if not isinstance(languages, list) or not all(
        isinstance(lang, str) and _LANG_RE.match(lang) for lang in languages
    ):
        raise OutletsError(f"{where} ({outlet_id}): languages must be ISO 639 codes")
    homepage = str(item.get("homepage") or "")
    if homepage and not is_http_url(homepage):
        raise OutletsError(f"{where} ({outlet_id}): homepage {homepage!r} is not an http(s) URL")
    return Outlet(
        id=outlet_id,
        name=str(item["name"]),
        homepage=homepage,
        country=str(item.get("country") or "").upper(),
        languages=tuple(languages),
        feeds=tuple(str(url) for url in feeds),
    )


def _check_unique(outlets: Sequence[Outlet]) -> list[Outlet]:
    """Reject duplicate outlet ids; return the outlets as a list."""
    seen: dict[str, int] = {}
    for outlet in outlets:
        seen[outlet.id] = seen.get(outlet.id, 0) + 1
    dupes = sorted(k for k, n in seen.items() if n > 1)
    if dupes:
        raise OutletsError(f"duplicate outlet id(s): {', '.join(dupes)}")
    return list(outlets)


def parse_outlets_yaml(text: str, source: str = "<outlets>") -> list[Outlet]:
    """Parse the YAML registry (a top-level ``outlets:`` list)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OutletsError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("outlets"), list):
        raise OutletsError(f"{source}: expected a top-level 'outlets:' list")
    return _check_unique(
        [
            _outlet_from_mapping(item, f"{source}: outlets[{i}]")
            for i, item in enumerate(data["outlets"])
        ]
    )


def _safe_xml_parser() -> etree.XMLParser:
    """An XML parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )


def parse_opml(data: bytes, source: str = "<opml>") -> list[Outlet]:
    """Parse an OPML subscription list; feeds are grouped into outlets by site host."""
    try:
        root = etree.fromstring(data, parser=_safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise OutletsError(f"{source}: invalid OPML: {exc}") from exc
    if root.tag.lower() != "opml":
        raise OutletsError(f"{source}: root element is <{root.tag}>, not <opml>")
    grouped: dict[str, dict[str, Any]] = {}
    for node in root.iter("outline"):
        feed_url = (node.get("xmlUrl") or node.get("xmlurl") or "").strip()
        if not feed_url:
            continue  # a folder outline
        if not is_http_url(feed_url):
            raise OutletsError(f"{source}: feed {feed_url!r} is not an http(s) URL")
        site = (node.get("htmlUrl") or node.get("htmlurl") or "").strip()
        host = host_of(site) if is_http_url(site) else host_of(feed_url)
        key = slugify(host.removeprefix("www."))
        name = (node.get("title") or node.get("text") or host).strip()
        entry = grouped.setdefault(
            key,
            {"name": name, "homepage": site if is_http_url(site) else "", "feeds": [], "langs": []},
        )
        if feed_url not in entry["feeds"]:
            entry["feeds"].append(feed_url)
        lang = (node.get("language") or "").strip().lower()[:2]
        if _LANG_RE.match(lang) and lang not in entry["langs"]:
            entry["langs"].append(lang)
    if not grouped:
        raise OutletsError(f"{source}: no feeds (outline elements with xmlUrl) found")
    return [
        Outlet(
            id=key,
            name=value["name"],
            homepage=value["homepage"],
            country="",
            languages=tuple(value["langs"]),
            feeds=tuple(value["feeds"]),
        )
        for key, value in sorted(grouped.items())
    ]


def load_outlets(path: str) -> list[Outlet]:
    """Load outlets from a ``.yaml``/``.yml`` registry or an ``.opml``/``.xml`` export."""
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise OutletsError(f"cannot read outlets file {path}: {exc}") from exc
    if file_path.suffix.lower() in {".opml", ".xml"} or data.lstrip()[:5] == b"<?xml":
        return parse_opml(data, str(path))
    return parse_outlets_yaml(data.decode("utf-8"), str(path))


def feed_sources(outlets: Sequence[Outlet]) -> list[FeedSource]:
    """Flatten outlets into the feed list the pipeline starts from."""
    return [source for outlet in outlets for source in outlet.feed_sources()]
