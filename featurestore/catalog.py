"""Open the Iceberg catalog of a :class:`FeatureStoreConfig` and make sure its two tables exist.

The SQL catalog (embedded SQLite by default) needs no server; the REST catalog is for shared,
production deployments. Both are built from the same property dict, which
:func:`catalog_properties` also hands to readers in other processes (Ray's ``catalog_kwargs``),
so every relative local path is made absolute here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import sqlalchemy
import sqlalchemy.exc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, TableProperties

from featurestore.catalog_unreachable import CONNECTION_ERRORS, CatalogUnreachableError
from featurestore.config import FeatureStoreConfig
from featurestore.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA, SCHEMA_VERSION
from featurestore.workdir_move import PathMove, WorkdirMovedError, find_move, local_path

SCHEMA_VERSION_PROPERTY = "mmsr.schema-version"
"""Table property recording :data:`featurestore.schema.SCHEMA_VERSION` at creation."""

OWN_RETRIES = {TableProperties.COMMIT_NUM_RETRIES: "0"}
"""pyiceberg retries a commit that lost a race by re-applying it to the new head unchecked, which
would commit a sample id a concurrent run already added; our tables turn that off and
:mod:`featurestore.commit` retries itself after re-checking (exactly once per sample id)."""

_SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class FeatureTables:
    """The two tables of the feature store, loaded from one catalog."""

    samples: Table
    errors: Table


def warehouse_url(config: FeatureStoreConfig) -> str:
    """The warehouse as a URL: fsspec URLs pass through, local paths become absolute ``file://``.

    The path is not percent-encoded: pyiceberg and fsspec both take ``file://`` paths literally.
    """
    if "://" in config.warehouse:
        return config.warehouse.rstrip("/")
    return "file://" + Path(config.warehouse).expanduser().resolve().as_posix()


def _sqlite_path(catalog_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (relative or absolute), else None."""
    return Path(catalog_uri[len(_SQLITE_PREFIX):]) if catalog_uri.startswith(_SQLITE_PREFIX) else None


def catalog_uri(config: FeatureStoreConfig) -> str:
    """``config.catalog_uri`` with a relative SQLite path made absolute (other URLs unchanged)."""
    path = _sqlite_path(config.catalog_uri)
    if path is None:
        return config.catalog_uri
    return _SQLITE_PREFIX + str(path.expanduser().resolve())


def catalog_properties(config: FeatureStoreConfig) -> dict[str, str]:
    """pyiceberg catalog properties: ``name``, ``type``, ``uri``, ``warehouse`` (all absolute),
    then ``config.io_properties`` (FileIO settings such as a GCS endpoint)."""
    return {
        "name": config.catalog_name,
        "type": config.catalog_type,
        "uri": catalog_uri(config),
        "warehouse": warehouse_url(config),
        **dict(config.io_properties),
    }


def open_catalog(config: FeatureStoreConfig, check_moved: bool = True) -> Catalog:
    """Connect to the configured catalog, creating the SQLite file's directory if needed;
    :class:`CatalogUnreachableError` (one line: where, why) when it does not answer.

    WorkdirMovedError when a SQL catalog's tables are recorded outside a local warehouse that holds
    their copy (the workdir was copied or moved; ``mmsr relocate`` passes ``check_moved=False``)."""
    properties = catalog_properties(config)
    name = properties.pop("name")
    kind = properties.pop("type")
    try:
        if kind == "rest":
            return RestCatalog(name, **properties)
        sqlite = _sqlite_path(properties["uri"])
        if sqlite is not None:
            sqlite.parent.mkdir(parents=True, exist_ok=True)
        catalog = _sql_catalog(name, properties)
    except CONNECTION_ERRORS as error:
        raise CatalogUnreachableError.from_error(properties["uri"], error) from error
    move = recorded_move(catalog, config) if check_moved else None
    if move is not None:
        raise WorkdirMovedError("feature store's catalog", move)
    return catalog


