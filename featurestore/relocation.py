"""Rewrite the absolute paths a copied or moved local feature store records (``mmsr relocate``).

Iceberg records absolute paths at three levels, all rewritten here inside the configured warehouse
only: the table metadata JSON (``location``, manifest lists, the metadata log), the manifest lists
(each manifest's path and length) and the manifests (each data file's path), both Avro files read
and written by fastavro with their Avro schema (Iceberg field ids included), codec and key-value
metadata kept. Each file is written beside itself and swapped in with ``os.replace``; a table's
catalog row is switched last, in one transaction. So a crash leaves every table either relocated or
still recorded at the old place (which the next ``mmsr relocate`` finishes: a file already
rewritten maps to itself), never half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import sqlalchemy
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog

from featurestore.catalog import open_catalog, recorded_move
from featurestore.config import FeatureStoreConfig
from featurestore.workdir_move import PathMove, is_under, local_path

_METADATA_DIR = "metadata"


@dataclass(frozen=True)
class FeatureStoreRelocation:
    """What ``relocate_feature_store`` did: the move (None: nothing recorded elsewhere), the
    tables switched and the metadata files rewritten."""

    move: PathMove | None
    tables: tuple[str, ...]
    files: int

    def summary(self) -> str:
        if self.move is None:
            return "feature store: already at its configured place, nothing to rewrite"
        return (
            f"feature store: {len(self.tables)} table(s) ({', '.join(self.tables) or '-'}) and {self.files} metadata "
            f"file(s) moved from {self.move.old} to {self.move.new}"
        )


def map_strings(value: Any, mapping: Callable[[str], str]) -> Any:
    """``value`` (JSON / Avro record: dicts, lists, scalars) with every string passed through ``mapping``."""
    if isinstance(value, str):
        return mapping(value)
    if isinstance(value, dict):
        return {key: map_strings(item, mapping) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, mapping) for item in value]
    return value


def _swap_in(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through ``write(handle)`` into a file beside it, then atomically replace it."""
    temporary = path.with_name(f".{path.name}.relocating")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def rewrite_metadata_json(path: Path, move: PathMove) -> bool:
    """Map every path in one table-metadata JSON file; False when it named nothing under ``move.old``."""
    document = json.loads(path.read_text())
    mapped = map_strings(document, move.apply)
    if mapped == document:
        return False
    _swap_in(path, lambda handle: handle.write(json.dumps(mapped, separators=(",", ":")).encode()))
    return True


def rewrite_avro(path: Path, move: PathMove) -> bool:
    """Map every path in one manifest or manifest list (a manifest list's ``manifest_length`` is
    set to the size of the manifest it names, which the path rewrite changed); False when unchanged.
    Rewrite manifests before the lists that name them."""
    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        records = list(reader)
        schema = json.loads(reader.metadata["avro.schema"])
        codec = reader.codec
        metadata = {key: value for key, value in reader.metadata.items() if not key.startswith("avro.")}
    mapped = [_with_manifest_length(map_strings(record, move.apply)) for record in records]
    if mapped == records:
        return False
    _swap_in(path, lambda handle: fastavro.writer(handle, schema, mapped, codec=codec, metadata=metadata))
    return True


def _with_manifest_length(record: dict[str, Any]) -> dict[str, Any]:
    manifest = local_path(record["manifest_path"]) if isinstance(record.get("manifest_path"), str) else None
    if manifest is not None and "manifest_length" in record and os.path.exists(manifest):
        return {**record, "manifest_length": os.path.getsize(manifest)}
    return record


def _is_manifest_list(path: Path) -> bool:
    return path.name.startswith("snap-")


def rewrite_table_files(table_dir: Path, move: PathMove) -> int:
    """Rewrite the metadata files of one table (in its copy, under ``move.new``): manifests, then
    manifest lists, then metadata JSON. Returns the number of files changed."""
    metadata = table_dir / _METADATA_DIR
    avro = sorted(metadata.glob("*.avro"), key=_is_manifest_list)  # manifests first
    changed = sum(rewrite_avro(path, move) for path in avro)
    return changed + sum(rewrite_metadata_json(path, move) for path in sorted(metadata.glob("*.metadata.json")))


def _table_rows(catalog: SqlCatalog, name: str) -> list[Any]:
    query = sqlalchemy.select(IcebergTables).where(IcebergTables.catalog_name == name)
    with catalog.engine.connect() as connection:
        return list(connection.execute(query))


def relocate_feature_store(config: FeatureStoreConfig, move: PathMove | None = None) -> FeatureStoreRelocation:
    """Make a copied or moved SQL-catalog feature store record its configured warehouse: ``move``
    (default: detected from the catalog, see :func:`featurestore.catalog.recorded_move`) maps the
    old warehouse onto the configured one. Idempotent; only files under ``move.new`` are written."""
    if config.catalog_type != "sql":
        return FeatureStoreRelocation(move=None, tables=(), files=0)
    catalog = open_catalog(config, check_moved=False)
    assert isinstance(catalog, SqlCatalog)
    move = move or recorded_move(catalog, config)
    if move is None:
        return FeatureStoreRelocation(move=None, tables=(), files=0)
    tables, files = [], 0
    for row in _table_rows(catalog, config.catalog_name):
        old = local_path(row.metadata_location or "")
        if old is None or not is_under(old, move.old):
            continue
        metadata_file = Path(move.new, os.path.relpath(old, move.old))  # <table>/metadata/<version>.metadata.json
        files += rewrite_table_files(metadata_file.parent.parent, move)
        update = (
            sqlalchemy.update(IcebergTables)
            .where(IcebergTables.catalog_name == row.catalog_name, IcebergTables.table_namespace == row.table_namespace,
                   IcebergTables.table_name == row.table_name)
            .values(metadata_location=move.apply(row.metadata_location),
                    previous_metadata_location=move.apply(row.previous_metadata_location or "") or None)
        )
        with catalog.engine.begin() as connection:
            connection.execute(update)
        tables.append(f"{row.table_namespace}.{row.table_name}")
    return FeatureStoreRelocation(move=move, tables=tuple(tables), files=files)
