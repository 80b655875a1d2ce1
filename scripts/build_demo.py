"""Rebuild the offline demo (``seeds/demo/``) from ``../shared/corpus`` and ``../shared/seeds``.

The demo is committed, so ``make demo`` never needs this script or the corpus; it exists so that
anyone can see exactly how the demo was made and regenerate it.

What is real and what is ours:
- Article texts, titles, URLs, dates and authors of the multi-outlet stories come from
  the Giveme5W1H dataset (Apache-2.0; the texts belong to the outlets). The page markup around
  them and the feed documents listing them are generated here.
- Four pages are real third-party HTML, copied byte for byte from scrapinghub's article-extraction
  benchmark (MIT) and newspaper4k's test data (MIT), with the URLs those sets give.
- The Indonesian article is the seed article in ``../shared/seeds`` (Republika); its URL is
  illustrative, the page markup is ours.
- Five pages are written by us for the demo (``seeds/demo/written/``, not real reports): other
  coverage of the seed's event (a Russian TASS-style report, an English and a Korean KCNA-style
  report) and two controls with the same people at other events. Their URLs are illustrative
  (``demo-`` paths on the outlets' real hosts), as are the feed URLs listing them.
- Deliberate faults (an HTML error page instead of a feed, a 404, a PDF, an empty body) and three
  duplicate variants (an AMP copy with rel=canonical, a print copy without it, a feed-proxy
  redirect) are constructed around real texts to show how the pipeline labels and accounts for them.
"""

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import html
import json
import shutil
import sys
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared"

# Stories covered by several outlets (Giveme5W1H event ids) and the files to use from each.
STORY_EVENTS = {"5", "39", "19", "32"}
# Items that are not articles about the event (section pages captured by the dataset) are skipped.
SKIP_TITLES = {"ABC News", "World news - RT International"}

OUTLET_NAMES = {
    "www.dailymail.co.uk": ("dailymail", "Daily Mail Online", "GB"),
    "www.hindustantimes.com": ("hindustantimes", "Hindustan Times", "IN"),
    "www.huffingtonpost.com.au": ("huffpost-au", "HuffPost Australia", "AU"),
    "www.npr.org": ("npr", "NPR", "US"),
    "www.nytimes.com": ("nytimes", "The New York Times", "US"),
    "www.washingtonpost.com": ("washingtonpost", "The Washington Post", "US"),
    "www.denverpost.com": ("denverpost", "The Denver Post", "US"),
    "www.detroitnews.com": ("detroitnews", "The Detroit News", "US"),
    "www.sfgate.com": ("sfgate", "SFGATE", "US"),
    "timesofindia.indiatimes.com": ("timesofindia", "The Times of India", "IN"),
    "www.foxnews.com": ("foxnews", "Fox News", "US"),
    "www.rt.com": ("rt", "RT", "RU"),
    "edition.cnn.com": ("cnn", "CNN", "US"),
    "www.chinadaily.com.cn": ("chinadaily", "China Daily", "CN"),
    "www.thesun.co.uk": ("thesun", "The Sun", "GB"),
}

# Real pages (third-party HTML kept byte for byte): (corpus path, outlet host).
REAL_PAGES = [
    (
        "extraction/scrapinghub-aeb/html/"
        "702d1da63b8e064cb70617620e45c2d116b4912c9bc9d518dcf5ce54bb8057ed.html.gz",
        "https://www.nytimes.com/2019/11/18/business/trump-trade-war-china.html",
        "www.nytimes.com",
    ),
    (
        "extraction/scrapinghub-aeb/html/"
        "06e5123e4ef7cfb4533250dc45d1e03d0838fc66223f45c583c4d12f48b4da85.html.gz",
        "https://venturebeat.com/2019/11/18/new-york-state-attorney-general-investigating-wework-and-former-ceo/",
        "venturebeat.com",
    ),
    (
        "extraction/newspaper4k/html/spanish_article.html.gz",
        "http://ultimahora.es/mallorca/noticia/noticias/local/fiscalia-anticorrupcion-estudia-recurre-imputacion-infanta.html",
        "ultimahora.es",
    ),
    (
        "extraction/newspaper4k/html/chinese_article_001.html.gz",
        None,  # URL from newspaper4k's metadata file
        None,
    ),
]
EXTRA_OUTLETS = {
    "venturebeat.com": ("venturebeat", "VentureBeat", "US", ["en"]),
    "ultimahora.es": ("ultimahora", "Ultima Hora", "ES", ["es"]),
}

