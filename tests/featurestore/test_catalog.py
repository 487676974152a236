from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy.exc
from pyiceberg.table import TableProperties

from featurestore import catalog as catalog_module
from featurestore.catalog import (
    SCHEMA_VERSION_PROPERTY,
    catalog_properties,
    ensure_tables,
    open_catalog,
    warehouse_url,
)
from featurestore.config import FeatureStoreConfig
from featurestore.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA, SCHEMA_VERSION
from tests.services.postgres_server import PostgresServer


def test_open_catalog_creates_sqlite_directory(store: FeatureStoreConfig, tmp_path: Path) -> None:
    assert not (tmp_path / "catalog").exists()
    open_catalog(store)
    assert (tmp_path / "catalog" / "catalog.db").is_file()


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    properties = catalog_properties(FeatureStoreConfig())
    assert properties["uri"] == f"sqlite:///{tmp_path}/mmsr-runs/featurestore/catalog.db"
    assert properties["warehouse"] == f"file://{tmp_path}/mmsr-runs/featurestore/warehouse"
    assert (properties["name"], properties["type"]) == ("mmsr", "sql")
    assert warehouse_url(FeatureStoreConfig(warehouse="gs://bucket/wh/")) == "gs://bucket/wh"


def test_ensure_tables_creates_both_tables_once(store: FeatureStoreConfig) -> None:
    catalog = open_catalog(store)
    first = ensure_tables(catalog, store)
    again = ensure_tables(open_catalog(store), store)
    assert first.samples.metadata.table_uuid == again.samples.metadata.table_uuid
    assert first.errors.metadata.table_uuid == again.errors.metadata.table_uuid
    assert [field.name for field in first.samples.schema().fields] == SAMPLES_SCHEMA.names
    assert [field.name for field in first.errors.schema().fields] == ERRORS_SCHEMA.names
    for table in (again.samples, again.errors):
        assert table.properties[SCHEMA_VERSION_PROPERTY] == str(SCHEMA_VERSION)
        assert TableProperties.DEFAULT_NAME_MAPPING in table.properties
        assert table.location().startswith(warehouse_url(store))
    assert sorted(catalog.list_tables(store.namespace)) == [("mmsr", "errors"), ("mmsr", "samples")]


def test_other_schema_version_is_refused(store: FeatureStoreConfig) -> None:
    tables = ensure_tables(open_catalog(store), store)
    with tables.samples.transaction() as transaction:
        transaction.set_properties({SCHEMA_VERSION_PROPERTY: "0"})
    with pytest.raises(ValueError, match=r"mmsr.samples has mmsr.schema-version='0'"):
        ensure_tables(open_catalog(store), store)


def _open_at_once(config: FeatureStoreConfig, openers: int = 6) -> list[str]:
    barrier = threading.Barrier(openers)

    def open_when_all_are_ready(_: int) -> str:
        barrier.wait()
        return type(open_catalog(config)).__name__

    with ThreadPoolExecutor(max_workers=openers) as pool:
        return list(pool.map(open_when_all_are_ready, range(openers)))


def test_processes_opening_a_fresh_postgres_catalog_at_once_all_get_it(postgres: PostgresServer, tmp_path: Path) -> None:
    config = FeatureStoreConfig(catalog_uri=postgres.create_database("race"), warehouse=str(tmp_path / "wh"))
    assert _open_at_once(config) == ["SqlCatalog"] * 6


def test_openers_of_a_fresh_sqlite_catalog_at_once_all_get_it(tmp_path: Path) -> None:
    """SQLite says "table ... already exists" as an OperationalError (PostgreSQL: ProgrammingError);
    two ``mmsr preprocess`` runs on a new store lost this race (test_concurrent_runs, 2026-12-06)."""
    for attempt in range(5):
        config = FeatureStoreConfig(catalog_uri=f"sqlite:///{tmp_path}/{attempt}/catalog.db", warehouse=str(tmp_path / "wh"))
        assert _open_at_once(config) == ["SqlCatalog"] * 6


@pytest.mark.parametrize(
    "lost_race",
    [
        sqlalchemy.exc.ProgrammingError("CREATE TABLE", {}, Exception('relation "iceberg_tables" already exists')),
        sqlalchemy.exc.OperationalError("CREATE TABLE", {}, Exception("table iceberg_tables already exists")),
    ],
    ids=["postgres", "sqlite"],
)
def test_an_already_exists_error_while_creating_the_catalog_tables_is_retried(
    store: FeatureStoreConfig, monkeypatch: pytest.MonkeyPatch, lost_race: Exception
) -> None:
    calls: list[int] = []
    real = catalog_module.SqlCatalog

    def lose_the_first_race(name: str, **properties: str) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise lost_race
        return real(name, **properties)

    monkeypatch.setattr(catalog_module, "SqlCatalog", lose_the_first_race)
    assert isinstance(open_catalog(store), real) and len(calls) == 2

    def refuse(name: str, **properties: str) -> object:
        raise sqlalchemy.exc.ProgrammingError("SELECT", {}, Exception("permission denied"))

    monkeypatch.setattr(catalog_module, "SqlCatalog", refuse)
    with pytest.raises(sqlalchemy.exc.ProgrammingError, match="permission denied"):
        open_catalog(store)
