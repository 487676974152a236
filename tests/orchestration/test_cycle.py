"""The retraining cycle is written once (``orchestration/cycle.py``): no other orchestration module
trains, registers, records an evaluation on a version or promotes by itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CYCLE_STEPS = {"run_training", "register_pipeline", "record_result", "promote_version"}
"""The library calls behind the cycle's steps; only ``cycle.py`` calls them."""
DEFINED_IN = {"orchestration/registry/model_registry.py", "orchestration/registry/promotion.py",
              "orchestration/evaluation/evaluation_tags.py", "orchestration/cycle.py"}


def calls_to_cycle_steps(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in CYCLE_STEPS:
                names.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    return names


def test_no_orchestration_module_but_the_cycle_runs_a_cycle_step() -> None:
    found = [
        call for path in sorted((ROOT / "orchestration").rglob("*.py"))
        if str(path.relative_to(ROOT)) not in DEFINED_IN for call in calls_to_cycle_steps(path)
    ]
    assert found == []


def test_the_check_sees_a_copied_step(tmp_path: Path) -> None:
    copy = tmp_path / "copied_step.py"
    copy.write_text("def f(config, v):\n    from orchestration.registry import promotion\n    return promotion.promote_version(config, v)\n")
    assert calls_to_cycle_steps(copy, tmp_path) == ["copied_step.py:3 promote_version"]
