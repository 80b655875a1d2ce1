import gzip
import json
from pathlib import Path

import pytest

import transforms.extract.article
from evaluation import cli as evaluate
from evaluation import extraction as ev
from tests.conftest import FIXTURES, corpus_dir

# --- metrics -------------------------------------------------------------------------------------


def test_token_prf_counts_multiset_overlap_of_lowercase_word_tokens():
    # pred tokens a, a, b; gold tokens a, b, b -> overlap 2 (one "a", one "b")
    assert ev.token_prf("A a, b!", "a b b") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert ev.token_prf("The cat sat", "the cat sat on the mat").precision == 1.0
    assert ev.token_prf("The cat sat", "the cat sat on the mat").recall == 0.5


def test_empty_output_or_no_overlap_scores_zero():
    assert ev.token_prf("", "gold text") == (0.0, 0.0, 0.0)
    assert ev.token_prf(None, "gold text") == (0.0, 0.0, 0.0)
    assert ev.token_prf("other words", "gold text") == (0.0, 0.0, 0.0)


def test_title_match_normalizes_only_whitespace_and_quotes():
    assert ev.title_match("It\u2019s  a \u201cdeal\u201d ", 'It\'s a "deal"')
    assert not ev.title_match("it's a deal", "It's a deal")  # case matters
    assert not ev.title_match("Bridge reopens | Gazette", "Bridge reopens")
    assert not ev.title_match(None, "x") and not ev.title_match("x", None)


def test_date_match_compares_the_stated_day_without_time_zone_shifts():
    assert ev.date_match("2018-06-19T05:50:00+09:00", "2018-06-19T05:50:00+09:00")
    assert ev.date_match("2018-06-19", "2018-06-19T23:00:00")
    assert not ev.date_match("2018-06-18T20:50:00Z", "2018-06-19T05:50:00+09:00")
    assert not ev.date_match(None, "2018-06-19") and not ev.date_match("2018-06-19", None)


@pytest.mark.parametrize(
    ("ours", "gold", "match"),
    [
        (["Jane Doe"], "Jane Doe", True),
        (["Jane Doe"], "Jane Doe, MS, RD", True),  # one-word credentials are optional
        (["Jane Doe", "MS", "RD"], "Jane Doe, MS, RD", True),
        (["Jane Doe"], "Jane Doe and John Roe", False),  # a named person is missing
        (["Jane Doe", "John Roe"], "Jane Doe and John Roe", True),
        (["Jane Doe", "Web Desk"], "Jane Doe", False),  # an extra name
        (["Susan"], "Susan", True),
        ([], "Jane Doe", False),
        (["Jane Doe"], None, False),
    ],
)
def test_author_match(ours, gold, match):
    assert ev.author_match(ours, gold) is match


# --- layouts -------------------------------------------------------------------------------------

PAGE = (FIXTURES / "article_en.html").read_bytes()
GOLD_BODY = "The harbour bridge reopened to traffic on Monday morning"
URL = "https://news.example.org/2024/03/04/harbour-bridge-reopens"


def write_gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))


def aeb_dir(root: Path) -> Path:
    write_gz(root / "html" / "p1.html.gz", PAGE)
    (root / "ground-truth.json").write_text(
        json.dumps({"p1": {"articleBody": GOLD_BODY, "url": URL}}), encoding="utf-8"
    )
    return root


def wcxb_dir(root: Path) -> Path:
    write_gz(root / "html" / "0001.html.gz", PAGE)
    truth = {
        "main_content": GOLD_BODY,
        "title": "Harbour bridge reopens after three years of repairs",
        "author": "Maria Okafor, Tom Lindqvist",
        "publish_date": "2024-03-04",
    }
    (root / "ground-truth").mkdir()
    (root / "ground-truth" / "0001.json").write_text(
        json.dumps({"url": URL, "ground_truth": truth}), encoding="utf-8"
    )
    return root


def newspaper4k_dir(root: Path) -> Path:
    (root / "html").mkdir(parents=True)
    (root / "html" / "bridge.html").write_bytes(PAGE)  # uncompressed works too
    (root / "txt").mkdir()
    (root / "txt" / "bridge.txt").write_text(GOLD_BODY, encoding="utf-8")
    (root / "metadata").mkdir()
    meta = {"url": URL, "title": "Harbour bridge reopens", "authors": ["Maria Okafor"]}
    (root / "metadata" / "bridge.json").write_text(json.dumps(meta), encoding="utf-8")
    write_gz(root / "html" / "no_gold.html.gz", PAGE)  # no txt, no metadata: skipped
    return root


@pytest.mark.parametrize(
    ("builder", "layout"),
    [(aeb_dir, "scrapinghub-aeb"), (wcxb_dir, "wcxb"), (newspaper4k_dir, "newspaper4k")],
)
def test_layouts_are_detected_and_loaded(tmp_path, builder, layout):
    root = builder(tmp_path)
    assert ev.detect_layout(root) == layout
    samples = list(ev.load_samples(root, layout))
    assert len(samples) == 1
    sample = samples[0]
    assert sample.html == PAGE and sample.url == URL and sample.body == GOLD_BODY


def test_wcxb_gold_fields_are_read(tmp_path):
    (sample,) = ev.load_samples(wcxb_dir(tmp_path), "wcxb")
    assert sample.title == "Harbour bridge reopens after three years of repairs"
    assert (sample.authors, sample.date) == ("Maria Okafor, Tom Lindqvist", "2024-03-04")