def recorded_move(catalog: SqlCatalog, config: FeatureStoreConfig) -> PathMove | None:
    """How the warehouse moved, when the catalog records a table's metadata outside the configured
    local warehouse and the warehouse holds a copy of that file; None otherwise."""
    warehouse = local_path(warehouse_url(config))
    if warehouse is None:
        return None
    query = sqlalchemy.select(IcebergTables.metadata_location).where(IcebergTables.catalog_name == config.catalog_name)
    with catalog.engine.connect() as connection:
        locations = [location for (location,) in connection.execute(query) if location]
    for location in locations:
        move = find_move(location, warehouse)
        if move is not None:
            return move
    return None


def _sql_catalog(name: str, properties: dict[str, str], attempts: int = 3) -> SqlCatalog:
    """``SqlCatalog``, which creates its bookkeeping tables on first use: two processes opening a
    fresh catalog database at once both see no tables and both create them, and the slower one gets
    "already exists" (PostgreSQL: ProgrammingError or IntegrityError; SQLite: OperationalError).
    Opening again then finds the tables, so that error is retried."""
    lost_race = (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError)
    for _ in range(attempts - 1):
        try:
            return SqlCatalog(name, **properties)
        except lost_race as error:
            if "already exists" not in str(error):
                raise
    return SqlCatalog(name, **properties)


def _ensure_table(catalog: Catalog, identifier: str, schema: pa.Schema) -> Table:
    """Load ``identifier`` or create it from ``schema``; refuse a table of another schema version."""
    table = catalog.create_table_if_not_exists(
        identifier, schema=schema, properties={SCHEMA_VERSION_PROPERTY: str(SCHEMA_VERSION), **OWN_RETRIES}
    )
    found = table.properties.get(SCHEMA_VERSION_PROPERTY)
    if found != str(SCHEMA_VERSION):
        raise ValueError(
            f"table {identifier} has {SCHEMA_VERSION_PROPERTY}={found!r} but this code writes schema version "
            f"{SCHEMA_VERSION}; use another namespace/table or migrate the table"
        )
    table = _add_new_columns(catalog, identifier, table, schema)
    missing = {key: value for key, value in OWN_RETRIES.items() if table.properties.get(key) != value}
    if table.name_mapping() is None:
        # add_files resolves Parquet columns by name through this mapping; setting it once here
        # keeps it out of every later commit (where concurrent first commits would conflict).
        missing[TableProperties.DEFAULT_NAME_MAPPING] = table.schema().name_mapping.model_dump_json()
    if missing:  # a table created by an older version, or a first commit
        try:
            with table.transaction() as transaction:
                transaction.set_properties(missing)
        except CommitFailedException:  # a concurrent ensure_tables set them first
            pass
        table = catalog.load_table(identifier)
    return table


def _add_new_columns(catalog: Catalog, identifier: str, table: Table, schema: pa.Schema) -> Table:
    """``table`` with the columns of ``schema`` it lacks (nullable ones added by a later version of
    this code) added by Iceberg schema evolution, which also extends its name mapping; a concurrent
    opener adding them first is fine. Rows of older data files read the new columns as null."""
    if not set(schema.names) - {field.name for field in table.schema().fields}:
        return table
    try:
        with table.update_schema() as update:
            update.union_by_name(schema)
    except CommitFailedException:
        pass
    return catalog.load_table(identifier)


def _ensure_namespace(catalog: Catalog, namespace: str) -> None:
    """Create ``namespace`` unless it exists; a concurrent creator winning the race is fine (the
    SQL catalog reports that as its database's integrity error, not as NamespaceAlreadyExistsError)."""
    if catalog.namespace_exists(namespace):
        return
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except Exception:
        if not catalog.namespace_exists(namespace):
            raise


def ensure_tables(catalog: Catalog, config: FeatureStoreConfig) -> FeatureTables:
    """Load the samples and errors tables, creating namespace and tables if absent (idempotent)."""
    _ensure_namespace(catalog, config.namespace)
    return FeatureTables(
        samples=_ensure_table(catalog, config.samples_identifier, SAMPLES_SCHEMA),
        errors=_ensure_table(catalog, config.errors_identifier, ERRORS_SCHEMA),
    )
