"""Read a committed snapshot of the samples table: pyarrow, DuckDB or a streaming Ray Dataset.

A snapshot id is the dataset version: every reader pins one (``None`` = the current snapshot at
call time), so a commit landing meanwhile never changes what a reader sees. Readers never create
tables: before the first commit they see zero rows (and ``None`` as the current snapshot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import fsspec
import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo
from pyiceberg.table import DataScan, Table

from featurestore.catalog import open_catalog
from featurestore.config import FeatureStoreConfig
from featurestore.data_file import DataFile
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.snapshot_error import SnapshotNotFoundError

if TYPE_CHECKING:
    import ray.data

DEFAULT_BLOCK_ROWS = 256
"""Rows per block of :func:`ray_dataset`: 10-20 MiB of 128x128 PNG bytes, a few training batches."""


def _samples_table(config: FeatureStoreConfig) -> Table | None:
    """The samples table, or None if nothing was ever committed (readers never create tables)."""
    try:
        return open_catalog(config).load_table(config.samples_identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def _check_snapshot(config: FeatureStoreConfig, table: Table | None, snapshot_id: int) -> Table:
    known = [] if table is None else [snapshot.snapshot_id for snapshot in table.snapshots()]
    if table is None or snapshot_id not in known:
        raise SnapshotNotFoundError(f"snapshot_id {snapshot_id} is not a snapshot of {config.samples_identifier} (known: {known})")
    return table


def _scan(
    config: FeatureStoreConfig,
    snapshot_id: int | None,
    columns: list[str] | None = None,
    row_filter: str | BooleanExpression | None = None,
) -> DataScan | None:
    """A scan of the snapshot (None = current); None if the table does not exist yet."""
    table = _samples_table(config)
    if snapshot_id is not None:
        table = _check_snapshot(config, table, snapshot_id)
    if table is None:
        return None
    return table.scan(
        row_filter=AlwaysTrue() if row_filter is None else row_filter,
        selected_fields=tuple(columns) if columns else ("*",),
        snapshot_id=snapshot_id,
    )


def _output_schema(columns: list[str] | None) -> pa.Schema:
    """SAMPLES_SCHEMA restricted to ``columns`` (in that order), the types every reader returns."""
    if not columns:
        return SAMPLES_SCHEMA
    unknown = [name for name in columns if name not in SAMPLES_SCHEMA.names]
    if unknown:
        raise ValueError(f"columns {unknown} are not in the samples schema {SAMPLES_SCHEMA.names}")
    return pa.schema([SAMPLES_SCHEMA.field(name) for name in columns])


def current_snapshot_id(config: FeatureStoreConfig) -> int | None:
    """Id of the samples table's current snapshot; None before the first commit."""
    table = _samples_table(config)
    snapshot = None if table is None else table.current_snapshot()
    return None if snapshot is None else snapshot.snapshot_id


def resolve_snapshot(config: FeatureStoreConfig, snapshot: str | int | None) -> int:
    """A snapshot id from an id, a decimal id string, a tag/branch name, or None (= current).

    Raises SnapshotNotFoundError (a ValueError) if it names no snapshot of the samples table, or if None is given and
    nothing has been committed yet.
    """
    table = _samples_table(config)
    if snapshot is None:
        current = None if table is None else table.current_snapshot()
        if current is None:
            raise SnapshotNotFoundError(f"{config.samples_identifier} has no committed snapshot yet: run `mmsr preprocess` first")
        return current.snapshot_id
    if isinstance(snapshot, int) or snapshot.lstrip("-").isdigit():
        _check_snapshot(config, table, int(snapshot))
        return int(snapshot)
    named = None if table is None else table.snapshot_by_name(snapshot)
    if named is None:
        raise SnapshotNotFoundError(f"snapshot {snapshot!r} is neither a snapshot id nor a tag/branch of {config.samples_identifier}")
    return named.snapshot_id


