"""The layout is the architecture: no import loops, and no import against the direction of flow.

Walks every module of ``transforms``, ``evaluation``, ``reporting`` and ``pipelines`` with ``ast``
(imports inside functions included, since a lazy import only hides a loop) and checks:

- no cycle between modules (``from pkg import name`` of a package counts as importing its
  ``__init__``, which is where such loops start);
- ``transforms`` stages import only stages before them: core < net < feeds < fetch < extract <
  language < dedup < sinks;
- ``transforms.core.records`` and ``transforms.core.settings`` import nothing of ours;
- ``transforms`` never imports ``pipelines``, ``evaluation`` or ``reporting``; ``evaluation``
  never imports ``pipelines`` or ``reporting``; of ``pipelines`` only the CLI dispatches to
  ``evaluation``;
- ``reporting`` imports ``transforms.core`` and nothing else of ours (it reads tables, it is no
  stage), and only ``pipelines`` imports ``reporting``.

The checker itself is tested on small synthetic trees, so a broken checker cannot pass silently.
"""

import ast
import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("transforms", "evaluation", "reporting", "pipelines")
STAGES = ("core", "net", "feeds", "fetch", "extract", "language", "dedup", "sinks")
LEAVES = frozenset({"transforms.core.records", "transforms.core.settings"})
EVALUATION_DISPATCH = frozenset({"pipelines.cli"})


