"""Session fixtures for the shared services (PostgreSQL, S3), started on 127.0.0.1 when a test asks.

A service that cannot start fails the tests that need it, with the reason; nothing skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.postgres_server import PostgresServer, running_postgres
from tests.services.s3_server import S3Server, running_s3

pytest_plugins = ["tests.time_budget"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server from Debian's packages; each test creates its own databases."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A moto S3 server; each test creates its own buckets."""
    with running_s3() as server:
        yield server