def read_arrow(
    config: FeatureStoreConfig,
    snapshot_id: int | None = None,
    columns: list[str] | None = None,
    row_filter: str | BooleanExpression | None = None,
) -> pa.Table:
    """The snapshot's rows (all columns, or ``columns`` in order) as one table typed by SAMPLES_SCHEMA.

    ``row_filter`` is an Iceberg expression or its string form, e.g. ``"split == 'eval'"``;
    pruning happens on file statistics before any data is read.
    """
    schema = _output_schema(columns)
    scan = _scan(config, snapshot_id, columns, row_filter)
    if scan is None:
        return schema.empty_table()
    return scan.to_arrow().select(schema.names).cast(schema)


def snapshot_data_files(
    config: FeatureStoreConfig, snapshot_id: int | None = None, row_filter: str | BooleanExpression | None = None
) -> list[DataFile]:
    """The snapshot's data files sorted by URL; [] before the first commit.

    ``row_filter`` prunes files whose column statistics exclude every row (the rows of the files
    kept are not filtered). Raises ValueError if a file has delete files, which plain Parquet
    readers would ignore (this store only ever appends, so it never writes any).
    """
    scan = _scan(config, snapshot_id, row_filter=row_filter)
    tasks = [] if scan is None else list(scan.plan_files())
    with_deletes = [task.file.file_path for task in tasks if task.delete_files]
    if with_deletes:
        raise ValueError(f"data files {with_deletes} have row deletes; read them through read_arrow instead")
    files = [DataFile(task.file.file_path, task.file.record_count, task.file.file_size_in_bytes) for task in tasks]
    return sorted(files, key=lambda file: file.url)


def snapshot_files(config: FeatureStoreConfig, snapshot_id: int | None = None) -> list[str]:
    """URLs of the snapshot's data files (sorted), see :func:`snapshot_data_files`."""
    return [file.url for file in snapshot_data_files(config, snapshot_id)]


def _local_path(url: str) -> str:
    return url.removeprefix("file://")


def duckdb_relation(
    config: FeatureStoreConfig, snapshot_id: int | None = None, connection: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyRelation:
    """A DuckDB relation over the snapshot's Parquet files (``read_parquet([...])``).

    Remote files (``gs://`` ...) are read through fsspec filesystems registered on the
    connection, so no DuckDB extension is needed. Uses an in-memory connection if none given.
    """
    connection = connection or duckdb.connect()
    files = snapshot_files(config, snapshot_id)
    if not files:
        return connection.from_arrow(SAMPLES_SCHEMA.empty_table())
    return parquet_relation(files, connection)


def parquet_relation(urls: list[str], connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
    """``read_parquet`` over ``urls`` (at least one), remote protocols read through fsspec."""
    for protocol in sorted({url.split("://")[0] for url in urls if "://" in url} - {"file"}):
        if not connection.filesystem_is_registered(protocol):
            connection.register_filesystem(fsspec.filesystem(protocol))
    # By name: a file written before a column of ADDED_COLUMNS existed reads it as null.
    return connection.read_parquet([_local_path(url) for url in urls], union_by_name=True)


def ray_dataset(
    config: FeatureStoreConfig,
    snapshot_id: int | None = None,
    columns: list[str] | None = None,
    split: str | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> ray.data.Dataset:
    """A lazy, streaming Ray Dataset of the snapshot: one read task per data file, nothing materialised.

    Files come from the pinned snapshot's Iceberg scan plan (with ``split``, files whose
    statistics exclude it are pruned there); each read task streams its file in blocks of
    ``block_rows`` rows of only ``columns`` (all if None), keeping rows of ``split`` if given.
    A ``map_batches`` after it fuses into the same task, so a decode runs where the bytes were
    read. The Dataset holds only file URLs and counts and pickles to any actor.
    """
    import ray.data

    from featurestore.snapshot_datasource import SnapshotDatasource

    schema = _output_schema(columns)
    pinned = current_snapshot_id(config) if snapshot_id is None else resolve_snapshot(config, snapshot_id)
    row_filter = None if split is None else EqualTo("split", split)
    files = [] if pinned is None else snapshot_data_files(config, pinned, row_filter)
    if not files:
        return ray.data.from_arrow(schema.empty_table())
    # One output "block" per file asked for: more would make Ray slice each file's stream further.
    return ray.data.read_datasource(SnapshotDatasource(files, schema, split, block_rows), override_num_blocks=len(files))
