"""docs/architecture.md names every module of the five packages, and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("featurestore", "pipelines", "trainers", "orchestration", "benchmarks")
_BACKTICKED_PY = re.compile(r"`([^`\s]+\.py)`")


def package_modules(root: Path = ROOT) -> list[str]:
    """Every ``*.py`` module under the packages but ``__init__.py``, relative to the repo root."""
    return sorted(
        path.relative_to(root).as_posix()
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def named_paths(text: str) -> set[str]:
    """Backticked ``*.py`` paths that name a file by its place in the repo (they contain a slash)."""
    return {match for match in _BACKTICKED_PY.findall(text) if "/" in match}


def test_every_module_is_named() -> None:
    named = named_paths(DOC.read_text(encoding="utf-8"))
    missing = [module for module in package_modules() if module not in named]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_every_named_file_exists() -> None:
    stale = sorted(path for path in named_paths(DOC.read_text(encoding="utf-8")) if not (ROOT / path).is_file())
    assert not stale, f"docs/architecture.md names files that do not exist: {stale}"


def test_the_collection_sees_the_packages() -> None:
    modules = package_modules()
    for package in PACKAGES:
        assert any(module.startswith(f"{package}/") for module in modules), package
    assert "featurestore/staging.py" in modules and "orchestration/cli/main.py" in modules
    assert not any(module.endswith("__init__.py") for module in modules)


def test_named_paths_reads_backticked_paths_only() -> None:
    text = "`featurestore/staging.py` and `sr_pyfunc.py`, featurestore/commit.py, `a/b.pyc`"
    assert named_paths(text) == {"featurestore/staging.py"}
