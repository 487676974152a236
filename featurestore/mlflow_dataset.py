"""A feature-store snapshot as an MLflow dataset, for ``log_input(dataset, context="training")``.

The dataset carries no data: its digest IS the snapshot id, its source names catalog, table and
snapshot, and its schema lists the samples columns, so a run's lineage points at exactly one
immutable table version that :meth:`IcebergSnapshotSource.load` can read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import Array
from sqlalchemy.engine import make_url

from featurestore.catalog import catalog_uri, warehouse_url
from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow, resolve_snapshot
from featurestore.schema import SAMPLES_SCHEMA

_SCALAR_TYPES = {
    pa.string(): DataType.string,
    pa.binary(): DataType.binary,
    pa.int32(): DataType.integer,
    pa.int64(): DataType.long,
}


@dataclass(frozen=True)
class IcebergSnapshotSource(DatasetSource):
    """One snapshot of an Iceberg table in a pyiceberg catalog (passwords in the URI are masked)."""

    catalog_name: str
    catalog_type: str
    catalog_uri: str
    warehouse: str
    namespace: str
    table: str
    errors_table: str
    snapshot_id: int

    @staticmethod
    def _get_source_type() -> str:
        return "iceberg"

    def load(self) -> pa.Table:
        """The snapshot's rows, read through :func:`featurestore.readers.read_arrow`."""
        config = FeatureStoreConfig(
            catalog_uri=self.catalog_uri, catalog_type=self.catalog_type, warehouse=self.warehouse,  # type: ignore[arg-type]
            catalog_name=self.catalog_name, namespace=self.namespace, samples_table=self.table,
            errors_table=self.errors_table,
        )
        return read_arrow(config, self.snapshot_id)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> IcebergSnapshotSource:
        raise NotImplementedError("IcebergSnapshotSource is built by snapshot_dataset, not resolved from a string")

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog_name": self.catalog_name, "catalog_type": self.catalog_type, "catalog_uri": self.catalog_uri,
            "warehouse": self.warehouse, "namespace": self.namespace, "table": self.table,
            "errors_table": self.errors_table, "snapshot_id": self.snapshot_id,
        }

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> IcebergSnapshotSource:
        return cls(**{key: source_dict[key] for key in cls.__dataclass_fields__})


def _column_spec(field: pa.Field) -> ColSpec:
    if pa.types.is_list(field.type):
        column_type: DataType | Array = Array(_SCALAR_TYPES[field.type.value_type])
    else:
        column_type = _SCALAR_TYPES[field.type]
    return ColSpec(type=column_type, name=field.name, required=not field.nullable)


def samples_mlflow_schema() -> Schema:
    """SAMPLES_SCHEMA as an MLflow column schema (lists of ints become integer arrays)."""
    return Schema([_column_spec(field) for field in SAMPLES_SCHEMA])


def snapshot_source(config: FeatureStoreConfig, snapshot_id: int) -> IcebergSnapshotSource:
    """The MLflow dataset source naming ``snapshot_id`` of the configured samples table."""
    uri = catalog_uri(config)
    return IcebergSnapshotSource(
        catalog_name=config.catalog_name,
        catalog_type=config.catalog_type,
        catalog_uri=make_url(uri).render_as_string(hide_password=True) if config.catalog_type == "sql" else uri,
        warehouse=warehouse_url(config),
        namespace=config.namespace,
        table=config.samples_table,
        errors_table=config.errors_table,
        snapshot_id=snapshot_id,
    )


def snapshot_dataset(config: FeatureStoreConfig, snapshot_id: int, name: str | None = None) -> MetaDataset:
    """An MLflow dataset for ``snapshot_id`` of the samples table (digest = the snapshot id).

    ``name`` defaults to ``namespace.table@snapshot_id``. Raises ValueError for an unknown
    snapshot id.
    """
    snapshot_id = resolve_snapshot(config, snapshot_id)
    return MetaDataset(
        source=snapshot_source(config, snapshot_id),
        name=name or f"{config.samples_identifier}@{snapshot_id}",
        digest=str(snapshot_id),
        schema=samples_mlflow_schema(),
    )
