"""The module index in ``trainers/models/__init__.py`` lists exactly the package's modules."""

from __future__ import annotations

from pathlib import Path

import trainers.models


def test_index_lists_exactly_the_modules() -> None:
    package = Path(trainers.models.__file__).parent
    modules = {path.stem for path in package.glob("*.py") if path.name != "__init__.py"}
    doc = trainers.models.__doc__ or ""
    listed = {line.split()[0] for line in doc.splitlines()[2:] if line.strip()}
    assert listed == modules, f"missing from the index: {modules - listed}; not modules: {listed - modules}"