def test_unknown_layout_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "pages").mkdir()
    with pytest.raises(ev.LayoutError, match="unknown layout"):
        ev.detect_layout(tmp_path)
    assert ev.main([str(tmp_path)]) == 2
    assert "unknown layout" in capsys.readouterr().err
    assert ev.main([str(tmp_path / "missing")]) == 2


def test_the_evaluation_runs_the_pipelines_own_extraction(tmp_path, monkeypatch):
    calls = []
    real = ev.extract_article

    def spy(page, settings):
        calls.append(page.url)
        return real(page, settings)

    assert real is transforms.extract.article.extract_article  # not a copy
    monkeypatch.setattr(ev, "extract_article", spy)
    ev.evaluate(wcxb_dir(tmp_path), baseline=False)
    assert calls == [URL]


def test_json_output_has_both_systems_side_by_side(tmp_path, capsys):
    root = wcxb_dir(tmp_path)
    assert evaluate.main(["extraction", str(root), "--json", "--limit", "1"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["layout"] == "wcxb"
    ours, bare = payload["systems"]["newsbeam"], payload["systems"]["trafilatura"]
    assert ours["documents"] == bare["documents"] == 1
    assert ours["recall"] == 1.0 and ours["title_exact"] == 1.0
    assert ours["date_day"] == 1.0 and ours["author"] == 1.0
    assert ours["pages_per_s"] > 0


def test_table_output_and_no_baseline(tmp_path, capsys):
    assert ev.main([str(aeb_dir(tmp_path)), "--no-baseline"]) == 0
    out = capsys.readouterr().out
    assert "| newsbeam |" in out and "trafilatura" not in out.split("|---")[1]


def test_readability_baseline_is_a_body_only_row(tmp_path, capsys):
    assert ev.main([str(wcxb_dir(tmp_path)), "--json"]) == 0
    systems = json.loads(capsys.readouterr().out)["systems"]
    assert set(systems) == {"newsbeam", "trafilatura", "readability"}
    readability = systems["readability"]
    assert readability["documents"] == 1 and readability["recall"] == 1.0
    # readability-lxml gives no metadata: its metadata columns are empty, not zero
    assert readability["title_exact"] is None and readability["title_n"] == 0
    assert readability["date_day"] is None and readability["author"] is None


def test_comments_row_runs_ours_with_reader_comments_kept(tmp_path, monkeypatch):
    seen = []
    real = ev.extract_article

    def spy(page, settings):
        seen.append(settings.include_comments)
        return real(page, settings)

    monkeypatch.setattr(ev, "extract_article", spy)
    _, results = ev.evaluate(aeb_dir(tmp_path), baseline=False, comments=True)
    assert list(results) == ["newsbeam", "newsbeam+comments"]
    assert seen == [False, True]


def test_half_selects_every_other_page_by_position(tmp_path):
    samples = [ev.Sample(str(n), None, b"", "x", None, None, None) for n in range(5)]
    assert [s.sample_id for s in ev.select_half(iter(samples), "even")] == ["0", "2", "4"]
    assert [s.sample_id for s in ev.select_half(iter(samples), "odd")] == ["1", "3"]
    assert len(list(ev.select_half(iter(samples), None))) == 5
    root = aeb_dir(tmp_path)
    assert ev.evaluate(root, baseline=False, half="odd")[1]["newsbeam"].documents == 0


# --- the shared corpus (skipped when absent) ---------------------------------------------------


@pytest.mark.corpus
def test_corpus_scrapinghub_aeb_beats_bare_trafilatura():
    root = corpus_dir("extraction", "scrapinghub-aeb")
    _, results = ev.evaluate(root)
    ours, bare = results["newsbeam"], results["trafilatura"]
    assert ours.documents == 181
    assert ours.f1 >= 0.96
    assert ours.f1 > bare.f1 + 0.01


@pytest.mark.corpus
def test_corpus_wcxb_dev_body_title_date_author():
    root = corpus_dir("extraction", "wcxb-dev")
    _, results = ev.evaluate(root, baseline=False)
    ours = results["newsbeam"]
    # Measured 0.941 / 0.854 / 0.868 / 0.676 (bare trafilatura: 0.930 / 0.538 / 0.849 / 0.660).
    # The date goal (0.95) is not reached: 37 of the 659 gold dates appear nowhere in
    # their page (docs/quality-extraction.md).
    assert ours.f1 >= 0.94
    assert ours.title_exact is not None and ours.title_exact >= 0.85
    assert ours.date_day is not None and ours.date_day >= 0.86
    assert ours.author is not None and ours.author >= 0.66


@pytest.mark.corpus
def test_corpus_mozilla_readability_not_below_bare_trafilatura():
    root = corpus_dir("extraction", "mozilla-readability")
    _, results = ev.evaluate(root)
    ours, bare = results["newsbeam"], results["trafilatura"]
    # Measured 0.942 (bare trafilatura 0.934, readability-lxml 0.967); 0.904 before the
    # repeated-lines rule asked readability (docs/quality-extraction.md, issue 13).
    assert ours.documents == 116
    assert ours.f1 >= 0.935 and ours.f1 >= bare.f1
    assert ours.recall >= 0.93
