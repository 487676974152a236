"""Typed configuration of the feature store: which Iceberg catalog, warehouse and tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROPERTY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

CATALOG_KEYS = ("name", "type", "uri", "warehouse")
"""Catalog properties set from the other fields; ``io_properties`` may not override them."""


@dataclass(frozen=True)
class FeatureStoreConfig:
    """Where the samples and errors Iceberg tables live.

    The default is an embedded SQLite catalog and a local warehouse (no server); at scale
    ``catalog_type="rest"`` points at an Iceberg REST catalog and ``warehouse`` at object
    storage (``gs://bucket/path``). Relative local paths are resolved against the working
    directory when the catalog is opened (see :mod:`featurestore.catalog`).
    """

    catalog_uri: str = "sqlite:///mmsr-runs/featurestore/catalog.db"
    """SQLAlchemy URL of the SQL catalog (``sqlite:///relative.db``, ``sqlite:////abs.db``) or REST endpoint."""
    catalog_type: Literal["sql", "rest"] = "sql"
    warehouse: str = "mmsr-runs/featurestore/warehouse"
    """Local directory or fsspec URL (``gs://bucket/path``) under which table data and staging live."""
    catalog_name: str = "mmsr"
    namespace: str = "mmsr"
    samples_table: str = "samples"
    errors_table: str = "errors"
    io_properties: tuple[tuple[str, str], ...] = ()
    """Extra pyiceberg catalog / FileIO properties as ``(key, value)`` pairs, e.g. a ``gs://``
    warehouse on a custom endpoint: ``("gcs.service.host", "http://127.0.0.1:9023")``,
    ``("gcs.project-id", "my-project")``, ``("gcs.oauth2.token", "anon")``, or another FileIO with
    ``("py-io-impl", "pyiceberg.io.fsspec.FsspecFileIO")``. In YAML a list of ``[key, value]``
    pairs. Only pyiceberg reads them: gcsfs (staging, the Beam job) takes its endpoint and
    credentials from the environment (``STORAGE_EMULATOR_HOST``, Application Default Credentials)."""

    def __post_init__(self) -> None:
        if self.catalog_type not in ("sql", "rest"):
            raise ValueError(f"catalog_type must be 'sql' or 'rest', got {self.catalog_type!r}")
        if self.catalog_type == "sql" and "://" not in self.catalog_uri:
            raise ValueError(f"catalog_uri must be a SQLAlchemy URL such as sqlite:///path.db, got {self.catalog_uri!r}")
        if self.catalog_type == "sql" and ":memory:" in self.catalog_uri:
            raise ValueError("catalog_uri must name a database file: an in-memory SQLite catalog is not shared")
        if self.catalog_type == "rest" and not self.catalog_uri.startswith(("http://", "https://")):
            raise ValueError(f"catalog_uri must be an http(s):// URL for catalog_type 'rest', got {self.catalog_uri!r}")
        if not self.warehouse.strip():
            raise ValueError("warehouse must be a local directory or an fsspec URL, got an empty string")
        for name in ("catalog_name", "namespace", "samples_table", "errors_table"):
            value = getattr(self, name)
            if not _IDENTIFIER.fullmatch(value):
                raise ValueError(f"{name} must be an identifier (letters, digits, underscore), got {value!r}")
        if self.samples_table == self.errors_table:
            raise ValueError(f"errors_table must differ from samples_table, both are {self.samples_table!r}")
        self._check_io_properties()

    def _check_io_properties(self) -> None:
        keys = [key for key, _ in self.io_properties]
        for key in keys:
            if not _PROPERTY_KEY.fullmatch(key):
                raise ValueError(f"io_properties keys must be property names such as 'gcs.service.host', got {key!r}")
            if key in CATALOG_KEYS:
                raise ValueError(f"io_properties must not set {key!r}: it comes from the config field of that name")
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"io_properties sets {repeated} more than once")

    @property
    def samples_identifier(self) -> str:
        """``namespace.samples_table``, the samples table's catalog identifier."""
        return f"{self.namespace}.{self.samples_table}"

    @property
    def errors_identifier(self) -> str:
        """``namespace.errors_table``, the errors table's catalog identifier."""
        return f"{self.namespace}.{self.errors_table}"
