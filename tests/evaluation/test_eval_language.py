import json

import pytest

import transforms.language.detect
from evaluation import cli as evaluate
from evaluation.language import main
from tests.conftest import FIXTURES, corpus_dir

LANG_FIXTURES = FIXTURES / "lang"


def run_json(capsys, *args):
    assert main([str(LANG_FIXTURES), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluation_runs_the_pipeline_function():
    # Not a copy: the evaluation calls the very function DetectLanguage runs.
    import evaluation.language as module

    assert module.detect_language is transforms.language.detect.detect_language


def test_json_report_compares_ours_with_bare_langdetect(capsys):
    report = run_json(capsys)
    # Default languages that have a file, in the default order; blank lines are not samples.
    assert report["languages"] == ["id", "ms", "en"]
    assert "ru" in report["missing"] and "sv" not in report["languages"]
    rows = report["per_language"]
    assert {lang: row["n"] for lang, row in rows.items()} == {"id": 4, "ms": 4, "en": 3}
    assert rows["ms"]["ours"] == 1.0 and rows["ms"]["bare"] == 0.0
    assert rows["id"]["ours"] == 1.0 and rows["en"]["ours"] == 1.0
    assert report["macro"] == {"ours": 1.0, "bare": pytest.approx(2 / 3, abs=1e-4)}
    assert report["id_ms_confusion"]["bare"] == {"ms_as_id": 4, "id_as_ms": 0}
    assert report["id_ms_confusion"]["ours"] == {"ms_as_id": 0, "id_as_ms": 0}
    assert report["und_rate"]["ours"] == 0.0 and report["samples"] == 11
    assert report["ms_per_sample"]["ours"] > 0 and report["ms_per_sample"]["bare"] > 0
    assert report["sources"]["langdetect+markers"] == 8
    assert report["settings"]["max_chars"] == 1000


def test_limit_offset_languages_and_all_languages(capsys):
    assert run_json(capsys, "--limit", "1")["samples"] == 3
    assert run_json(capsys, "--offset", "3")["per_language"]["id"]["n"] == 1
    picked = run_json(capsys, "--languages", "ms,xx")
    assert picked["languages"] == ["ms"] and picked["missing"] == ["xx"]
    everything = run_json(capsys, "--all-languages")
    assert everything["languages"] == ["en", "id", "ms", "sv"]
    assert everything["per_language"]["sv"]["ours"] == 1.0


def test_other_sample_sets(capsys):
    report = run_json(capsys, "--set", "word-pairs")
    assert report["set"] == "word-pairs" and report["per_language"]["en"]["n"] == 3


def test_table_output(capsys):
    assert main([str(LANG_FIXTURES), "--languages", "id,ms"]) == 0
    out = capsys.readouterr().out
    assert "ms         4   1.000       0.000" in out
    assert "Malay taken for Indonesian: ours 0, langdetect 4" in out
    assert out.splitlines()[-1].startswith("decided by:")


def test_bad_input_exits_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    (tmp_path / "sentences").mkdir()
    assert main([str(tmp_path)]) == 2
    assert "no requested language" in capsys.readouterr().err


def test_dispatched_by_newsbeam_eval(capsys):
    assert evaluate.main(["language", str(LANG_FIXTURES), "--limit", "1"]) == 0
    assert "macro" in capsys.readouterr().out


@pytest.mark.corpus
def test_goals_on_lingua_sentences(capsys):
    # Issue 3, measured on the first 300 sentences of each of the 15 languages. Reached: Indonesian
    # >= 0.99, better than bare langdetect overall and on the 14 languages other than Malay.
    # Not reached: Malay (and so the 0.98 macro): most lines of lingua's ms.txt are Indonesian
    # text (docs/quality-language.md), so the assertion pins what the markers honestly achieve.
    lingua = corpus_dir("language", "lingua")
    assert main([str(lingua), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["per_language"]
    assert len(rows) == 15 and all(row["n"] == 300 for row in rows.values())
    assert rows["id"]["ours"] >= 0.99
    assert rows["ms"]["ours"] >= 0.02 > rows["ms"]["bare"]
    # Line 231 of id.txt is Malaysian text (docs/quality-language.md, issue 13): called Malay.
    assert report["id_ms_confusion"]["ours"]["id_as_ms"] <= 1
    others = [row["ours"] for lang, row in rows.items() if lang != "ms"]
    assert sum(others) / len(others) >= 0.99
    assert report["macro"]["ours"] > report["macro"]["bare"] + 0.004
    assert report["und_rate"]["ours"] <= 0.01