REPUBLIKA_URL = (
    "https://internasional.republika.co.id/berita/demo-putin-kim/"
    "putin-dan-kim-jong-un-saling-beri-senapan-sebagai-cendera-mata"
)
REPUBLIKA_FEED = "https://www.republika.co.id/rss"

# Pages written for the demo (title, lead, body: the layout of ../shared/seeds), not real reports.
WRITTEN = ROOT / "seeds" / "demo" / "written"
TASS_RU = "ТАСС"  # noqa: RUF001 (Cyrillic, as the outlet writes its name)
# Outlets of the written pages: id -> (name, homepage, country, languages, feed URL).
WRITTEN_OUTLETS = {
    "tass-ru": (TASS_RU, "https://tass.ru/", "RU", ["ru"], "https://tass.ru/rss/v2.xml"),
    "kcnawatch": (
        "KCNA Watch",
        "https://kcnawatch.org/",
        "KP",
        ["en"],
        "https://kcnawatch.org/feed/",
    ),
    "rodong": (
        "Rodong Sinmun",
        "http://rodong.rep.kp/",
        "KP",
        ["ko"],
        "http://rodong.rep.kp/ko/rss.xml",
    ),
}
# (file, outlet, URL, published UTC, section): the URLs are illustrative.
WRITTEN_PAGES = [
    # The seed's event (Vostochny Cosmodrome, 13 September 2023) in Russian, English and Korean.
    (
        "tass-ru-putin-kim-vostochny-2023-09-14.txt",
        "tass-ru",
        "https://tass.ru/politika/demo-putin-kim-vostochny",
        "2023-09-14T07:12:00Z",
        "Политика",
    ),
    (
        "kcnawatch-kim-putin-vostochny-2023-09-14.txt",
        "kcnawatch",
        "https://kcnawatch.org/newstream/demo-kim-jong-un-putin-vostochny-cosmodrome/",
        "2023-09-13T22:41:00Z",
        "KCNA",
    ),
    (
        "rodong-kim-putin-vostochny-2023-09-14.txt",
        "rodong",
        "http://rodong.rep.kp/ko/demo-kim-jong-un-putin-vostochny.html",
        "2023-09-13T21:30:00Z",
        "정치",
    ),
    # Controls: the same people at other events (a session in Pyongyang two weeks later, Lavrov's
    # visit to Pyongyang five weeks later).
    (
        "kcnawatch-spa-constitution-2023-09-28.txt",
        "kcnawatch",
        "https://kcnawatch.org/newstream/demo-spa-constitution-nuclear-force/",
        "2023-09-27T22:30:00Z",
        "KCNA",
    ),
    (
        "tass-ru-lavrov-pyongyang-2023-10-19.txt",
        "tass-ru",
        "https://tass.ru/politika/demo-lavrov-pyongyang",
        "2023-10-19T10:25:00Z",
        "Политика",
    ),
]
FEEDPROXY = "http://feedproxy.google.com/~r/demo/"


def feed_url_for(outlet_id: str, section: str = "world") -> str:
    """An outlet's demo feed URL (recorded, not fetched)."""
    return f"https://feeds.demo.newsbeam.invalid/{outlet_id}/{section}.xml"


class Builder:
    """Accumulates recorded responses and outlet feeds, then writes them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.index: list[dict[str, Any]] = []
        self.outlets: dict[str, dict[str, Any]] = {}
        self.feed_items: dict[str, list[dict[str, Any]]] = {}

    def record(
        self,
        url: str,
        body: Optional[bytes],
        content_type: str,
        recorded_at: str,
        status: int = 200,
        extra_headers: Optional[dict[str, str]] = None,
        suffix: str = ".html",
    ) -> None:
        """Add one recorded response (body stored as a file named by the URL hash)."""
        headers = {"Content-Type": content_type, **(extra_headers or {})}
        rel = None
        if body is not None:
            rel = f"bodies/{hashlib.sha1(url.encode()).hexdigest()[:16]}{suffix}"
            path = self.out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        self.index.append(
            {
                "url": url,
                "status": status,
                "headers": headers,
                "body": rel,
                "recorded_at": recorded_at,
            }
        )

    def outlet(self, oid: str, name: str, homepage: str, country: str, langs: list[str]) -> None:
        """Register an outlet once."""
        self.outlets.setdefault(
            oid,
            {
                "id": oid,
                "name": name,
                "homepage": homepage,
                "country": country,
                "languages": langs,
                "feeds": [],
            },
        )

    def add_item(self, oid: str, feed: str, item: dict[str, Any]) -> None:
        """List an item in one of an outlet's feeds."""
        feeds = self.outlets[oid]["feeds"]
        if feed not in feeds:
            feeds.append(feed)
        self.feed_items.setdefault(feed, []).append(item)


