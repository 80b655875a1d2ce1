"""The whole job on hostile pages served over HTTP: each ends as a flagged record, a reasoned
filtered item or a dead letter, and the report counts the new flags (docs/hostile-pages.md)."""

import random
from pathlib import Path
from typing import Any

from pipelines.ingest import run
from reporting.aggregate import load_report_data
from tests.conftest import LocalServer, articles_table
from tests.extract.test_hostile import (
    _APP_SHELL,
    _DE,
    _FR,
    _two_paragraphs,
    comments_page,
    document,
    prose,
)
from transforms.extract import guards


def _pages(rng: random.Random) -> dict[str, bytes]:
    """Path -> page bytes, one page per hostile class plus one ordinary article."""
    paras = [prose(rng) for _ in range(3)]
    repeated = "".join(f"<p>{p}</p>" for _ in range(400) for p in paras)
    links = "".join(f'<li><a href="/n/{i}">{prose(rng, 9)}</a></li>' for i in range(3000))
    nest = "<div>" * 3000 + "".join(f"<p>{prose(rng)}</p>" for _ in range(6)) + "</div>" * 3000
    ordinary = "".join(f"<p>{prose(rng)}</p>" for _ in range(6))
    oversized = "".join(f"<p>{prose(rng)}</p>" for _ in range(3000))
    return {
        "/big": document(f"<article>{repeated}</article>"),
        "/comments": comments_page(rng),
        "/links": document(f"<ul>{links}</ul>"),
        "/deep": document(nest),
        "/mixed": _two_paragraphs(_FR.encode(), _DE.encode("cp1252")),
        "/shell": _APP_SHELL,
        "/shell-with-summary": _APP_SHELL,
        "/ordinary": document(f"<article>{ordinary}</article>"),
        "/oversized": document(f"<article>{oversized}</article>"),
    }


def _serve(server: LocalServer, tmp_path: Path, extract: str = "") -> tuple[Path, Path]:
    """Serve the pages and their feed; return (outlets file, config file)."""
    rng = random.Random(11)
    pages = _pages(rng)
    summary = prose(rng, 60)
    items = "".join(
        f"<item><title>{path}</title><link>{server.url(path)}</link>"
        + (f"<description>{summary}</description>" if path == "/shell-with-summary" else "")
        + "</item>"
        for path in pages
    )
    feed = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{items}</channel></rss>'
    )
    server.routes["/rss"] = (200, {"Content-Type": "application/rss+xml"}, feed.encode())
    for path, body in pages.items():
        server.routes[path] = (200, {"Content-Type": "text/html"}, body)
    outlets = tmp_path / "outlets.yaml"
    outlets.write_text(
        f"outlets:\n  - {{id: hostile, name: Hostile, languages: [en], "
        f"feeds: ['{server.url('/rss')}']}}\n"
    )
    config = tmp_path / "config.yaml"
    # 1 MB fetch cap: /oversized (about 1.2 MB) is refused, everything else fits.
    config.write_text(
        "fetch: {retries: 0, read_timeout_s: 10, allow_networks: ['127.0.0.0/8'], min_delay_s: 0, "
        f"max_bytes: 1000000}}\n{extract}"
    )
    return outlets, config


def _run(outlets: Path, config: Path, out: Path, run_id: str) -> dict[str, Any]:
    """The batch job on FnApiRunner; its run summary."""
    args = ["--outlets", str(outlets), "--output", str(out), "--config", str(config)]
    return run([*args, "--run_id", run_id, "--runner", "FnApiRunner"])


def test_every_hostile_page_ends_as_a_flagged_record_or_a_reasoned_drop(server, tmp_path):
    outlets, config = _serve(server, tmp_path)
    out = tmp_path / "out"
    summary = _run(outlets, config, out, "hostile")
    assert summary["balance"]["balanced"] is True
    assert summary["entries_in"] == 9
    assert summary["filtered"]["by_stage"] == {
        "extract_articles": {guards.NOT_ARTICLE: 1, guards.NO_BODY: 1}
    }
    # The fetch cap refuses a page rather than cutting it: a dead letter that says so.
    assert summary["dead_letters"]["by_stage"] == {"fetch_pages": {"too_large": 1}}
    rows = {r["url"].rsplit("/", 1)[-1]: r for r in articles_table(out).to_pylist()}
    assert set(rows) == {"big", "comments", "deep", "mixed", "shell-with-summary", "ordinary"}
    assert rows["big"]["quality_flags"] == [] and rows["big"]["word_count"] > 60_000
    assert guards.POSSIBLY_TRUNCATED in rows["comments"]["quality_flags"]
    assert guards.FALLBACK_BODY in rows["deep"]["quality_flags"]
    assert rows["deep"]["word_count"] >= 300
    assert guards.MIXED_CHARSET in rows["mixed"]["quality_flags"]
    assert "Brücke" in rows["mixed"]["text"] and "Ã" not in rows["mixed"]["text"]
    assert rows["shell-with-summary"]["quality_flags"] == ["no_body_used_summary"]
    assert rows["ordinary"]["quality_flags"] == []
    # The report counts flags generically: the new ones show up without a change to reporting/.
    quality = dict(load_report_data(str(out)).quality)
    for flag in (guards.POSSIBLY_TRUNCATED, guards.FALLBACK_BODY, guards.MIXED_CHARSET):
        assert quality[flag] == 1


def test_a_page_over_the_extraction_timeout_becomes_a_timeout_dead_letter(server, tmp_path):
    # Extraction of the 400-times repeated page takes far longer than 10 ms on any machine.
    outlets, config = _serve(server, tmp_path, "extract: {timeout_s: 0.01}\n")
    out = tmp_path / "out"
    summary = _run(outlets, config, out, "timeout")
    assert summary["balance"]["balanced"] is True
    dead = summary["dead_letters"]["by_stage"]
    assert dead["extract_articles"].get("timeout", 0) >= 1
    assert dead["fetch_pages"] == {"too_large": 1}
