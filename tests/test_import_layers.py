"""The packages form layers that only import downward, and no module imports itself in a circle.

featurestore < pipelines < trainers < orchestration < benchmarks: a module may import from its own
layer or a lower one. Inside ``trainers`` and ``orchestration`` the subpackages stack the same way
(``FLOORS``). ``trainers`` (``TRAINERS``): the MLflow helpers (tracking) < the models < the Ray Train
harness and the training data, which do not import each other < the recipes < the experiments.
``orchestration`` (``ORCHESTRATION``): generic helpers < serving (with the model checks it defines)
< evaluation < registry < the aggregate config < the cycle < the quickstart's presets < the CLI and
Dagster, which do not import each other. Every import counts, at module level, inside functions and
under ``TYPE_CHECKING``, so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

LAYERS = ("featurestore", "pipelines", "trainers", "orchestration", "benchmarks")
ROOT = Path(__file__).resolve().parents[1]
Floors = tuple[tuple[str, ...], ...]
TRAINERS: Floors = (
    ("trainers",),
    ("trainers.tracking",),  # the lowest: orchestration imports the MLflow helpers too
    ("trainers.models",),
    ("trainers.harness", "trainers.data"),
    ("trainers.recipes",),
    ("trainers.experiments",),
)
ORCHESTRATION: Floors = (
    ("orchestration", "orchestration.config_loading", "orchestration.ray_runtime"),
    ("orchestration.serving",),
    ("orchestration.sr_pyfunc",),  # the import path of versions registered before serving/ existed
    ("orchestration.evaluation",),
    ("orchestration.registry",),
    ("orchestration.mmsr_config",),
    ("orchestration.cycle",),
    ("orchestration.quickstart",),
    ("orchestration.cli", "orchestration.dagster"),
)
FLOORS: dict[str, Floors] = {"trainers": TRAINERS, "orchestration": ORCHESTRATION}
"""Floors inside a layer, lowest first: a module imports from its own unit (the module or
subpackage named here) or a lower floor, never from a higher floor or another unit of its floor.
The first floor names the layer's package and the modules allowed at its root."""


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of every layer under ``root``."""
    modules = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The project modules ``path`` imports (``from package import module`` counts as the module)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known] or [node.module]
        else:
            continue
        yield from (name for name in names if name in known)


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: set(imported_modules(path, modules)) - {name} for name, path in modules.items()}


def floor_unit(module: str) -> tuple[int, str]:
    """(floor, unit) of a module of a layer with ``FLOORS``: the longest unit of the layer's floors
    that contains it. A module no floor names fails the check, so a new subpackage gets a place."""
    layer = module.split(".")[0]
    floors = FLOORS[layer]
    found = [
        (len(unit), floor, unit) for floor, units in enumerate(floors) for unit in units
        if module == unit or module.startswith(unit + ".")
    ]
    _, floor, unit = max(found)
    if unit == layer and module not in floors[0]:
        raise AssertionError(f"{module} is on no floor of {layer}'s FLOORS: give it one")
    return floor, unit


def _crosses(source: str, target: str) -> bool:
    rank = {layer: index for index, layer in enumerate(LAYERS)}
    source_layer, target_layer = source.split(".")[0], target.split(".")[0]
    if source_layer != target_layer or source_layer not in FLOORS:
        return rank[target_layer] > rank[source_layer]
    (source_floor, source_unit), (target_floor, target_unit) = floor_unit(source), floor_unit(target)
    return target_floor > source_floor or (target_floor == source_floor and target_unit != source_unit)


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """``importer -> imported`` for every import from a lower layer into a higher one (or, inside a
    layer with ``FLOORS``, into a higher floor or a sibling unit)."""
    return sorted(
        f"{source} -> {target}" for source, targets in graph.items() for target in targets if _crosses(source, target)
    )


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_layers_only_import_downward() -> None:
    assert upward_imports(import_graph(ROOT)) == []


def test_no_module_imports_itself_in_a_circle() -> None:
    assert import_cycles(import_graph(ROOT)) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "featurestore" / "low.py").write_text("def f():\n    from trainers.recipes import high\n")
    (tmp_path / "trainers" / "recipes").mkdir()
    (tmp_path / "trainers" / "recipes" / "__init__.py").write_text("")
    (tmp_path / "trainers" / "recipes" / "high.py").write_text("import featurestore.low\n")
    (tmp_path / "pipelines" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pipelines.b import B\n"
    )
    (tmp_path / "pipelines" / "b.py").write_text("from pipelines import a\n")
    return tmp_path


def _packages(parent: Path, *names: str) -> None:
    for name in names:
        (parent / name).mkdir()
        (parent / name / "__init__.py").write_text("")


def test_the_check_sees_an_orchestration_subpackage_importing_a_higher_one_or_a_sibling(tree: Path) -> None:
    _packages(tree / "orchestration", "serving", "registry", "cli", "dagster")
    (tree / "orchestration" / "serving" / "server.py").write_text("from orchestration.registry import promotion\n")
    (tree / "orchestration" / "registry" / "promotion.py").write_text("from orchestration.serving import server\n")
    (tree / "orchestration" / "dagster" / "assets.py").write_text("def f():\n    from orchestration.cli import main\n")
    (tree / "orchestration" / "cli" / "main.py").write_text("import orchestration.registry.promotion\n")
    assert [line for line in upward_imports(import_graph(tree)) if line.startswith("orchestration")] == [
        "orchestration.dagster.assets -> orchestration.cli.main",
        "orchestration.serving.server -> orchestration.registry.promotion",
    ]


def test_the_check_sees_a_trainers_subpackage_importing_a_higher_one_or_a_sibling(tree: Path) -> None:
    _packages(tree / "trainers", "tracking", "models", "harness", "data")
    (tree / "trainers" / "harness" / "worker_loop.py").write_text("def f():\n    from trainers.recipes import high\n")
    (tree / "trainers" / "data" / "lr_draws.py").write_text("from trainers.harness.worker_loop import f\n")
    (tree / "trainers" / "tracking" / "runs.py").write_text("import trainers.models.step\n")
    (tree / "trainers" / "models" / "step.py").write_text("from trainers.tracking import runs\n")
    (tree / "trainers" / "recipes" / "job.py").write_text(
        "from trainers.data import lr_draws\nfrom trainers.harness import worker_loop\nimport trainers.models.step\n"
    )
    assert [line for line in upward_imports(import_graph(tree)) if line.startswith("trainers")] == [
        "trainers.data.lr_draws -> trainers.harness.worker_loop",
        "trainers.harness.worker_loop -> trainers.recipes.high",
        "trainers.tracking.runs -> trainers.models.step",
    ]


def test_a_module_at_the_root_of_trainers_is_on_no_floor(tree: Path) -> None:
    (tree / "trainers" / "stray.py").write_text("from trainers.recipes import high\n")
    with pytest.raises(AssertionError, match="trainers.stray is on no floor"):
        upward_imports(import_graph(tree))


def test_the_check_sees_lazy_upward_imports_and_type_checking_cycles(tree: Path) -> None:
    graph = import_graph(tree)
    assert upward_imports(graph) == ["featurestore.low -> trainers.recipes.high"]
    assert sorted(import_cycles(graph)) == [
        ["featurestore.low", "trainers.recipes.high"], ["pipelines.a", "pipelines.b"]
    ]