def iso(value: str) -> str:
    """Dataset timestamps are naive; treat them as UTC."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_authors(authors: list[str]) -> list[str]:
    """Drop the dataset's scraping artefacts from author lists."""
    bad = ("www.", "author", "published", "associated press", "the associated press")
    return [a for a in authors if a and not a.lower().startswith(bad)]


def render_page(
    *,
    url: str,
    canonical: Optional[str],
    site: str,
    lang: str,
    title: str,
    description: str,
    paragraphs: list[str],
    authors: list[str],
    published: Optional[str],
    image: Optional[str],
    section: str,
    jsonld: bool = True,
) -> bytes:
    """Render an article page the way news CMSs do: meta tags, JSON-LD, navigation, boilerplate."""
    e = html.escape
    meta = [
        f'<meta charset="utf-8"><title>{e(title)} | {e(site)}</title>',
        f'<meta name="description" content="{e(description)}">',
        f'<meta property="og:title" content="{e(title)}">',
        f'<meta property="og:site_name" content="{e(site)}">',
        '<meta property="og:type" content="article">',
    ]
    if canonical:
        meta.append(f'<link rel="canonical" href="{e(canonical)}">')
        meta.append(f'<meta property="og:url" content="{e(canonical)}">')
    if image:
        meta.append(f'<meta property="og:image" content="{e(image)}">')
    if published:
        meta.append(f'<meta property="article:published_time" content="{published}">')
    if jsonld:
        data = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": published,
            "author": [{"@type": "Person", "name": a} for a in authors],
            "publisher": {"@type": "Organization", "name": site},
            "articleSection": section,
        }
        meta.append(
            '<script type="application/ld+json">'
            + json.dumps(data, ensure_ascii=False)
            + "</script>"
        )
    nav = "".join(
        f'<li><a href="/{s.lower()}">{s}</a></li>'
        for s in ("Home", "World", "Politics", "Business", "Tech", "Sport", "Opinion")
    )
    byline = f'<p class="byline">By {e(", ".join(authors))}</p>' if authors else ""
    when = f'<time datetime="{published}">{published[:10]}</time>' if published else ""
    body = "".join(f"<p>{e(p)}</p>" for p in paragraphs if p.strip())
    aside = "".join(
        f'<li><a href="/story/{i}">Most read story number {i} of the day</a></li>'
        for i in range(1, 6)
    )
    page = f"""<!DOCTYPE html>
<html lang="{lang}"><head>{"".join(meta)}</head>
<body><header><a class="logo" href="/">{e(site)}</a><nav><ul>{nav}</ul></nav>
<form class="search"><input name="q" placeholder="Search"></form></header>
<main><article><h1>{e(title)}</h1>{byline}{when}<div class="article-body">{body}</div>
<div class="share">Share this article: Facebook Twitter Email</div></article>
<aside><h2>Most read</h2><ol>{aside}</ol></aside></main>
<footer><p>&copy; {e(site)}. All rights reserved.</p><a href="/privacy">Privacy</a>
<a href="/terms">Terms</a><a href="/contact">Contact us</a></footer></body></html>"""
    return page.encode("utf-8")


