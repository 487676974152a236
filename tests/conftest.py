"""Session fixtures for the shared services (PostgreSQL, S3), started on 127.0.0.1 when a test asks.

A service that cannot start fails the tests that need it, with the reason; nothing skips. Every
test that uses a fixture tagged ``starts_service`` is marked ``services`` (:mod:`tests.services.marker`):
``pytest -m "not slow and not services and not integration"`` runs the unit tests only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.marker import mark_service_tests, starts_service
from tests.services.postgres_server import PostgresServer, running_postgres
from tests.services.s3_server import S3Server, running_s3

pytest_plugins = ["tests.time_budget"]


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_service_tests(items)


@pytest.fixture(scope="session")
@starts_service
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server from Debian's packages; each test creates its own databases."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
@starts_service
def s3() -> Iterator[S3Server]:
    """A moto S3 server; each test creates its own buckets."""
    with running_s3() as server:
        yield server