def module_name(root: Path, path: Path) -> str:
    """Dotted module name of a file under ``root`` (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """Our modules that ``name`` imports, anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` imports the submodule; `from pkg import name`, pkg/__init__.
            candidates = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            # `import a.b.c` of a name that is not a module: the longest module prefix.
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    modules = discover(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def stage_rank(module: str) -> int | None:
    """Position of a ``transforms`` module's stage in the flow (None outside a stage)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "transforms":
        return None
    return STAGES.index(parts[1]) if parts[1] in STAGES else None


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Every import against the layering rules, as readable lines."""
    problems: list[str] = []
    for importer, targets in sorted(graph.items()):
        top = importer.split(".")[0]
        for target in sorted(targets):
            target_top = target.split(".")[0]
            if importer in LEAVES:
                problems.append(f"{importer} must import nothing of ours, imports {target}")
            if top == "transforms" and target_top in {"pipelines", "evaluation", "reporting"}:
                problems.append(f"stage code {importer} imports {target}")
            if top == "evaluation" and target_top == "pipelines":
                problems.append(f"evaluation {importer} imports job wiring {target}")
            if top == "evaluation" and target_top == "reporting":
                problems.append(f"evaluation {importer} imports reporting {target}")
            if (
                top == "reporting"
                and target_top != "reporting"
                and not (target == "transforms.core" or target.startswith("transforms.core."))
            ):
                problems.append(f"reporting {importer} imports more than transforms.core: {target}")
            if (
                top == "pipelines"
                and target_top == "evaluation"
                and importer not in EVALUATION_DISPATCH
            ):
                problems.append(f"job wiring {importer} imports evaluation {target}")
            mine, theirs = stage_rank(importer), stage_rank(target)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(
                    f"{importer} ({STAGES[mine]}) imports a later stage: {target} "
                    f"({STAGES[theirs]})"
                )
    return problems


# --- the project --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def test_every_stage_is_a_package_and_the_graph_is_not_empty(graph):
    for stage in STAGES:
        assert (ROOT / "transforms" / stage / "__init__.py").is_file(), stage
    assert sum(len(t) for t in graph.values()) > 100


def test_no_import_loops(graph):
    assert cycles(graph) == []


def test_imports_follow_the_direction_of_flow(graph):
    assert violations(graph) == []


def test_records_and_settings_import_nothing_of_ours(graph):
    for leaf in LEAVES:
        assert leaf in graph
        assert graph[leaf] == set(), graph[leaf]


@pytest.mark.parametrize(
    "package",
    [
        "transforms.core",
        "transforms.net",
        "transforms.feeds",
        "transforms.fetch",
        "transforms.extract",
        "transforms.language",
        "transforms.dedup",
        "transforms.dedup.near",
        "transforms.dedup.story",
        "transforms.dedup.streaming",
        "transforms.sinks",
    ],
)
def test_each_stage_exports_its_public_transforms_and_records(package):
    module = importlib.import_module(package)
    assert module.__doc__, f"{package} says what the stage does"
    exported = module.__all__
    assert exported == sorted(exported)
    for name in exported:
        obj = getattr(module, name)
        # Defined inside the package, not re-exported from elsewhere.
        assert obj.__module__.startswith(package + "."), (name, obj.__module__)


def test_tests_mirror_the_layout():
    for stage in STAGES:
        if stage == "core":
            continue
        assert list((ROOT / "tests" / stage).glob("test_*.py")), f"tests/{stage}/ has tests"
    assert list((ROOT / "tests" / "evaluation").glob("test_*.py"))
    assert list((ROOT / "tests" / "reporting").glob("test_*.py"))
    assert list((ROOT / "tests" / "pipelines").glob("test_*.py"))


# --- the checker ----------------------------------------------------------------------------------


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


BASE = {
    "transforms/__init__.py": "",
    "transforms/core/__init__.py": "",
    "transforms/core/records.py": "import json\n",
    "transforms/core/settings.py": "",
    "transforms/fetch/__init__.py": "",
    "transforms/fetch/pages.py": "from transforms.core.records import X\n",
    "transforms/dedup/__init__.py": "",
    "transforms/dedup/articles.py": "from transforms.fetch import pages\n",
    "evaluation/__init__.py": "",
    "evaluation/dedup.py": "from transforms.dedup.articles import DedupArticles\n",
    "reporting/__init__.py": "",
    "reporting/tables.py": "from transforms.core.records import X\n",
    "pipelines/__init__.py": "",
    "pipelines/cli.py": "def main():\n    from evaluation import dedup\n",
    "pipelines/report.py": "def main():\n    from reporting import tables\n",
}


def test_checker_accepts_a_clean_tree(tmp_path):
    write_tree(tmp_path, BASE)
    graph = import_graph(tmp_path)
    assert graph["transforms.dedup.articles"] == {"transforms.fetch.pages"}
    assert graph["pipelines.cli"] == {"evaluation.dedup"}
    assert graph["pipelines.report"] == {"reporting.tables"}
    assert cycles(graph) == []
    assert violations(graph) == []


def test_checker_finds_a_loop_hidden_in_a_function(tmp_path):
    write_tree(
        tmp_path,
        {
            **BASE,
            "transforms/fetch/http.py": "from transforms.fetch.warc import T\n",
            "transforms/fetch/warc.py": "def f():\n    from transforms.fetch import http\n",
        },
    )
    assert cycles(import_graph(tmp_path)) == [["transforms.fetch.http", "transforms.fetch.warc"]]


def test_checker_finds_a_loop_through_a_package_init(tmp_path):
    write_tree(
        tmp_path,
        {
            **BASE,
            "transforms/fetch/__init__.py": "from transforms.fetch.pages import FetchPages\n",
            "transforms/fetch/pages.py": "from transforms.fetch import looks_like_html\n",
        },
    )
    assert cycles(import_graph(tmp_path)) == [["transforms.fetch", "transforms.fetch.pages"]]


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        ("transforms/fetch/pages.py", "from transforms.dedup import articles\n", "later stage"),
        ("transforms/core/records.py", "from transforms.core import settings\n", "nothing of ours"),
        ("transforms/dedup/articles.py", "import pipelines.cli\n", "stage code"),
        ("transforms/dedup/articles.py", "from evaluation.dedup import f\n", "stage code"),
        ("evaluation/dedup.py", "from pipelines import cli\n", "job wiring"),
        ("pipelines/ingest.py", "from evaluation.dedup import f\n", "imports evaluation"),
        ("transforms/core/settings.py", "from ..fetch import pages\n", "nothing of ours"),
        ("transforms/dedup/articles.py", "from reporting import tables\n", "stage code"),
        ("evaluation/dedup.py", "import reporting.tables\n", "imports reporting"),
        ("reporting/tables.py", "from transforms.fetch import pages\n", "than transforms.core"),
        ("reporting/tables.py", "from pipelines import cli\n", "than transforms.core"),
    ],
)
def test_checker_finds_each_forbidden_direction(tmp_path, rel, text, expected):
    write_tree(tmp_path, {**BASE, rel: text})
    problems = violations(import_graph(tmp_path))
    assert any(expected in p for p in problems), problems