def rss_document(title: str, link: str, items: list[dict[str, Any]], lang: str) -> bytes:
    """Render an RSS 2.0 feed."""
    e = html.escape
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>',
        f"<title>{e(title)}</title><link>{e(link)}</link><language>{lang}</language>",
        f"<description>{e(title)} - latest news</description>",
    ]
    for it in items:
        stamp = dt.datetime.fromisoformat(it["published"].replace("Z", "+00:00"))
        out.append("<item>")
        out.append(f"<title>{e(it['title'])}</title><link>{e(it['link'])}</link>")
        out.append(f'<guid isPermaLink="false">{e(it["guid"])}</guid>')
        out.append(f"<pubDate>{format_datetime(stamp)}</pubDate>")
        if it.get("description"):
            out.append(f"<description>{e(it['description'])}</description>")
        for author in it.get("authors", []):
            out.append(f"<dc:creator>{e(author)}</dc:creator>")
        for cat in it.get("categories", []):
            out.append(f"<category>{e(cat)}</category>")
        if it.get("image"):
            out.append(f'<media:content url="{e(it["image"])}" medium="image"/>')
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def atom_document(title: str, link: str, items: list[dict[str, Any]], lang: str) -> bytes:
    """Render an Atom 1.0 feed."""
    e = html.escape
    updated = max((it["published"] for it in items), default="2018-01-01T00:00:00Z")
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">',
        f'<title>{e(title)}</title><link href="{e(link)}"/><id>{e(link)}</id>'
        f"<updated>{updated}</updated>",
    ]
    for it in items:
        out.append("<entry>")
        out.append(f'<title>{e(it["title"])}</title><link rel="alternate" href="{e(it["link"])}"/>')
        out.append(f"<id>{e(it['guid'])}</id><published>{it['published']}</published>")
        out.append(f"<updated>{it['published']}</updated>")
        for author in it.get("authors", []):
            out.append(f"<author><name>{e(author)}</name></author>")
        if it.get("description"):
            out.append(f"<summary>{e(it['description'])}</summary>")
        for cat in it.get("categories", []):
            out.append(f'<category term="{e(cat)}"/>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


def add_dataset_story_pages(b: Builder, shared: Path) -> list[dict[str, Any]]:
    """Pages and feed items for the Giveme5W1H events in STORY_EVENTS."""
    root = shared / "corpus" / "dedup" / "giveme5w1h"
    added = []
    with open(root / "index.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["event_id"] in STORY_EVENTS]
    for row in sorted(rows, key=lambda r: (r["event_id"], r["source_domain"], r["url"])):
        if row["title"] in SKIP_TITLES or row["source_domain"] not in OUTLET_NAMES:
            continue
        doc = json.loads((root / "data" / row["file"]).read_text(encoding="utf-8"))
        text = doc.get("text") or ""
        if len(text) < 300:
            continue  # a headline-only capture, not an article
        oid, site, country = OUTLET_NAMES[row["source_domain"]]
        b.outlet(oid, site, f"https://{row['source_domain']}/", country, ["en"])
        published = iso(row["date_publish"])
        authors = clean_authors(doc.get("authors") or [])
        url = doc["url"]
        image = doc.get("image_url") if str(doc.get("image_url")).startswith("http") else None
        page = render_page(
            url=url,
            canonical=url,
            site=site,
            lang="en",
            title=doc["title"],
            description=doc.get("description") or "",
            paragraphs=text.split("\n"),
            authors=authors,
            published=published,
            image=image,
            section="World",
        )
        b.record(url, page, "text/html; charset=utf-8", iso(doc["date_download"]))
        item = {
            "title": doc["title"],
            "link": url,
            "guid": f"{oid}-{row['file'][:12]}",
            "published": published,
            "description": doc.get("description") or "",
            "authors": authors,
            "categories": ["World"],
            "image": image,
            "event": row["event_id"],
            "oid": oid,
            "text": text,
            "site": site,
        }
        b.add_item(oid, feed_url_for(oid), item)
        added.append(item)
    return added


def add_real_pages(b: Builder, shared: Path) -> None:
    """Real third-party HTML pages, each listed in its outlet's feed."""
    for rel, url, host in REAL_PAGES:
        with gzip.open(shared / "corpus" / rel) as handle:
            raw = handle.read()
        if url is None:
            name = Path(rel).name.removesuffix(".html.gz")
            meta = json.loads(
                (shared / "corpus/extraction/newspaper4k/metadata" / f"{name}.json").read_text()
            )
            url = meta["url"]
            host = url.split("/")[2]
            title = meta["title"]
            EXTRA_OUTLETS.setdefault(host, ("people-cn", "People's Daily Online", "CN", ["zh"]))
        else:
            title = None
        assert host is not None and url is not None
        if host in OUTLET_NAMES:
            oid, site, country = OUTLET_NAMES[host]
            langs = ["en"]
        else:
            oid, site, country, langs = EXTRA_OUTLETS[host]
        b.outlet(oid, site, f"https://{host}/", country, langs)
        b.record(url, raw, "text/html", "2019-11-19T06:00:00Z")
        b.add_item(
            oid,
            feed_url_for(oid, "latest"),
            {
                "title": title
                or Path(url.rstrip("/")).name.replace("-", " ").removesuffix(".html"),
                "link": url,
                "guid": url,
                "published": "2019-11-18T12:00:00Z",
                "description": "",
                "authors": [],
                "categories": [],
            },
        )


def add_republika(b: Builder, shared: Path) -> None:
    """The seed article: Republika (Indonesian) on the Putin-Kim meeting of September 2023."""
    lines = (shared / "seeds" / "republika-putin-kim-2023-09-14.txt").read_text(encoding="utf-8")
    title, lead, *body = [line.strip() for line in lines.splitlines() if line.strip()]
    published = "2023-09-14T09:31:00Z"
    b.outlet("republika", "Republika", "https://www.republika.co.id/", "ID", ["id"])
    page = render_page(
        url=REPUBLIKA_URL,
        canonical=REPUBLIKA_URL,
        site="Republika Online",
        lang="id",
        title=title,
        description=lead,
        paragraphs=body,
        authors=[],
        published=published.replace("Z", "+00:00"),
        image=None,
        section="Internasional",
    )
    b.record(REPUBLIKA_URL, page, "text/html; charset=UTF-8", "2023-09-14T10:00:00Z")
    b.add_item(
        "republika",
        REPUBLIKA_FEED,
        {
            "title": title,
            "link": REPUBLIKA_URL,
            "guid": REPUBLIKA_URL,
            "published": published,
            "description": lead,
            "authors": [],
            "categories": ["Internasional"],
        },
    )


def add_written_pages(b: Builder, written: Path = WRITTEN) -> None:
    """Pages written for the demo: the seed's event in other languages, and controls."""
    for name, oid, url, published, section in WRITTEN_PAGES:
        outlet, homepage, country, langs, feed = WRITTEN_OUTLETS[oid]
        lines = (written / name).read_text(encoding="utf-8")
        title, lead, *body = [line.strip() for line in lines.splitlines() if line.strip()]
        b.outlet(oid, outlet, homepage, country, langs)
        page = render_page(
            url=url,
            canonical=url,
            site=outlet,
            lang=langs[0],
            title=title,
            description=lead,
            paragraphs=body,
            authors=[],
            published=published.replace("Z", "+00:00"),
            image=None,
            section=section,
        )
        stamp = dt.datetime.fromisoformat(published) + dt.timedelta(minutes=40)
        recorded = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        b.record(url, page, "text/html; charset=utf-8", recorded)
        b.add_item(
            oid,
            feed,
            {
                "title": title,
                "link": url,
                "guid": url,
                "published": published,
                "description": lead,
                "authors": [],
                "categories": [section],
            },
        )


def add_variants_and_faults(b: Builder, items: list[dict[str, Any]]) -> None:
    """Duplicate variants and faults built around real dataset articles."""
    by_oid = {it["oid"]: it for it in items}
    # AMP copy: another URL, same text, rel=canonical to the original -> canonical_url duplicate.
    fox = by_oid["foxnews"]
    amp = fox["link"].rstrip("/") + ".amp"
    page = render_page(
        url=amp,
        canonical=fox["link"],
        site=fox["site"],
        lang="en",
        title=fox["title"],
        description=fox["description"],
        paragraphs=fox["text"].split("\n"),
        authors=fox["authors"],
        published=fox["published"],
        image=None,
        section="World",
    )
    b.record(amp, page, "text/html; charset=utf-8", "2018-01-14T13:10:00Z")
    b.add_item(
        "foxnews", feed_url_for("foxnews", "amp"), {**fox, "link": amp, "guid": amp + "#amp"}
    )
    # Print copy: different URL, no canonical link, identical text -> exact_text duplicate.
    npr = by_oid["npr"]
    story_id = npr["link"].split("/")[-2]
    printed = f"https://www.npr.org/templates/story/story.php?storyId={story_id}"
    page = render_page(
        url=printed,
        canonical=None,
        site=npr["site"],
        lang="en",
        title=npr["title"],
        description=npr["description"],
        paragraphs=npr["text"].split("\n"),
        authors=npr["authors"],
        published=npr["published"],
        image=None,
        section="World",
        jsonld=False,
    )
    b.record(printed, page, "text/html; charset=utf-8", "2018-01-10T23:30:00Z")
    b.add_item("npr", feed_url_for("npr", "print"), {**npr, "link": printed, "guid": printed})
    # Feed-proxy link that redirects to an article already listed directly -> url duplicate.
    wapo = by_oid["washingtonpost"]
    proxy = FEEDPROXY + hashlib.sha1(wapo["link"].encode()).hexdigest()[:10]
    b.record(
        proxy,
        None,
        "text/html",
        "2018-01-10T23:30:00Z",
        status=301,
        extra_headers={"Location": wapo["link"]},
    )
    b.add_item(
        "washingtonpost",
        feed_url_for("washingtonpost", "proxy"),
        {**wapo, "link": proxy, "guid": proxy},
    )
    # The same link listed in a second feed of the outlet -> collapsed before fetching.
    dm = by_oid["dailymail"]
    b.add_item("dailymail", feed_url_for("dailymail", "news"), {**dm, "categories": ["News"]})
    # Faults: a page that is gone, a PDF, an empty body, and a feed that is an HTML error page.
    for suffix, status, ctype, body, ext in (
        (
            "removed-story",
            404,
            "text/html",
            b"<html><body><h1>Not Found</h1></body></html>",
            ".html",
        ),
        ("report.pdf", 200, "application/pdf", b"%PDF-1.4\n% demo pdf body\n", ".pdf"),
        ("empty-story", 200, "text/html", b"", ".html"),
    ):
        url = f"https://www.dailymail.co.uk/news/demo-{suffix}"
        b.record(url, body, ctype, "2018-01-01T22:45:00Z", status=status, suffix=ext)
        b.add_item(
            "dailymail",
            feed_url_for("dailymail", "news"),
            {
                "title": f"Demo fault: {suffix}",
                "link": url,
                "guid": url,
                "published": "2018-01-01T20:00:00Z",
                "description": "",
                "authors": [],
                "categories": ["News"],
            },
        )
    b.outlet("tass", "TASS", "https://tass.com/", "RU", ["en", "ru"])
    b.outlets["tass"]["feeds"].append("https://tass.com/rss/v2.xml")
    b.record(
        "https://tass.com/rss/v2.xml",
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
        b"<body><h1>Checking your browser before accessing tass.com</h1></body></html>",
        "text/html; charset=UTF-8",
        "2023-09-14T10:00:00Z",
    )


def write_feeds(b: Builder) -> None:
    """Record every feed document (RSS for most outlets, Atom for every third).

    The feeds of the written pages are RSS (as those outlets' feeds are) and do not count in the
    rotation, so adding them left every other feed document as it was.
    """
    written = {spec[4] for spec in WRITTEN_OUTLETS.values()}
    rotation = 0
    for feed, items in sorted(b.feed_items.items()):
        oid = next(o for o, v in b.outlets.items() if feed in v["feeds"])
        outlet = b.outlets[oid]
        lang = outlet["languages"][0] if outlet["languages"] else "en"
        render = rss_document
        if feed not in written:
            render = atom_document if rotation % 3 == 2 else rss_document
            rotation += 1
        ordered = sorted(items, key=lambda it: it["published"], reverse=True)
        doc = render(f"{outlet['name']}", outlet["homepage"], ordered, lang)
        recorded = max(it["published"] for it in items)
        ctype = "application/atom+xml" if render is atom_document else "application/rss+xml"
        b.record(feed, doc, f"{ctype}; charset=utf-8", recorded, suffix=".xml")


def write_outlets(b: Builder, path: Path) -> None:
    """Write the demo outlet registry."""
    lines = [
        "# Demo outlets: every feed and page URL below is served from seeds/demo/recording/.",
        "# Built by scripts/build_demo.py; see seeds/demo/README.md for what is real.",
        "outlets:",
    ]
    for oid in sorted(b.outlets):
        o = b.outlets[oid]
        lines += [
            f"  - id: {o['id']}",
            f"    name: {json.dumps(o['name'], ensure_ascii=False)}",
            f"    homepage: {o['homepage']}",
            f"    country: {o['country']}",
            f"    languages: [{', '.join(o['languages'])}]",
            "    feeds:",
            *[f"      - {f}" for f in o["feeds"]],
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Optional[list[str]] = None) -> int:
    """Build seeds/demo from the shared corpus."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=ROOT / "seeds" / "demo")
    args = parser.parse_args(argv)
    if not (args.shared / "corpus").is_dir():
        print(f"no corpus at {args.shared / 'corpus'}", file=sys.stderr)
        return 2
    recording = args.out / "recording"
    if recording.exists():
        shutil.rmtree(recording)
    recording.mkdir(parents=True)
    b = Builder(recording)
    items = add_dataset_story_pages(b, args.shared)
    add_real_pages(b, args.shared)
    add_republika(b, args.shared)
    add_written_pages(b)
    add_variants_and_faults(b, items)
    write_feeds(b)
    b.index.sort(key=lambda r: r["url"])
    with open(recording / "index.jsonl", "w", encoding="utf-8") as handle:
        for rec in b.index:
            handle.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
    write_outlets(b, args.out / "outlets.yaml")
    print(f"{len(b.index)} responses, {len(b.outlets)} outlets -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
