"""The ``--deadline`` budget: slow tests that fit run cheapest first, the rest are skipped with the reason."""

from __future__ import annotations

import time

import pytest

pytest_plugins = ["pytester"]

SLOW_TESTS = """
import pytest

@pytest.mark.slow(minutes=100)
def test_expensive():
    pass

@pytest.mark.slow(minutes=1)
def test_cheap():
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.makepyfile(test_budget=SLOW_TESTS)
    return pytester.runpytest("-p", "tests.time_budget", "-ra", "-v", *args)


def test_a_test_that_does_not_fit_is_skipped_with_the_time_left_and_needed(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--deadline", str(time.time() + 10 * 60))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_cheap PASSED*", "*SKIPPED*time budget: *min left before the deadline, this test needs ~100 min*"])


def test_with_a_deadline_cheaper_modules_run_first_and_without_one_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a_costly="import pytest\n\n@pytest.mark.slow(minutes=50)\ndef test_costly():\n    pass\n")
    pytester.makepyfile(test_b_cheap="import pytest\n\n@pytest.mark.slow(minutes=2)\ndef test_quick():\n    pass\n")
    ordered = _run(pytester, "--deadline", str(time.time() + 3600)).stdout.str()
    assert ordered.index("test_quick") < ordered.index("test_costly")
    unbounded = _run(pytester)
    unbounded.assert_outcomes(passed=4)
    assert unbounded.stdout.str().index("test_costly") < unbounded.stdout.str().index("test_quick")
