"""Run slow tests only while a time budget allows (``--deadline``), loudly skipping the rest.

CI has a fixed wall-clock limit. ``.ci/run`` passes the Unix time by which its slow run must end;
each slow test declares what it costs on 2 cores (``@pytest.mark.slow(minutes=N)``, the first test
of a module paying for the module's shared fixtures, later ones ``minutes_each``). With a deadline,
slow modules run cheapest first and a test that would not finish in time is skipped with the time
left and the time it needs in its reason, so the summary (``-ra``) says what did not run and why.
Without ``--deadline`` nothing changes.
"""

from __future__ import annotations

import time

import pytest

DEFAULT_MINUTES = 10.0
"""What a slow test that declares no cost is assumed to take."""
DEFAULT_MINUTES_EACH = 1.0
"""What a later test of a module costs once an earlier one has built the module's fixtures."""
_STARTED_MODULES = pytest.StashKey[set[str]]()
"""Modules one of whose tests has started (its module fixtures are paid for)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deadline", type=float, default=None,
        help="Unix time by which the run must end: a slow test whose declared minutes do not fit "
        "before it is skipped (with the reason), and slow modules run cheapest first",
    )


def _minutes(item: pytest.Item, first_of_module: bool) -> float:
    marker = item.get_closest_marker("slow")
    if marker is None:
        return 0.0
    if first_of_module:
        return float(marker.kwargs.get("minutes", DEFAULT_MINUTES))
    return float(marker.kwargs.get("minutes_each", DEFAULT_MINUTES_EACH))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--deadline") is None:
        return
    cost: dict[str, float] = {}
    for item in items:
        cost[item.module.__name__] = max(cost.get(item.module.__name__, 0.0), _minutes(item, True))
    order = {name: index for index, name in enumerate(dict.fromkeys(item.module.__name__ for item in items))}
    items.sort(key=lambda item: (cost[item.module.__name__], order[item.module.__name__]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    deadline = item.config.getoption("--deadline")
    if deadline is None:
        return
    started: set[str] = item.config.stash.setdefault(_STARTED_MODULES, set())
    module = item.module.__name__
    needs = _minutes(item, module not in started) * 60
    left = deadline - time.time()
    if needs > left:
        pytest.skip(f"time budget: {left / 60:.1f} min left before the deadline, this test needs ~{needs / 60:.0f} min")
    started.add(module)

