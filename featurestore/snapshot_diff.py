"""Compare two snapshots of the samples table row by row (``mmsr features diff``).

Rows are matched by ``sample_id``. Each snapshot is streamed once through DuckDB, which keeps
only ``sample_id`` and a 64-bit content hash per column (no image bytes stay in memory); a row
is *changed* when any column's hash differs. The modality columns among those differences say
which modalities were recomputed between the two versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from featurestore.config import FeatureStoreConfig
from featurestore.inspection import require_samples_table
from featurestore.modality import Modality
from featurestore.readers import resolve_snapshot
from featurestore.schema import SAMPLES_SCHEMA

_KEY = "sample_id"


@dataclass(frozen=True)
class RowChange:
    """A sample present in both snapshots with different content."""

    sample_id: str
    columns: tuple[str, ...]
    """The columns whose values differ, in SAMPLES_SCHEMA order."""


@dataclass(frozen=True)
class SnapshotDiff:
    """Rows of snapshot ``b`` relative to snapshot ``a`` (ids sorted)."""

    snapshot_a: int
    snapshot_b: int
    rows_a: int
    rows_b: int
    added: tuple[str, ...]
    """sample_ids only in ``b``."""
    removed: tuple[str, ...]
    """sample_ids only in ``a``."""
    changed: tuple[RowChange, ...]
    recomputed_columns: tuple[str, ...]
    """Every column that differs in at least one changed row, in SAMPLES_SCHEMA order."""
    recomputed_modalities: tuple[Modality, ...]
    """Modalities whose map or tokens column differs in at least one changed row (enum order)."""

    @property
    def unchanged(self) -> int:
        """Rows present in both snapshots with identical content."""
        return self.rows_a - len(self.removed) - len(self.changed)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_hashes(
    connection: duckdb.DuckDBPyConnection, table: Table, snapshot_id: int, columns: list[str]
) -> pa.Table:
    """``sample_id`` plus one uint64 hash per column, for every row of the snapshot (streamed)."""
    reader = table.scan(snapshot_id=snapshot_id, selected_fields=(_KEY, *columns)).to_arrow_batch_reader()
    connection.register("snapshot_rows", reader)
    hashes = ", ".join(f"hash({_quote(name)}) AS {_quote(name)}" for name in columns)
    try:
        return connection.sql(f"SELECT {_quote(_KEY)}, {hashes} FROM snapshot_rows").to_arrow_table()
    finally:
        connection.unregister("snapshot_rows")


def _check_unique(connection: duckdb.DuckDBPyConnection, name: str, snapshot_id: int) -> None:
    duplicate = connection.sql(
        f"SELECT {_quote(_KEY)}, count(*) AS n FROM {name} GROUP BY 1 HAVING n > 1 ORDER BY 1 LIMIT 1"
    ).fetchall()
    if duplicate:
        sample_id, count = duplicate[0]
        raise ValueError(
            f"snapshot {snapshot_id} has {count} rows with sample_id {sample_id!r}: rows cannot be matched"
        )


def _ids(connection: duckdb.DuckDBPyConnection, query: str) -> tuple[str, ...]:
    return tuple(row[0] for row in connection.sql(query).fetchall())


def _changes(connection: duckdb.DuckDBPyConnection, columns: list[str]) -> tuple[RowChange, ...]:
    differs = ", ".join(f"a.{_quote(name)} IS DISTINCT FROM b.{_quote(name)}" for name in columns)
    any_differs = " OR ".join(f"a.{_quote(name)} IS DISTINCT FROM b.{_quote(name)}" for name in columns)
    rows = connection.sql(
        f"SELECT a.{_quote(_KEY)}, {differs} FROM hashes_a a JOIN hashes_b b USING ({_quote(_KEY)}) "
        f"WHERE {any_differs} ORDER BY 1"
    ).fetchall()
    return tuple(
        RowChange(sample_id=row[0], columns=tuple(name for name, flag in zip(columns, row[1:]) if flag)) for row in rows
    )


def _modalities(columns: set[str]) -> tuple[Modality, ...]:
    return tuple(m for m in Modality if m.map_column in columns or m.tokens_column in columns)


def _compared_columns(table: Table, snapshot_ids: tuple[int, int]) -> list[str]:
    """Columns (except the key) in both snapshots' schemas, in SAMPLES_SCHEMA order then the rest."""
    schemas = table.schemas()
    names = []
    for snapshot_id in snapshot_ids:
        found = table.snapshot_by_id(snapshot_id)
        schema = schemas[found.schema_id] if found is not None and found.schema_id is not None else table.schema()
        names.append([field.name for field in schema.fields])
    common = set(names[0]) & set(names[1])
    ordered = [name for name in SAMPLES_SCHEMA.names if name in common]
    ordered += [name for name in names[0] if name in common and name not in ordered]
    return [name for name in ordered if name != _KEY]


def diff_snapshots(config: FeatureStoreConfig, a: str | int | None, b: str | int | None) -> SnapshotDiff:
    """Rows added, removed and changed from snapshot ``a`` to ``b`` (ids, tags or None = current).

    Raises ValueError for an unknown snapshot or if either snapshot has a duplicated sample_id.
    """
    snapshot_ids = (resolve_snapshot(config, a), resolve_snapshot(config, b))
    table = require_samples_table(config)
    columns = _compared_columns(table, snapshot_ids)
    connection = duckdb.connect()
    for name, snapshot_id in zip(("hashes_a", "hashes_b"), snapshot_ids):
        connection.register(name, _column_hashes(connection, table, snapshot_id, columns))
        _check_unique(connection, name, snapshot_id)
    key = _quote(_KEY)
    changed = _changes(connection, columns)
    recomputed = {name for change in changed for name in change.columns}
    return SnapshotDiff(
        snapshot_a=snapshot_ids[0],
        snapshot_b=snapshot_ids[1],
        rows_a=connection.sql("SELECT count(*) FROM hashes_a").fetchall()[0][0],
        rows_b=connection.sql("SELECT count(*) FROM hashes_b").fetchall()[0][0],
        added=_ids(connection, f"SELECT {key} FROM hashes_b ANTI JOIN hashes_a USING ({key}) ORDER BY 1"),
        removed=_ids(connection, f"SELECT {key} FROM hashes_a ANTI JOIN hashes_b USING ({key}) ORDER BY 1"),
        changed=changed,
        recomputed_columns=tuple(name for name in columns if name in recomputed),
        recomputed_modalities=_modalities(recomputed),
    )
