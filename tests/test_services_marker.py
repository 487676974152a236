"""The ``services`` mark: set at collection on every test that uses a ``starts_service`` fixture,
directly or through other fixtures, so ``-m "not services"`` leaves exactly the others."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest

from tests.services.marker import mark_service_tests, starts_service


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    mark_service_tests(items)


@pytest.fixture(scope="session")
@starts_service
def database():
    yield "db"


@pytest.fixture
def client(database):
    return database
'''

TESTS = '''
import pytest


def test_pure():
    pass


def test_direct(database):
    pass


def test_through_another_fixture(client):
    pass


@pytest.mark.services
def test_marked_by_hand():
    pass
'''


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nmarkers =\n    services: starts a service\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_mixed=TESTS)
    return pytester.runpytest("-p", "no:cacheprovider", "-v", *args)


def test_not_services_runs_only_the_tests_that_use_no_service(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "-m", "not services")
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(["*test_pure PASSED*"])


def test_services_selects_direct_indirect_and_hand_marked_users(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "-m", "services")
    result.assert_outcomes(passed=3, deselected=1)
    for name in ("test_direct", "test_through_another_fixture", "test_marked_by_hand"):
        result.stdout.fnmatch_lines([f"*{name} PASSED*"])
