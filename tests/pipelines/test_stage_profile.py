"""benchmarks/stages.py: stage names grouped by step, bundle durations, and one real run."""

import importlib.util
import subprocess
import sys

from tests.conftest import ROOT, corpus_dir


def _load():
    spec = importlib.util.spec_from_file_location("bench_stages", ROOT / "benchmarks" / "stages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_stages"] = module
    spec.loader.exec_module(module)
    return module


stages = _load()
FUSED = (
    "((((DedupArticles/SameStory/JoinSecond/CoGroupByKeyImpl/GroupByKey/Read)"
    "+(ref_AppliedPTransform_DedupArticles-SameStory-JoinSecond-MapTuple-collect_values-_224))"
    "+(ref_AppliedPTransform_WriteArticles-KeyByFile_12))"
)


def test_a_fused_stage_is_named_by_the_steps_it_runs_in_order():
    assert stages.top_level_steps(FUSED) == "DedupArticles+WriteArticles"
    assert stages.top_level_steps(FUSED, 2) == "DedupArticles/SameStory+WriteArticles/KeyByFile"


def test_bundles_last_until_the_next_starts_and_group_by_steps():
    bundle = stages.Bundle
    bundles = [
        bundle(0.0, 100.0, "(ReadFeeds/Reshuffle/Read)"),
        bundle(1.0, 150.0, FUSED),
        bundle(1.1, 170.0, FUSED),
        bundle(1.15, 160.0, "(WriteArticles/GroupByFile/Read)"),
    ]
    groups = stages.group_bundles(bundles, ended=3.0)
    assert [(g.name, round(g.seconds, 2), g.bundles) for g in groups] == [
        ("WriteArticles", 1.85, 1),
        ("ReadFeeds", 1.0, 1),
        ("DedupArticles+WriteArticles", 0.15, 2),
    ]
    fused = groups[2]
    assert (fused.first_rss_mb, fused.max_rss_mb) == (150.0, 170.0)
    assert round(stages.small_bundle_seconds(bundles, ended=3.0), 2) == 0.15


def test_a_real_run_prints_its_figures():
    extraction = corpus_dir("extraction")
    done = subprocess.run(
        [sys.executable, "benchmarks/stages.py", "--pages", "12", "--corpus", str(extraction)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = dict(
        line.split(": ", 1) for line in done.stdout.splitlines() if line.count(": ") == 1
    )
    assert int(figures["bundles"]) > 10
    assert "ExtractArticles" in done.stdout and "WriteArticles" in done.stdout
    assert 0 < float(figures["small_bundles_s"]) < float(figures["total_s"])
    assert float(figures["imports_s"]) + float(figures["graph_s"]) < float(figures["total_s"])
