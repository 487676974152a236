"""The unit loop, ``pytest -m "not slow and not services and not integration"``: the markers it
names are registered in ``pyproject.toml`` (whose ``--strict-markers`` refuses any other), and it
leaves out exactly the tests that carry one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
UNIT_LOOP = "not slow and not services and not integration"

TESTS = '''
import pytest


def test_pure():
    pass


@pytest.mark.integration
def test_end_to_end():
    pass


@pytest.mark.services
def test_with_a_service():
    pass


@pytest.mark.slow(minutes=1)
def test_for_minutes():
    pass
'''


def _pytest_section() -> str:
    """The repository's ``[tool.pytest.ini_options]`` as written (markers, ``--strict-markers``)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    start = text.index("[tool.pytest.ini_options]")
    end = text.find("\n[", start + 1)
    return text[start:] if end == -1 else text[start : end + 1]


def _run(pytester: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    pytester.makepyprojecttoml(_pytest_section())
    path = pytester.makepyfile(test_marked=tests)
    return pytester.runpytest("-p", "no:cacheprovider", "-v", str(path), *args)


def test_the_unit_loop_leaves_out_integration_services_and_slow(pytester: pytest.Pytester) -> None:
    result = _run(pytester, TESTS, "-m", UNIT_LOOP)
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(["*test_pure PASSED*"])


def test_integration_is_registered_under_strict_markers(pytester: pytest.Pytester) -> None:
    result = _run(pytester, TESTS, "-m", "integration")
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(["*test_end_to_end PASSED*"])
    misspelled = _run(pytester, TESTS.replace("mark.integration", "mark.integraton"), "-m", UNIT_LOOP)
    assert misspelled.ret != 0
    misspelled.stdout.fnmatch_lines(["*'integraton' not found in `markers` configuration option*"])
