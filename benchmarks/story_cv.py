"""Same-story thresholds chosen by cross-validation over event splits, reported on unseen events.

    python benchmarks/story_cv.py [DIR] [--json]

DIR is a giveme5w1h-style directory (default ``../shared/corpus/dedup/giveme5w1h``). Its events
are split in two halves by a keyed hash of the event id (``event_split``). For each direction the
grid below is run on one half (the real ``SameStoryEdges`` on FnApiRunner, then components), the
settings with the best pairwise F1 are kept, and those settings are reported on the other half,
whose events took no part in the choice. Also prints the defaults in-sample (whole directory and
each half) and pairwise F1 by time window: the measurements behind ``StorySettings``' defaults.
"""

import argparse
import itertools
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.labelled import load_labelled  # noqa: E402
from evaluation.stories import evaluate_same_story, event_split  # noqa: E402
from transforms.dedup.story.settings import StorySettings  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "corpus" / "dedup" / "giveme5w1h"
# The grid: how weak edges are admitted (rank rule and k), the weak and the strong threshold.
GRID = {
    "mutual": (False, True),
    "top_k": (1, 2, 3),
    "threshold": (0.08, 0.1, 0.12, 0.15),
    "strong_threshold": (0.15, 0.2, 0.25, 0.3),
}
WINDOWS = (72.0, 168.0, 336.0, 720.0, 2160.0)


def grid_settings(base: StorySettings) -> list[StorySettings]:
    """Every combination of the grid on top of ``base``, in a fixed order."""
    keys = sorted(GRID)
    return [
        replace(base, **dict(zip(keys, values, strict=True)))  # type: ignore[arg-type]
        for values in itertools.product(*(GRID[k] for k in keys))
    ]


def choose(directory: str, events: list[str], base: StorySettings) -> tuple[StorySettings, float]:
    """The grid point with the best pairwise F1 on ``events`` (the first one on ties)."""
    best: tuple[StorySettings, float] = (base, -1.0)
    for settings in grid_settings(base):
        f1 = evaluate_same_story(directory, settings, events=events)["same_story"]["f1"]
        if f1 > best[1]:
            best = (settings, f1)
    return best


def knobs(settings: StorySettings) -> dict[str, Any]:
    """The grid's knobs of ``settings``."""
    return {k: v for k, v in asdict(settings).items() if k in GRID}


def main() -> int:
    """Run the cross-validation and print the tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = StorySettings()
    halves = event_split(a.event_id for a in load_labelled(args.directory))
    report: dict[str, Any] = {"defaults": knobs(base), "window_hours": base.window_hours}
    report["in_sample"] = {
        "all": evaluate_same_story(args.directory, base),
        "half_a": evaluate_same_story(args.directory, base, events=halves[0]),
        "half_b": evaluate_same_story(args.directory, base, events=halves[1]),
    }
    report["cross_validation"] = []
    for name, (pick, held) in (("a->b", halves), ("b->a", halves[::-1])):
        chosen, f1 = choose(args.directory, pick, base)
        result = evaluate_same_story(args.directory, chosen, events=held)
        report["cross_validation"].append(
            {"direction": name, "chosen": knobs(chosen), "choose_f1": f1, "held_out": result}
        )
    report["by_window"] = {
        str(w): evaluate_same_story(args.directory, replace(base, window_hours=w))["same_story"]
        for w in WINDOWS
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"defaults {report['defaults']} window {base.window_hours} h")
    header = f"{'':26} {'P':>6} {'R':>6} {'F1':>6} {'groups':>6} {'largest':>7}"
    print(header)
    for key, result in report["in_sample"].items():
        for system in ("same_story", "shingle_baseline"):
            r = result[system]
            print(
                f"{key + ' ' + system:26} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}"
                f" {r['groups']:6d} {r['largest_group']:7d}"
            )
    for row in report["cross_validation"]:
        print(f"{row['direction']}: chosen {row['chosen']} (F1 {row['choose_f1']:.3f} on its half)")
        for system in ("same_story", "shingle_baseline"):
            r = row["held_out"][system]
            print(
                f"  held-out {system:17} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}"
                f" {r['groups']:6d} {r['largest_group']:7d}"
            )
    for window, r in report["by_window"].items():
        print(f"window {window:>7} h: P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
