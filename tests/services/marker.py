"""The ``services`` marker: tests that start a real service (PostgreSQL, moto S3, the GCS emulator,
an MLflow or model server, Ray, Beam's portable runner, a CLI that starts one of these).

A fixture that starts one is tagged with :func:`starts_service`; every test that uses it, directly
or through other fixtures, is marked ``services`` at collection (:func:`mark_service_tests`, called
from ``tests/conftest.py``), so no test using it can forget the mark. A test that starts a service
in its own body carries ``@pytest.mark.services`` (or its module a ``pytestmark``).
With the ``integration`` marker (tests that run something end to end for seconds), the fast
unit-test loop is ``pytest -m "not slow and not services and not integration"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

MARK = "services"
_TAG = "_starts_service"

F = TypeVar("F", bound=Callable[..., object])


def starts_service(fixture_function: F) -> F:
    """Tag a fixture function (below ``@pytest.fixture``) as starting a real service."""
    setattr(fixture_function, _TAG, True)
    return fixture_function


def uses_a_service(item: pytest.Item) -> bool:
    """Whether a fixture ``item`` requests (its whole closure) was tagged with :func:`starts_service`."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        getattr(definition.func, _TAG, False)
        for name in item.fixturenames
        for definition in info.name2fixturedefs.get(name, ())
    )


def mark_service_tests(items: list[pytest.Item]) -> None:
    """Mark ``services`` every item that uses a tagged fixture and is not marked yet."""
    for item in items:
        if item.get_closest_marker(MARK) is None and uses_a_service(item):
            item.add_marker(MARK)
